"""Checks for the exercises of chapter 9, text classification with few labels: ``check("9.1", answer)``.

Taught in chapter 9, section Exercises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS"]


def _check_9_1(fn: Any) -> Result:
    """wilson(k, n) -> (low, high), the 95 % Wilson score interval with z = 1.96."""
    from ftlib.stats import wilson_interval

    if not callable(fn):
        return False, "expected a function wilson(k, n) returning (low, high)"
    for k, n in [(86, 95), (450, 500), (0, 20), (20, 20), (1, 3)]:
        try:
            low, high = (float(v) for v in fn(k, n))
        except Exception as exc:
            return False, f"wilson({k}, {n}) did not give two numbers ({type(exc).__name__}: {exc})"
        ref = wilson_interval(k, n)
        if abs(low - ref.low) > 2e-4 or abs(high - ref.high) > 2e-4:
            hint = ("the centre is (p + z^2/2n) / (1 + z^2/n), not p" if abs((low + high) / 2 - k / n) < 1e-9
                    else "half-width z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))")
            return False, f"wilson({k}, {n}) gave ({low:.4f}, {high:.4f}), expected ({ref.low:.4f}, {ref.high:.4f}). Hint: {hint}"
    return True, "all 5 intervals right, including 0/20 and 20/20"


class _BigramModel:
    """A fake language model: the log-probability of the next token depends on the last token only."""

    def __init__(self) -> None:
        import torch

        gen = torch.Generator().manual_seed(9)
        self.table = torch.randn(8, 8, generator=gen).mul(2).log_softmax(-1)  # (V, V)
        # label [3, 4]: first token unlikely, second almost sure; label [5]: first token likely.
        self.table[0] = torch.tensor([-9.0, -9, -9, -2.5, -9, -0.2, -9, -1.9]).log_softmax(-1)
        self.table[3, 4] = 20.0
        self.table[3] = self.table[3].log_softmax(-1)

    def __call__(self, ids):
        """Row t: log-probabilities of the token at position t+1, given ids[: t+1]."""
        import torch

        return self.table[torch.as_tensor(list(ids), dtype=torch.long)]


def _reference_pick(model, prompt_ids, labels) -> int:
    scores = []
    for lab in labels:
        rows = model(list(prompt_ids) + list(lab))
        scores.append(sum(float(rows[len(prompt_ids) - 1 + t, tok]) for t, tok in enumerate(lab)))
    return max(range(len(labels)), key=scores.__getitem__)


def _check_9_2(fn: Any) -> Result:
    """pick_label(model, prompt_ids, labels) -> index of the label with the highest summed log-probability."""
    if not callable(fn):
        return False, "expected a function pick_label(model, prompt_ids, labels)"
    model = _BigramModel()
    cases = [([1, 2, 0], [[5], [3, 4], [7]]), ([1, 2, 0], [[3, 4], [7, 1]]), ([6, 1], [[2], [3, 4], [5, 6, 7]]),
             ([0], [[7, 2, 2], [5]]), ([1, 0], [[7], [5, 6, 7]])]
    for prompt_ids, labels in cases:
        expected = _reference_pick(model, prompt_ids, labels)
        try:
            got = fn(model, prompt_ids, labels)
        except Exception as exc:
            return False, f"pick_label raised {type(exc).__name__}: {exc}"
        if isinstance(got, bool) or not isinstance(got, int) or got != expected:
            return False, (f"for prompt {prompt_ids} and labels {labels} you chose {got!r}, expected {expected}. Hint: "
                           "row t of model(ids) predicts token t+1, so label token i is scored in row "
                           "len(prompt_ids) - 1 + i; sum over all the label's tokens (not only the first, and not their mean)")
    return True, f"the right label in all {len(cases)} cases, multi-token labels included"


def _check_9_3(fn: Any) -> Result:
    """items_needed(p1, p2) -> smallest n per system so that 1.96 * sqrt(p1 q1/n + p2 q2/n) < |p1 - p2|."""
    if not callable(fn):
        return False, "expected a function items_needed(p1, p2)"
    for p1, p2 in [(0.9, 0.8), (0.75, 0.7), (0.5, 0.6), (0.95, 0.9)]:
        variance = p1 * (1 - p1) + p2 * (1 - p2)
        expected = math.floor(1.96**2 * variance / (p1 - p2) ** 2) + 1
        try:
            got = fn(p1, p2)
        except Exception as exc:
            return False, f"items_needed({p1}, {p2}) raised {type(exc).__name__}: {exc}"
        if isinstance(got, bool) or not isinstance(got, int) or got != expected:
            return False, (f"items_needed({p1}, {p2}) gave {got!r}, expected {expected}. Hint: solve "
                           "1.96 * sqrt((p1(1-p1) + p2(1-p2)) / n) < |p1 - p2| for n, and return the smallest integer")
    return True, "right for 4 pairs of accuracies"


def _check_9_4(fn: Any) -> Result:
    """macro_f1(predictions, references, num_classes) -> the mean of the per-class F1 scores."""
    from ftlib.classify import macro_f1

    if not callable(fn):
        return False, "expected a function macro_f1(predictions, references, num_classes)"
    cases = [([0, 1, 0, 1, 2, 2], [0, 0, 0, 1, 1, 2], 3), ([0, 0, 0, 0], [0, 0, 1, 2], 3),
             ([1, 1, 1, 1], [1, 1, 1, 1], 2), ([2, 0, 1, 3, 3], [2, 0, 1, 3, 3], 4)]
    for p, y, k in cases:
        expected = macro_f1(p, y, k)
        try:
            got = float(fn(p, y, k))
        except Exception as exc:
            return False, f"macro_f1 raised or did not return a number ({type(exc).__name__}: {exc})"
        if abs(got - expected) > 1e-9:
            hint = ("accuracy is not macro-F1" if abs(got - sum(a == b for a, b in zip(p, y)) / len(y)) < 1e-9
                    else "a class with no true item and no prediction has F1 = 0 and still counts in the mean")
            return False, f"macro_f1({p}, {y}, {k}) gave {got:.4f}, expected {expected:.4f}. Hint: {hint}"
    return True, "right in all 4 cases, absent classes included"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "9.1": _check_9_1,
    "9.2": _check_9_2,
    "9.3": _check_9_3,
    "9.4": _check_9_4,
}
