"""ftlib.lora_budget: LoRA parameter counts from layer shapes, checked against peft, and ranks matched to a budget."""

import pytest
from peft import LoraConfig, get_peft_model

from ftlib.lora_budget import (
    ALL_LINEAR,
    TARGET_GROUPS,
    linear_shapes,
    lora_parameter_count,
    matched_ranks,
    rank_for_budget,
)
from ftlib.models import count_parameters, tiny_llama


@pytest.fixture
def tiny(smoke):
    return tiny_llama(len(smoke[1]), seed=0)


@pytest.mark.parametrize("group", list(TARGET_GROUPS))
@pytest.mark.parametrize("r", [1, 3, 8])
def test_count_equals_peft(smoke, group, r):
    targets = list(TARGET_GROUPS[group])
    predicted = lora_parameter_count(tiny_llama(len(smoke[1])), targets, r)
    peft_model = get_peft_model(tiny_llama(len(smoke[1])), LoraConfig(r=r, target_modules=targets))
    assert predicted == count_parameters(peft_model).trainable
    assert lora_parameter_count(peft_model, targets, r) == predicted  # wrapped layers count by their base layer


def test_shapes_of_the_tiny_llama(tiny):
    shapes = linear_shapes(tiny, ["q_proj", "down_proj"])
    assert shapes["model.layers.0.self_attn.q_proj"] == (64, 64)
    assert shapes["model.layers.1.mlp.down_proj"] == (64, 128)
    assert len(shapes) == 4 and "lm_head" not in linear_shapes(tiny, ALL_LINEAR)


def test_rank_for_budget(tiny):
    per_rank = lora_parameter_count(tiny, ["q_proj", "v_proj"], 1)
    assert rank_for_budget(tiny, ["q_proj", "v_proj"], 10 * per_rank) == 10
    assert rank_for_budget(tiny, ["q_proj", "v_proj"], int(10.4 * per_rank)) == 10
    assert rank_for_budget(tiny, ["q_proj", "v_proj"], int(10.6 * per_rank)) == 11
    assert rank_for_budget(tiny, ["q_proj", "v_proj"], 1) == 1


def test_matched_ranks_agree_within_tolerance(tiny):
    matched = matched_ranks(tiny, TARGET_GROUPS, "all linear", 8)
    assert matched["all linear"] == {"r": 8, "parameters": lora_parameter_count(tiny, ALL_LINEAR, 8), "off_by": 0.0}
    assert all(abs(m["off_by"]) <= 0.10 for m in matched.values())
    assert matched["q, v (LoRA paper)"]["r"] > matched["attention"]["r"] > matched["all linear"]["r"]
    with pytest.raises(ValueError, match="nearest rank"):
        matched_ranks(tiny, TARGET_GROUPS, "all linear", 1, tolerance=0.01)
    with pytest.raises(KeyError, match="not one of the groups"):
        matched_ranks(tiny, TARGET_GROUPS, "everything", 8)


def test_bad_input(tiny):
    with pytest.raises(ValueError, match=r"no linear layer is called \['value_proj'\]"):
        linear_shapes(tiny, ["q_proj", "value_proj"])
    with pytest.raises(TypeError, match="not a string"):
        linear_shapes(tiny, "q_proj")
    with pytest.raises(ValueError, match="empty"):
        linear_shapes(tiny, [])
    for r in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="rank r must be an integer"):
            lora_parameter_count(tiny, ["q_proj"], r)
    with pytest.raises(ValueError, match="positive number"):
        rank_for_budget(tiny, ["q_proj"], 0)
