"""Chapter 8's exercise checks: right answers pass, common wrong ones get a hint, the references match peft."""

import peft
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from ftlib.checks.ch08 import _pick_cases, ia3_reference, pick_reference, smollm2_prefix_parameters
from ftlib.exercises import check
from ftlib.models import count_parameters, offline_model_dir


def test_8_1_count_matches_peft_on_smollm2():
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(offline_model_dir()))
    config = peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=30)
    assert count_parameters(peft.get_peft_model(model, config)).trainable == smollm2_prefix_parameters(30)
    assert check("8.1", smollm2_prefix_parameters(30))
    assert not check("8.1", 2 * 30 * 30 * 576)  # the hidden size instead of the key width
    assert not check("8.1", 30 * 576)  # prompt tuning's count


def test_8_2_reference_is_peft_ia3():
    torch.manual_seed(0)
    for feedforward in (False, True):
        layer = torch.nn.Sequential(torch.nn.Linear(7, 5, bias=False))
        config = peft.IA3Config(target_modules=["0"], feedforward_modules=["0"] if feedforward else [],
                                init_ia3_weights=False)  # random scales, not ones
        model = peft.get_peft_model(layer, config)
        ia3 = model.base_model.model[0]
        x = torch.randn(2, 3, 7)
        scale = ia3.ia3_l["default"].flatten()
        with torch.no_grad():
            torch.testing.assert_close(model(x), ia3_reference(x, ia3.base_layer.weight, scale, feedforward))

    def ia3_forward(x, W, scale, feedforward):
        return (x * scale) @ W.T if feedforward else (x @ W.T) * scale

    assert check("8.2", ia3_forward)
    assert not check("8.2", lambda x, W, s, ff: (x @ W.T) * s if not ff else (x @ W.T) * s.sum())
    assert not check("8.2", lambda x, W, s, ff: x @ W.T)


def test_8_3_reference_passes_and_ignoring_a_budget_fails():
    assert check("8.3", pick_reference)
    for table, max_file, max_slow, expected in _pick_cases():
        assert pick_reference(table, max_file, max_slow) == expected
    assert not check("8.3", lambda t, f, s: max(t, key=lambda k: t[k]["exact_match"]))  # no budget at all
    assert not check("8.3", lambda t, f, s: max((k for k in t if t[k]["file_mib"] <= f),
                                                key=lambda k: t[k]["exact_match"], default=None))  # storage only
