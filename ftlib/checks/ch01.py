"""Checks for the exercises of chapter 1, Why fine-tune: ``check("1.1", answer)`` runs them.

Taught in chapter 1, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS"]


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


CHECKS: dict[str, Callable[[Any], Result]] = {
    "1.1": _check_1_1,
    "1.2": _check_1_2,
    "1.3": _check_1_3,
}
