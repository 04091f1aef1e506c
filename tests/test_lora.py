import math

import pytest
import torch
from safetensors.torch import load_file

from ftlib.lora import (
    LoRALinear,
    add_lora,
    load_lora,
    lora_layers,
    lora_state_dict,
    merge_lora,
    save_lora,
    to_peft_state_dict,
    unmerge_lora,
)
from ftlib.models import count_parameters, tiny_llama

TARGETS = ["q_proj", "v_proj"]


@pytest.fixture
def vocab(smoke):
    _, tokenizer = smoke
    return len(tokenizer)


@pytest.fixture
def input_ids(smoke):
    _, tokenizer = smoke
    texts = ["Date: 1 May 2000 -> 2000-05-01", "Date: 12/25/2010"]
    return tokenizer(texts, return_tensors="pt", padding=True).input_ids


def randomize_lora(model: torch.nn.Module, seed: int = 1) -> None:
    """Give every lora_A and lora_B random values, so that the update is not zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in lora_state_dict(model).values():
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)


@torch.no_grad()
def logits(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return model.eval()(input_ids=input_ids).logits


def test_lora_linear_starts_as_the_base_layer():
    torch.manual_seed(0)
    base = torch.nn.Linear(16, 12)
    layer = LoRALinear(base, r=4, lora_alpha=8)
    x = torch.randn(3, 5, 16)
    assert torch.equal(layer(x), base(x))
    assert layer.base_layer is base and not any(p.requires_grad for p in base.parameters())
    assert layer.lora_A.weight.shape == (4, 16) and layer.lora_B.weight.shape == (12, 4)
    assert layer.lora_A.bias is None and layer.lora_B.bias is None
    assert layer.lora_A.weight.abs().sum() > 0 and torch.all(layer.lora_B.weight == 0)
    assert isinstance(layer.lora_dropout, torch.nn.Identity)
    assert isinstance(LoRALinear(torch.nn.Linear(4, 4), lora_dropout=0.1).lora_dropout, torch.nn.Dropout)


def test_scaling_plain_and_rslora():
    assert LoRALinear(torch.nn.Linear(8, 8), r=4, lora_alpha=16).scaling == 4.0
    assert LoRALinear(torch.nn.Linear(8, 8), r=4, lora_alpha=16, use_rslora=True).scaling == 8.0
    rank_8 = LoRALinear(torch.nn.Linear(8, 8), r=8, lora_alpha=16, use_rslora=True)
    assert rank_8.scaling == pytest.approx(16 / math.sqrt(8))


def test_lora_linear_refuses_bad_input():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(torch.nn.Embedding(10, 4))
    for r in (0, -1, 2.0):
        with pytest.raises(ValueError, match="r must be an integer >= 1"):
            LoRALinear(torch.nn.Linear(4, 4), r=r)
    with pytest.raises(ValueError, match="lora_dropout"):
        LoRALinear(torch.nn.Linear(4, 4), lora_dropout=1.0)


def test_delta_weight_is_the_update_forward_adds():
    torch.manual_seed(0)
    layer = LoRALinear(torch.nn.Linear(16, 12), r=4, lora_alpha=8)
    torch.nn.init.normal_(layer.lora_B.weight)
    x = torch.randn(5, 16)
    delta = layer.delta_weight()
    assert delta.shape == (12, 16)
    torch.testing.assert_close(layer(x) - layer.base_layer(x), x @ delta.T, atol=1e-5, rtol=1e-5)


def test_add_lora_trains_only_the_adapters_and_keeps_the_outputs(vocab, input_ids):
    model = tiny_llama(vocab, seed=0)
    before = logits(model, input_ids)
    total_before = count_parameters(model).total
    names = add_lora(model, TARGETS, r=4, lora_alpha=8)
    assert names == list(lora_layers(model))
    assert len(names) == 2 * model.config.num_hidden_layers
    assert all(name.rsplit(".", 1)[-1] in TARGETS for name in names)
    linears = [layer.base_layer for layer in lora_layers(model).values()]
    expected = sum(4 * (lin.in_features + lin.out_features) for lin in linears)
    count = count_parameters(model)
    assert count.trainable == expected and count.total == total_before + expected
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora_{m}.weight" for n in names for m in "AB"}
    assert torch.equal(logits(model, input_ids), before)  # B = 0: the model computes what it did


def test_add_lora_refuses_bad_targets(vocab):
    model = tiny_llama(vocab, seed=0)
    with pytest.raises(ValueError, match="'query' matches no module.*'value' matches no"):
        add_lora(model, ["query", "value"])
    with pytest.raises(ValueError, match="'self_attn' matches .*LlamaAttention.*not nn.Linear"):
        add_lora(model, ["self_attn"])  # matches a module, but not a linear one
    with pytest.raises(ValueError, match="empty"):
        add_lora(model, [])
    with pytest.raises(TypeError, match="list of names"):
        add_lora(model, "q_proj")
    assert all(p.requires_grad for p in model.parameters())  # a refused call changes nothing
    add_lora(model, TARGETS)
    with pytest.raises(ValueError, match="already has LoRA"):
        add_lora(model, TARGETS)


def test_add_lora_refuses_a_list_with_one_unmatched_name_and_changes_nothing(vocab):
    model = tiny_llama(vocab, seed=0)
    with pytest.raises(ValueError, match=r"'q_prj' matches no module \(a typo\?\)") as info:
        add_lora(model, ["q_proj", "q_prj", "v_proj"])  # two good names, one typo
    assert "q_proj'" not in str(info.value)  # only the unmatched name is named
    assert not lora_layers(model)  # nothing was wrapped
    assert all(p.requires_grad for p in model.parameters())


def test_add_lora_names_gpt2_conv1d_as_unsupported():
    from transformers.pytorch_utils import Conv1D

    class Block(torch.nn.Module):  # GPT-2's attention: c_attn and c_proj are Conv1D, not Linear
        def __init__(self):
            super().__init__()
            self.c_attn = Conv1D(3 * 16, 16)
            self.c_proj = Conv1D(16, 16)
            self.q_proj = torch.nn.Linear(16, 16)

    model = torch.nn.Sequential(Block(), Block())
    with pytest.raises(ValueError, match=r"'c_attn' matches \['Conv1D'\].*fan_in_fan_out"):
        add_lora(model, ["q_proj", "c_attn"])
    assert not lora_layers(model)
    assert add_lora(model, ["q_proj"]) == ["0.q_proj", "1.q_proj"]


def test_merge_matches_unmerged_and_unmerge_restores(vocab, input_ids):
    model = tiny_llama(vocab, seed=0)
    base = logits(model, input_ids)
    add_lora(model, TARGETS, r=4, lora_alpha=8)
    randomize_lora(model)
    layers = lora_layers(model)
    weights = {name: layer.base_layer.weight.clone() for name, layer in layers.items()}
    unmerged = logits(model, input_ids)
    assert not torch.allclose(unmerged, base, atol=1e-3)  # the update is not negligible
    assert merge_lora(model) == len(layers)
    assert all(layer.merged for layer in layers.values())
    torch.testing.assert_close(logits(model, input_ids), unmerged, atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match="already merged"):
        merge_lora(model)
    with pytest.raises(RuntimeError, match="already merged"):
        next(iter(layers.values())).merge()
    assert unmerge_lora(model) == len(layers)
    for name, layer in layers.items():
        torch.testing.assert_close(layer.base_layer.weight, weights[name], atol=1e-6, rtol=0)
    with pytest.raises(RuntimeError, match="not merged"):
        unmerge_lora(model)
    with pytest.raises(ValueError, match="no LoRA layers"):
        merge_lora(tiny_llama(vocab))


def test_save_and_load_round_trip(vocab, tmp_path):
    model = tiny_llama(vocab, seed=0)
    names = add_lora(model, TARGETS, r=4)
    randomize_lora(model)
    path = save_lora(model, tmp_path / "adapter" / "lora.safetensors")
    assert path.is_file()
    saved = load_file(str(path))
    assert set(saved) == {f"{n}.lora_{m}.weight" for n in names for m in "AB"}  # the adapter, nothing else

    other = tiny_llama(vocab, seed=0)
    add_lora(other, TARGETS, r=4)
    load_lora(other, path)
    mine, theirs = lora_state_dict(model), lora_state_dict(other)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)

    wrong_rank = tiny_llama(vocab, seed=0)
    add_lora(wrong_rank, TARGETS, r=2)
    with pytest.raises(ValueError, match="shape"):
        load_lora(wrong_rank, path)
    wrong_targets = tiny_llama(vocab, seed=0)
    add_lora(wrong_targets, ["q_proj"], r=4)
    with pytest.raises(ValueError, match="unexpected"):
        load_lora(wrong_targets, path)
    with pytest.raises(ValueError, match="no LoRA layers"):
        load_lora(tiny_llama(vocab), path)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
@pytest.mark.parametrize("use_rslora", [False, True])
def test_same_logits_as_peft(vocab, input_ids, use_rslora):
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    ours = tiny_llama(vocab, seed=0)
    add_lora(ours, TARGETS, r=4, lora_alpha=8, use_rslora=use_rslora)
    randomize_lora(ours)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0, use_rslora=use_rslora)
    peft_model = get_peft_model(tiny_llama(vocab, seed=0), config)

    state = to_peft_state_dict(ours)
    assert state.keys() == {k for k in peft_model.state_dict() if ".lora_" in k}
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" in state
    result = peft_model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert to_peft_state_dict(ours, adapter_name=None).keys() == get_peft_model_state_dict(peft_model).keys()

    expected = logits(ours, input_ids)
    torch.testing.assert_close(logits(peft_model, input_ids), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(logits(tiny_llama(vocab, seed=0), input_ids), expected, atol=1e-3)  # the adapter matters


def test_a_training_step_changes_only_lora_weights(vocab, input_ids):
    model = tiny_llama(vocab, seed=0)
    add_lora(model, TARGETS, r=4, lora_alpha=8)
    frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
    lora = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()

    def step() -> None:
        model(input_ids=input_ids, labels=input_ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    params = dict(model.named_parameters())
    assert all(params[name].grad is None and torch.equal(params[name], value) for name, value in frozen.items())
    # B starts at 0, so the first step's gradient of A is 0: only B moves.
    assert all(not torch.equal(params[name], value) for name, value in lora.items() if ".lora_B." in name)
    assert all(torch.equal(params[name], value) for name, value in lora.items() if ".lora_A." in name)
    step()
    assert all(not torch.equal(params[name], value) for name, value in lora.items())
    assert all(torch.equal(params[name], value) for name, value in frozen.items())


def test_chapter_6_cells_hold_the_same_code_as_the_module():
    import inspect
    import json
    from pathlib import Path

    from ftlib.lora import LoRALinear, add_lora

    notebook = Path(__file__).resolve().parents[1] / "chapters" / "06_lora_from_scratch.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for obj in (LoRALinear, add_lora):
        assert inspect.getsource(obj).strip() in code, f"chapter 6's cell for {obj.__name__} differs from ftlib.lora"
