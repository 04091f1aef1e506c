"""ftlib.efficiency: fp16 casts counted right, the largest safe scale, timing helpers, the training switches."""

import pytest
import torch

from ftlib.efficiency import cast_report, forward_seconds, interleaved_seconds, largest_safe_scale, train_variant


def test_cast_report_counts_underflow_and_overflow():
    values = torch.tensor([1e-9, 1e-3, 1.0, 7e4, 0.0])  # 1e-9 underflows in fp16, 7e4 overflows, 0 is not counted
    r = cast_report([values], torch.float16)
    assert (r.total, r.underflow, r.overflow) == (4, 1, 1)
    assert r.underflow_share == pytest.approx(0.25)
    assert cast_report([values], torch.bfloat16) == (4, 0, 0)  # bf16 has float32's range
    scaled = cast_report([values[:3]], torch.float16, scale=2.0**16)
    assert (scaled.underflow, scaled.overflow) == (0, 1)  # 1e-9 * 65536 survives, 1.0 * 65536 overflows


def test_largest_safe_scale_is_the_largest_power_of_two_without_overflow():
    g = [torch.tensor([3.0, -1e-6]), torch.tensor([0.5])]
    scale = largest_safe_scale(g, torch.float16)
    assert cast_report(g, torch.float16, scale).overflow == 0
    assert cast_report(g, torch.float16, 2 * scale).overflow > 0
    assert scale == 2.0**14  # 3 * 2^14 = 49152 < 65504 <= 3 * 2^15


@pytest.mark.parametrize("call", [lambda: cast_report([], torch.float16), lambda: cast_report([torch.ones(2)], torch.float16, 0.0),
                                  lambda: cast_report([torch.ones(2)], torch.int8), lambda: largest_safe_scale([torch.zeros(3)])])
def test_bad_inputs(call):
    with pytest.raises(ValueError):
        call()


def test_interleaved_seconds_calls_in_turn():
    order = []
    times = interleaved_seconds({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, rounds=3, warmup=1)
    assert order == ["a", "b"] * 4
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    with pytest.raises(ValueError):
        interleaved_seconds({}, rounds=1)


def test_forward_seconds_and_train_variant_on_the_smoke_model(smoke):
    import copy

    from ftlib.data import collate, tokenize_sft

    model, tokenizer = copy.deepcopy(smoke[0]), smoke[1]
    examples = [tokenize_sft({"prompt": f"Date: {d} May 2020", "answer": f"2020-05-{d:02d}"}, tokenizer) for d in range(1, 9)]
    assert forward_seconds(model, collate(examples[:2], tokenizer.pad_token_id), repeats=2) > 0
    model.requires_grad_(True)
    start, reference = copy.deepcopy(model), copy.deepcopy(model)
    plain, _ = train_variant(reference, examples, tokenizer.pad_token_id, num_steps=2, batch_size=4, lr=1e-3)
    checkpointed, peak = train_variant(model, examples, tokenizer.pad_token_id, checkpointing=True, num_steps=2,
                                       batch_size=4, lr=1e-3)
    assert checkpointed.loss == pytest.approx(plain.loss, abs=1e-5)  # recomputing activations changes nothing
    assert peak >= 0 and not model.is_gradient_checkpointing
    bf16, _ = train_variant(start, examples, tokenizer.pad_token_id, bf16=True, num_steps=1,
                            batch_size=4, lr=1e-3)
    assert bf16.loss[0] != plain.loss[0] and abs(bf16.loss[0] - plain.loss[0]) < 0.05  # rounded, so close but not equal


def test_bf16_training_sees_its_own_updates(smoke):
    """Several bf16 steps on one repeated batch follow the fp32 run: the forward uses the updated weights.

    With autocast's weight cache on across the loop, every step would compute the first step's loss again.
    """
    import copy

    from ftlib.data import tokenize_sft

    model, tokenizer = copy.deepcopy(smoke[0]), smoke[1]
    model.requires_grad_(True)
    examples = [tokenize_sft({"prompt": "Date: 3 May 2020", "answer": "2020-05-03"}, tokenizer)] * 4
    runs = {}
    for bf16 in (False, True):
        history, _ = train_variant(copy.deepcopy(model), examples, tokenizer.pad_token_id, bf16=bf16, num_steps=4,
                                   batch_size=4, lr=1e-2)
        runs[bf16] = history.loss
    assert runs[True][-1] < runs[True][0] - 0.1  # the same batch, so its loss falls step by step
    assert runs[True] == pytest.approx(runs[False], rel=0.05, abs=0.05)



def test_set_checkpointing_switches_without_a_deprecation_warning(smoke):
    import copy
    import warnings

    from ftlib.efficiency import set_checkpointing

    model = copy.deepcopy(smoke[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers warns on the old name
        set_checkpointing(model, True)
        assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
        set_checkpointing(model, False)
        assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
