import json

import pytest
import torch

from ftlib import models
from ftlib.models import (
    HUB_ID,
    ModelMissingError,
    ParamCount,
    check_model,
    count_parameters,
    find_gguf,
    load_model,
    offline_model_dir,
    prepare,
    tiny_llama,
)
from ftlib.profile import get_profile


def test_offline_model_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLIB_MODELS", str(tmp_path))
    assert offline_model_dir() == tmp_path / "smollm2-135m-instruct"


def test_missing_model_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLIB_MODELS", str(tmp_path))
    with pytest.raises(ModelMissingError, match="make model"):
        load_model(get_profile("cpu"))


def test_smoke_model_is_tiny_with_the_real_tokenizer(smoke):
    model, tokenizer = smoke
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert model.config.vocab_size == len(tokenizer) == 49152
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert not model.training


def test_tiny_llama_is_seeded():
    a, b, c = tiny_llama(100, seed=0), tiny_llama(100, seed=0), tiny_llama(100, seed=1)
    assert torch.equal(a.lm_head.weight, b.lm_head.weight)
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)


def test_count_parameters():
    layer = torch.nn.Linear(3, 2)  # 3*2 weights + 2 biases
    assert count_parameters(layer) == ParamCount(8, 8)
    layer.bias.requires_grad_(False)
    count = count_parameters(layer)
    assert count == (6, 8) and count.fraction == 0.75 and "75.000%" in str(count)


def test_count_parameters_counts_tied_weights_once():
    model = tiny_llama(100)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    unique = {id(p): p.numel() for p in model.parameters()}
    assert count_parameters(model).total == sum(unique.values())
    assert count_parameters(model).total < sum(p.numel() for p in model.state_dict().values())


def test_prepared_model_passed_its_check():
    """`make model` ran prepare(): convert_gguf + check_model. Its record says what it found."""
    info = json.loads((offline_model_dir() / models.MARKER).read_text())
    assert info["parameters"] == 134_515_008
    assert "paris" in info["check"]["answer"].lower()
    assert (offline_model_dir() / "model.safetensors").is_file()


def test_prepare_is_idempotent(tmp_path, capsys, monkeypatch):
    (tmp_path / models.MARKER).write_text("{}")
    monkeypatch.setattr(models, "convert_gguf", lambda *a: pytest.fail("must not convert again"))
    assert prepare(tmp_path) == tmp_path
    models.main(["prepare", "--out", str(tmp_path)])
    assert capsys.readouterr().out.count("offline model ready") == 2


def test_find_gguf():
    path = find_gguf()
    assert path.name == models.GGUF_FILE and path.stat().st_size > 50_000_000


def test_check_model_passes_on_the_real_model(real):
    assert "paris" in check_model(*real).lower()


def test_check_model_rejects_a_random_model(smoke):
    with pytest.raises(RuntimeError, match="model check failed"):
        check_model(*smoke)


def test_gpu_profile_names_the_hub_model():
    assert get_profile("gpu").dtype == torch.bfloat16 and HUB_ID == "HuggingFaceTB/SmolLM2-135M-Instruct"


def _gpu_on_cpu():
    """The gpu profile's choices, placed on the CPU so that the test runs without CUDA."""
    import dataclasses

    from ftlib.profile import get_profile

    return dataclasses.replace(get_profile("gpu"), device="cpu", dtype=torch.float32)


def test_gpu_profile_reads_a_local_folder_from_ftlib_model_dir(monkeypatch):
    from ftlib.models import gpu_model_source, load_model, offline_model_dir
    from ftlib.profile import get_profile

    monkeypatch.delenv("FTLIB_MODEL_DIR", raising=False)
    assert gpu_model_source() == "HuggingFaceTB/SmolLM2-135M-Instruct"
    monkeypatch.setenv("FTLIB_MODEL_DIR", str(offline_model_dir()))
    assert "FTLIB_MODEL_DIR" in get_profile("gpu").model_name  # the banner says where the model came from
    model, tokenizer = load_model(_gpu_on_cpu())
    reference = load_model(get_profile("cpu"))[0]
    name = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(model.state_dict()[name], reference.state_dict()[name])
    assert tokenizer.chat_template


def test_gpu_profile_random_mode_has_smollm2s_shape_and_random_weights(monkeypatch):
    from ftlib.models import count_parameters, load_model
    from ftlib.profile import get_profile

    monkeypatch.setenv("FTLIB_MODEL_DIR", "random")
    model, tokenizer = load_model(_gpu_on_cpu())
    again = load_model(_gpu_on_cpu())[0]
    monkeypatch.delenv("FTLIB_MODEL_DIR")  # the cpu profile follows it too
    reference = load_model(get_profile("cpu"))[0]
    assert model.config.num_hidden_layers == reference.config.num_hidden_layers
    assert count_parameters(model).total == count_parameters(reference).total
    name = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(model.state_dict()[name], reference.state_dict()[name])
    assert torch.equal(model.state_dict()[name], again.state_dict()[name])  # seeded: two loads agree
    assert len(tokenizer) == reference.config.vocab_size


def test_ftlib_model_dir_that_is_not_a_model_folder(monkeypatch, tmp_path):
    from ftlib.models import gpu_model_source

    monkeypatch.setenv("FTLIB_MODEL_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="config.json"):
        gpu_model_source()



def test_ftlib_model_dir_replaces_the_cpu_profiles_model_and_not_smokes(monkeypatch):
    """FTLIB_MODEL_DIR=random on the cpu profile: what `tools/run_gpu_profile.py --discover` runs chapters with."""
    from transformers import AutoModelForSequenceClassification

    from ftlib.models import load_pretrained, model_source, offline_model_dir
    from ftlib.profile import banner

    name = "model.layers.0.mlp.up_proj.weight"
    reference = load_model(get_profile("cpu"))[0].state_dict()[name]
    monkeypatch.setenv("FTLIB_MODEL_DIR", "random")
    cpu = get_profile("cpu")
    assert model_source(cpu) == "random" and "random (FTLIB_MODEL_DIR)" in banner(cpu)  # the banner says so
    model, tokenizer = load_model(cpu)
    weight = model.state_dict()[name]
    assert weight.shape == reference.shape and not torch.equal(weight, reference)
    assert len(tokenizer) == model.config.vocab_size and model.dtype == torch.float32
    classifier = load_pretrained(AutoModelForSequenceClassification, cpu, num_labels=3)  # chapter 9's head
    assert classifier.score.out_features == 3 and torch.equal(classifier.state_dict()[name], weight)  # same seed
    smoke = get_profile("smoke")  # the smoke profile ignores the variable
    assert "FTLIB_MODEL_DIR" not in smoke.model_name and model_source(smoke) == str(offline_model_dir())
    assert load_model(smoke)[0].config.hidden_size == 64
