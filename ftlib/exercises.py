"""Autograded checks for the end-of-chapter exercises.

``check("1.2", answer)`` runs the check for exercise 1.2, prints what passed or a hint,
and returns True or False. It never raises on a wrong answer, so a notebook with an
unsolved exercise still runs top to bottom.

Taught in chapter 1 (exercises); every chapter adds its checks here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["check", "exercises"]

Result = tuple[bool, str]  # (passed, what happened)


def _lora_params_q_v() -> int:
    """LoRA r=8 on q_proj and v_proj of SmolLM2-135M: r * (d_in + d_out) per matrix, 30 layers."""
    hidden, layers, kv_dim, r = 576, 30, 3 * 64, 8
    return layers * r * ((hidden + hidden) + (hidden + kv_dim))


def _check_1_1(answer: Any) -> Result:
    if not isinstance(answer, int) or isinstance(answer, bool):
        return False, f"expected an int, got {type(answer).__name__}. Hint: each LoRA pair adds r * (d_in + d_out)."
    expected = _lora_params_q_v()
    if answer == expected:
        return True, f"{answer:,} trainable parameters"
    hint = "q_proj maps 576 -> 576 but v_proj maps 576 -> 192 (3 key-value heads of 64); 30 layers"
    return False, f"{answer:,} is not it. Hint: {hint}."


_CASES_1_2 = [
    (("2021-03-03", "2021-03-03"), True),
    (("The date is 2021-03-03.", "2021-03-03"), True),
    (("2021-03-03 2022-", "2021-03-03"), True),
    (("  2021-03-03\n", "2021-03-03"), True),
    (("2021-03-04", "2021-03-03"), False),
    (("20210303", "2021-03-03"), False),
    (("2022-03-03 2021-03-03", "2021-03-03"), False),
    (("", "2021-03-03"), False),
]


def _check_1_2(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function lenient_match(prediction, reference) -> bool"
    for (prediction, reference), expected in _CASES_1_2:
        try:
            got = fn(prediction, reference)
        except Exception as exc:  # a learner's bug: report it, do not crash the notebook
            return False, f"lenient_match({prediction!r}, {reference!r}) raised {exc!r}"
        if bool(got) != expected:
            hint = "take the first YYYY-MM-DD found in the prediction (re.search(r'\\d{4}-\\d{2}-\\d{2}', ...))"
            return False, f"lenient_match({prediction!r}, {reference!r}) gave {got!r}, expected {expected}. Hint: {hint}."
    return True, f"all {len(_CASES_1_2)} cases right"


def _check_1_3(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function few_shot_prompt(examples, query) -> str"
    shots = [
        {"prompt": "Rewrite this date.\nDate: 3 March 2021", "answer": "2021-03-03"},
        {"prompt": "Rewrite this date.\nDate: Jan 9, 1999", "answer": "1999-01-09"},
    ]
    query = {"prompt": "Rewrite this date.\nDate: the 1st of May 2000", "answer": "2000-05-01"}
    try:
        text = fn(shots, query)
    except Exception as exc:
        return False, f"few_shot_prompt raised {exc!r}"
    if not isinstance(text, str):
        return False, f"expected a string, got {type(text).__name__}"
    for date_text, answer in [("3 March 2021", "2021-03-03"), ("Jan 9, 1999", "1999-01-09")]:
        if date_text not in text or answer not in text:
            return False, f"the prompt lacks the example {date_text!r} -> {answer!r}. Hint: show each example's date and answer."
    if "the 1st of May 2000" not in text:
        return False, "the prompt lacks the query's date"
    if "2000-05-01" in text:
        return False, "the prompt gives away the query's answer"
    if text.rfind("the 1st of May 2000") < text.rfind("1999-01-09"):
        return False, "put the query after the examples"
    return True, "examples with answers, then the query without its answer"


def _check_2_1(answer: Any) -> Result:
    import math

    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(1.0) + math.exp(0.1)))
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return False, f"expected a number, got {type(answer).__name__}"
    if abs(answer - expected) < 1e-3:
        return True, f"{answer:.4f} nats"
    if abs(answer + expected) < 1e-3:
        return False, "right size, wrong sign: the loss is the NEGATIVE log-probability, so it is never below 0"
    return False, f"{answer} is not it. Hint: softmax the three logits, take the probability of index 0, then -log."


def _check_2_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function sequence_mean(nll, mask) -> tensor"
    generator = torch.Generator().manual_seed(0)
    nll = torch.rand(3, 5, generator=generator)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], dtype=torch.bool)
    nll = nll * mask
    expected = torch.stack([nll[i].sum() / mask[i].sum() for i in range(3)]).mean()
    try:
        got = fn(nll, mask)
    except Exception as exc:
        return False, f"sequence_mean raised {exc!r}"
    if not torch.is_tensor(got) or got.numel() != 1:
        return False, f"expected a one-number tensor, got {got!r}"
    if torch.isclose(got.float(), expected, atol=1e-6):
        return True, f"{float(got):.4f} on the test batch"
    token_mean = nll.sum() / mask.sum()
    if torch.isclose(got.float(), token_mean, atol=1e-6):
        return False, "that is the token mean. Hint: average within each row first (sum / count per row), then over rows."
    return False, f"got {float(got):.4f}, expected {float(expected):.4f}. Hint: divide each row's sum by its own count."


def _check_2_3(answer: Any) -> Result:
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return False, f"expected a number, got {type(answer).__name__}"
    if abs(answer - 49152) < 0.5:
        return True, "a uniform guess over 49,152 tokens has perplexity 49,152"
    return False, f"{answer} is not it. Hint: each token has p = 1/V, so the loss is log V; perplexity is exp(loss)."


def _run_cases(fn: Any, name: str, cases: list, hint: str) -> Result:
    """Call ``fn(*args)`` for each (args, expected) case; report the first mismatch or crash."""
    if not callable(fn):
        return False, f"expected a function {name}"
    for args, expected in cases:
        try:
            got = fn(*args)
        except Exception as exc:
            return False, f"{name}{args!r} raised {exc!r}"
        same = abs(got - expected) < 1e-9 if isinstance(expected, float) and isinstance(got, (int, float)) else got == expected
        if not same:
            return False, f"{name}{args!r} gave {got!r}, expected {expected!r}. Hint: {hint}"
    return True, f"all {len(cases)} cases right"


def _check_3_1(fn: Any) -> Result:
    cases = [
        (([5, 5, 5, 5], 2), 0.0),
        (([1, 3, 3, 1], 2), 0.0),  # sorted: [1, 1] and [3, 3]
        (([1, 4, 2, 3], 2), 1 - 10 / 12),  # sorted groups [1, 2] -> 4, [3, 4] -> 8
        (([2, 7, 4], 4), 1 - 13 / 21),
    ]
    return _run_cases(fn, "padding_waste_sorted", cases, "sort first, then pad each group of batch_size to its longest")


def _check_3_2(fn: Any) -> Result:
    train = [{"id": "a", "prompt": "Table for  two"}, {"id": "b", "prompt": "Lunch at noon"}]
    test = [{"id": "x", "prompt": "table for two"}, {"id": "y", "prompt": "Lunch at one"}, {"id": "z", "prompt": "LUNCH AT\nNOON "}]
    cases = [((train, test), {"x", "z"}), ((train, []), set()), (([], test), set())]
    return _run_cases(fn, "leaked_ids", cases, "compare ' '.join(prompt.lower().split()) of test against a set built from train")


def _check_3_3(fn: Any) -> Result:
    good = '{"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": null}'
    parsed = {"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": None}
    cases = [
        ((good,), parsed),
        ((good[:-1],), None),  # cut off
        (('{"name": "Mei"}',), None),  # keys missing
        ((good.replace("}", ', "extra": 1}'),), None),  # a key too many
        (("[1, 2]",), None),
        (("Sure! Mei, 7 people.",), None),
    ]
    return _run_cases(fn, "parse_booking", cases, "json.loads inside try/except, then check isinstance(dict) and the set of keys")


_CHECKS: dict[str, Callable[[Any], Result]] = {
    "1.1": _check_1_1,
    "1.2": _check_1_2,
    "1.3": _check_1_3,
    "2.1": _check_2_1,
    "2.2": _check_2_2,
    "2.3": _check_2_3,
    "3.1": _check_3_1,
    "3.2": _check_3_2,
    "3.3": _check_3_3,
}


def exercises() -> list[str]:
    """The exercise numbers that have an autograded check."""
    return sorted(_CHECKS, key=lambda k: tuple(int(x) for x in k.split(".")))


def check(exercise: str, answer: Any) -> bool:
    """Check an answer to an exercise, print the verdict (and a hint when wrong), return whether it passed.

    Raises:
        KeyError: for an exercise number with no check.
    """
    if exercise not in _CHECKS:
        raise KeyError(f"no check for exercise {exercise!r}; checks exist for {', '.join(exercises())}")
    passed, message = _CHECKS[exercise](answer)
    print(f"{'PASSED' if passed else 'NOT YET'} exercise {exercise}: {message}")
    return passed
