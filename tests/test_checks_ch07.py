"""Chapter 7's exercise checks: right answers pass, common wrong ones get a hint, the references match peft."""

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM

from ftlib.checks.ch07 import _paired_cases, dora_reference, smollm2_dora_mlp_parameters
from ftlib.exercises import check
from ftlib.models import count_parameters, offline_model_dir
from ftlib.stats import paired_bootstrap


def test_7_1_count_matches_peft_on_smollm2():
    """Build SmolLM2-135M's shape on the meta device (no weights) and let peft count."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(offline_model_dir()))
    config = LoraConfig(r=4, target_modules=["gate_proj", "up_proj", "down_proj"], use_dora=True)
    assert count_parameters(get_peft_model(model, config)).trainable == smollm2_dora_mlp_parameters(4)
    assert check("7.1", smollm2_dora_mlp_parameters(4))
    assert not check("7.1", 4 * 30 * 6336)  # A and B only


def test_7_2_reference_is_peft_dora():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(7, 5, bias=False))
    peft_model = get_peft_model(layer, LoraConfig(r=3, lora_alpha=6, target_modules=["0"], use_dora=True,
                                                  init_lora_weights=False))  # fmt: skip
    lora = peft_model.base_model.model[0]
    with torch.no_grad():
        lora.lora_magnitude_vector["default"].weight.mul_(torch.linspace(0.5, 1.5, 5))  # not the initial norm
    x = torch.randn(2, 4, 7)
    W, A, B = lora.base_layer.weight, lora.lora_A["default"].weight, lora.lora_B["default"].weight
    m = lora.lora_magnitude_vector["default"].weight
    with torch.no_grad():
        torch.testing.assert_close(peft_model(x), dora_reference(x, W, A, B, m, 2.0), rtol=1e-5, atol=1e-6)

    def dora_forward(x, W, A, B, m, scaling):
        V = W + scaling * B @ A
        return (x @ V.T) * (m / torch.linalg.norm(V, dim=1))

    assert check("7.2", dora_forward)
    assert not check("7.2", lambda x, W, A, B, m, s: x @ (W + s * B @ A).T)  # plain LoRA
    assert not check("7.2", lambda x, W, A, B, m, s: (x @ (W + s * B @ A).T) * (m / torch.linalg.norm(W, dim=1)))


def test_7_3_cases_are_clear_and_the_paired_answer_passes():
    for a, b, expected in _paired_cases():
        interval = paired_bootstrap(a, b)
        decided = "a" if interval.low > 0.01 else "b" if interval.high < -0.01 else "neither"
        assert decided == expected and (expected != "neither" or interval.low < -0.02 < 0.02 < interval.high)

    def better_adapter(a, b):
        interval = paired_bootstrap(a, b)
        return "a" if interval.low > 0 else "b" if interval.high < 0 else "neither"

    def unpaired(a, b):  # separate Wilson-like intervals: misses the paired win
        n = len(a)
        pa, pb = sum(a) / n, sum(b) / n
        half = 1.96 * math.sqrt(pa * (1 - pa) / n) + 1.96 * math.sqrt(pb * (1 - pb) / n)
        return "a" if pa - pb > half else "b" if pb - pa > half else "neither"

    assert check("7.3", better_adapter)
    assert not check("7.3", unpaired)
    assert not check("7.3", lambda a, b: "a" if sum(a) > sum(b) else "b")
