"""ftlib.memory: the training-memory calculator, checked against parameter counts and saved activations."""

import pytest
import torch

from ftlib.memory import (
    GPU_SIZES_GIB,
    MODELS,
    MemoryBreakdown,
    ModelShape,
    activation_bytes,
    lora_parameters,
    memory_table,
    training_memory,
)

GIB = 2**30


@pytest.mark.parametrize(
    "name, published",
    [
        ("SmolLM2-135M", 134_515_008),  # counted by ftlib.models.count_parameters in chapter 4
        ("SmolLM2-1.7B", 1_711_376_384),
        ("Llama-3.1-8B", 8_030_261_248),
        ("Llama-3.1-70B", 70_553_706_496),
        ("LLaMA-65B", 65_285_660_672),
    ],
)
def test_parameter_counts(name, published):
    assert MODELS[name].n_params == published


def test_shape_from_config_matches_the_smoke_model(smoke):
    model, _ = smoke
    shape = ModelShape.from_config(model.config, "smoke")
    assert shape.n_params == sum(p.numel() for p in model.parameters())
    assert shape.tied_embeddings and shape.head_dim == 16


def test_lora_parameter_count_matches_ftlib_lora():
    from ftlib.lora import add_lora
    from ftlib.models import load_model
    from ftlib.profile import get_profile

    model, _ = load_model(get_profile("smoke"))
    shape = ModelShape.from_config(model.config)
    add_lora(model, ["q_proj", "v_proj", "down_proj"], r=4)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_parameters(shape, 4, ["q_proj", "v_proj", "down_proj"]) == trained
    assert lora_parameters(MODELS["SmolLM2-135M"], 8) == 2_442_240  # chapter 6's count
    with pytest.raises(ValueError, match="unknown target"):
        lora_parameters(shape, 4, ["qkv"])
    with pytest.raises(ValueError, match="rank"):
        lora_parameters(shape, 0)


@pytest.mark.parametrize("batch_size, seq_len", [(1, 16), (2, 40), (3, 25)])
def test_activation_count_equals_what_autograd_saves(smoke, batch_size, seq_len):
    """The forward pass's saved tensors, counted by chapter 4's hooks, without padding (flash-style attention)."""
    from ftlib.measure import saved_activation_bytes

    model, _ = smoke
    shape = ModelShape.from_config(model.config)
    ids = torch.randint(0, shape.vocab, (batch_size, seq_len), generator=torch.Generator().manual_seed(0))
    model.requires_grad_(True)
    try:
        saved = saved_activation_bytes(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    finally:
        model.requires_grad_(False)
    assert activation_bytes(shape, batch_size, seq_len, 4, include_loss=False) == saved


def test_activation_count_with_a_padding_mask(smoke):
    from ftlib.measure import saved_activation_bytes

    model, _ = smoke
    shape = ModelShape.from_config(model.config)
    ids = torch.randint(0, shape.vocab, (2, 30), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    model.requires_grad_(True)
    try:
        saved = saved_activation_bytes(model, {"input_ids": ids, "attention_mask": mask})
    finally:
        model.requires_grad_(False)
    assert activation_bytes(shape, 2, 30, 4, attention="masked", include_loss=False) == saved


@pytest.mark.parametrize("padded", [False, True])
def test_activation_count_with_a_frozen_base_and_lora(padded):
    from ftlib.lora import add_lora
    from ftlib.measure import saved_activation_bytes
    from ftlib.models import load_model
    from ftlib.profile import get_profile

    model, _ = load_model(get_profile("smoke"))
    shape = ModelShape.from_config(model.config)
    add_lora(model, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], r=4)
    ids = torch.randint(0, shape.vocab, (3, 20), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    if padded:
        mask[1, :5] = 0
    saved = saved_activation_bytes(model, {"input_ids": ids, "attention_mask": mask})
    predicted = activation_bytes(shape, 3, 20, 4, attention="masked" if padded else "flash", lora_r=4,
                                 frozen_base=True, include_loss=False)
    assert predicted == saved


def test_full_fine_tuning_costs_16_bytes_per_parameter_before_activations():
    shape = MODELS["SmolLM2-135M"]
    for precision in ["fp32", "bf16-mixed"]:
        m = training_memory(shape, "full", precision=precision)
        assert m.weights + m.gradients + m.optimizer == 16 * shape.n_params
    pure = training_memory(shape, "full", precision="bf16")
    assert pure.weights + pure.gradients + pure.optimizer == 12 * shape.n_params


def test_lora_and_qlora_shrink_the_right_parts():
    shape = MODELS["Llama-3.1-8B"]
    full = training_memory(shape, "full")
    lora = training_memory(shape, "lora", r=16)
    qlora = training_memory(shape, "qlora", r=16)
    assert lora.trainable == qlora.trainable == lora_parameters(shape, 16)
    assert lora.gradients == qlora.gradients < full.gradients / 100
    assert qlora.weights < lora.weights / 2.5  # the 16-bit embeddings stay
    linear_4bit = shape.linear_params * 4.127 / 8
    rest = (shape.n_params - shape.linear_params) * 2
    assert qlora.weights == pytest.approx(linear_4bit + rest + qlora.trainable * 2, rel=1e-6)
    assert qlora.activations == lora.activations < full.activations  # a frozen base keeps less


def test_gradient_checkpointing_keeps_one_input_per_block():
    shape = MODELS["SmolLM2-1.7B"]
    plain = activation_bytes(shape, 4, 512, 2)
    ckpt = activation_bytes(shape, 4, 512, 2, gradient_checkpointing=True)
    assert ckpt < plain / 3  # the logits and the loss are not checkpointed
    assert ckpt > 4 * 512 * shape.n_layers * shape.hidden * 2


def test_zero_stages_shard_optimizer_then_gradients_then_weights():
    shape = MODELS["Llama-3.1-8B"]
    base = training_memory(shape, "full", zero_stage=0, n_gpus=8)
    z1, z2, z3 = (training_memory(shape, "full", zero_stage=s, n_gpus=8) for s in (1, 2, 3))
    assert base == training_memory(shape, "full")
    assert z1.optimizer == -(-base.optimizer // 8) and z1.gradients == base.gradients
    assert z2.gradients == -(-base.gradients // 8) and z2.weights == base.weights
    assert z3.weights == -(-base.weights // 8) and z3.activations == base.activations


def test_breakdown_and_table():
    m = MemoryBreakdown(GIB, GIB, 2 * GIB, GIB // 2)
    assert m.gib == 4.5 and m.fits(4.5) and not m.fits(4)
    assert "total 4.50 GiB" in str(m)
    rows = memory_table([MODELS["SmolLM2-135M"]], batch_size=1, seq_len=128)
    assert [r["method"] for r in rows] == ["full", "lora", "qlora"]
    assert all(r["16 GiB"] for r in rows) and set(f"{g:g} GiB" for g in GPU_SIZES_GIB) <= set(rows[0])


def test_bad_arguments_are_refused():
    shape = MODELS["SmolLM2-135M"]
    for kwargs, match in [
        ({"method": "prefix"}, "method"),
        ({"precision": "fp8"}, "precision"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"zero_stage": 4}, "zero_stage"),
        ({"n_gpus": 0}, "n_gpus"),
        ({"attention": "eager"}, "attention"),
    ]:
        with pytest.raises(ValueError, match=match):
            training_memory(shape, **kwargs)
    with pytest.raises(ValueError, match="batch_size"):
        activation_bytes(shape, 0, 10)
