"""Checks for the exercises of chapter 2, The SFT loss: ``check("2.1", answer)`` runs them.

Taught in chapter 2, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS"]


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


CHECKS: dict[str, Callable[[Any], Result]] = {
    "2.1": _check_2_1,
    "2.2": _check_2_2,
    "2.3": _check_2_3,
}
