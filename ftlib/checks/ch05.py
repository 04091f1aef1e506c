"""Checks for the exercises of chapter 5, Low-rank math: ``check("5.1", answer)`` runs them.

Taught in chapter 5, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS"]


def _check_5_1(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function best_rank_r"
    gen = torch.Generator().manual_seed(5)
    for shape, r in [((6, 4), 2), ((5, 9), 1), ((8, 8), 8)]:
        M = torch.randn(*shape, generator=gen, dtype=torch.float64)
        try:
            approx = fn(M.clone(), r)
        except Exception as exc:
            return False, f"best_rank_r(M of shape {shape}, {r}) raised {exc!r}"
        if not isinstance(approx, torch.Tensor) or approx.shape != M.shape:
            return False, f"expected a tensor of shape {shape}"
        S = torch.linalg.svdvals(M)
        best_error = S[r:].pow(2).sum().sqrt()
        rank = torch.linalg.matrix_rank(approx).item()
        if rank > r or abs(torch.linalg.norm(M - approx.to(M)) - best_error) > 1e-6 * (1 + best_error):
            return False, (f"for a {shape} matrix and r = {r}: rank {rank}, error {torch.linalg.norm(M - approx.to(M)):.4f}, "
                           f"best possible {best_error:.4f}. Hint: U, S, Vh = torch.linalg.svd(M, full_matrices=False); "
                           "keep the first r columns of U, values of S, rows of Vh")
    return True, "rank at most r and the Eckart-Young error, on 3 matrices"


def _check_5_2(fn: Any) -> Result:
    import torch

    s = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    cases = [((s, 1), 9 / 14), ((s, 2), 13 / 14), ((s, 4), 1.0), ((torch.ones(5, dtype=torch.float64), 2), 0.4)]
    return run_cases(lambda v, r: float(fn(v, r)), "energy_at", cases, "square the values; divide the sum of the first r by the sum of all")


def _as_count(value: Any) -> int | None:
    """A whole number from an int, a NumPy integer or a one-element tensor; None otherwise."""
    if hasattr(value, "numel") and value.numel() == 1:  # a tensor such as tensor(3)
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "size", 0) == 1:  # a NumPy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)


def _check_5_3(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function smallest_rank(singular_values, fraction)"
    hint = ("energy = cumsum of squares / total; the answer is the first index where it reaches "
            "fraction, plus one, as a whole number (int(...) of a one-element tensor)")
    s = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    cases = [((s, 0.5), 1), ((s, 0.9), 2), ((s, 0.95), 3), ((s, 1.0), 3), ((torch.ones(10, dtype=torch.float64), 0.9), 9)]
    for args, expected in cases:
        try:
            got = fn(args[0].clone(), args[1])
        except Exception as exc:
            return False, f"smallest_rank{args!r} raised {exc!r}. Hint: {hint}"
        rank = _as_count(got)
        if rank is None:
            shape = f" of shape {tuple(got.shape)}" if hasattr(got, "shape") else ""
            return False, (f"smallest_rank{args!r} returned {type(got).__name__}{shape}: {got!r}; "
                           f"expected one whole number r >= 1. Hint: {hint}")
        if rank != expected:
            return False, f"smallest_rank{args!r} gave {rank}, expected {expected}. Hint: {hint}"
    return True, f"all {len(cases)} cases right"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "5.1": _check_5_1,
    "5.2": _check_5_2,
    "5.3": _check_5_3,
}
