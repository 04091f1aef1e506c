"""ftlib.peft_checks: the LoRA mistakes peft lets through get a clear error; correct use does what peft does."""

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from ftlib.models import count_parameters, tiny_llama
from ftlib.peft_checks import AdapterMismatchError, check_lora_config, load_adapter, lora_model


@pytest.fixture
def tiny(smoke):
    return tiny_llama(len(smoke[1]), seed=0)


def test_a_typo_in_one_target_is_caught(tiny):
    config = LoraConfig(r=4, target_modules=["q_proj", "value_proj"])
    quiet = get_peft_model(tiny_llama(tiny.config.vocab_size), config)  # peft: no error, q_proj only
    assert count_parameters(quiet).trainable == 2 * 4 * (64 + 64)
    with pytest.raises(ValueError, match=r"\['value_proj'\] match no linear layer.*'v_proj'"):
        lora_model(tiny, config)


def test_a_string_target_is_explained(tiny):
    with pytest.raises(TypeError, match="regular expression"):
        lora_model(tiny, LoraConfig(r=4, target_modules="q_proj"))
    assert count_parameters(lora_model(tiny, LoraConfig(r=4, target_modules="all-linear"))).trainable > 0


def test_full_names_and_peft_wrapped_models_pass(tiny):
    check_lora_config(tiny, LoraConfig(r=4, target_modules=["model.layers.0.self_attn.q_proj"]))
    wrapped = get_peft_model(tiny, LoraConfig(r=4, target_modules=["q_proj"]))
    check_lora_config(wrapped, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))


def test_rank_below_one(tiny):
    for r in (0, -2):
        with pytest.raises(ValueError, match="integer >= 1"):
            check_lora_config(tiny, LoraConfig(r=r, target_modules=["q_proj"]))


def test_same_model_as_get_peft_model(tiny):
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    torch.manual_seed(0)
    ours = lora_model(tiny_llama(tiny.config.vocab_size), config)
    torch.manual_seed(0)
    theirs = get_peft_model(tiny_llama(tiny.config.vocab_size), config)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_load_adapter_round_trip_and_second_adapter(tiny, tmp_path):
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # B random: not a no-op
    trained = get_peft_model(tiny, config)
    trained.save_pretrained(tmp_path / "a")
    ids = torch.tensor([[1, 5, 9, 11]])
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
    loaded = load_adapter(tiny_llama(tiny.config.vocab_size, seed=0), tmp_path / "a")
    assert isinstance(loaded, PeftModel)
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected, rtol=0, atol=0)
    same = load_adapter(loaded, tmp_path / "a", adapter_name="second")
    assert same is loaded and set(loaded.peft_config) == {"default", "second"}


def test_missing_adapter_folder(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder.*Hugging Face Hub"):
        load_adapter(tiny, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no adapter_config.json"):
        load_adapter(tiny, tmp_path / "empty")


def test_adapter_of_another_shape(tiny, tmp_path):
    get_peft_model(tiny, LoraConfig(r=4, target_modules=["q_proj"])).save_pretrained(tmp_path / "a")
    wider = LlamaForCausalLM(LlamaConfig(vocab_size=tiny.config.vocab_size, hidden_size=96, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    with pytest.raises(AdapterMismatchError, match="q_proj has 64 inputs; this model's has 96"):
        load_adapter(wider, tmp_path / "a")
    with pytest.raises(RuntimeError, match="size mismatch"):  # what peft says on its own
        PeftModel.from_pretrained(wider, str(tmp_path / "a"))
    shallower = LlamaForCausalLM(LlamaConfig(vocab_size=tiny.config.vocab_size, hidden_size=64,
                                             intermediate_size=128, num_hidden_layers=1,
                                             num_attention_heads=4, num_key_value_heads=2))
    with pytest.raises(AdapterMismatchError, match="does not have"):
        load_adapter(shallower, tmp_path / "a")
    assert json.loads((tmp_path / "a" / "adapter_config.json").read_text())["r"] == 4
