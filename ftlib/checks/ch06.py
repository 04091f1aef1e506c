"""Checks for the exercises of chapter 6, LoRA from scratch: ``check("6.1", answer)`` runs them.

Taught in chapter 6, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS"]


def _check_6_1(fn: Any) -> Result:
    q, kv, mlp = (576, 576), (192, 576), (1536, 576)
    cases = [(([q], 8), 8 * 1152), (([q, kv], 4), 4 * (1152 + 768)), (([q, kv, kv, q, mlp, mlp, mlp[::-1]], 8), 81_408), (([], 8), 0)]
    return run_cases(fn, "lora_parameters", cases, "each layer adds r * (d_out + d_in): A is r x d_in, B is d_out x r")


def _lora_tensors():
    import torch

    gen = torch.Generator().manual_seed(6)
    W = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    A = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    B = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    return W, A, B


def _check_6_2(fn: Any) -> Result:
    import math

    import torch

    if not callable(fn):
        return False, "expected a function merged_weight"
    W, A, B = _lora_tensors()
    for use_rslora, scaling in [(False, 16 / 3), (True, 16 / math.sqrt(3))]:
        original = W.clone()
        try:
            got = fn(W, A, B, 16, 3, use_rslora=use_rslora)
        except Exception as exc:
            return False, f"merged_weight raised {exc!r}"
        if not torch.equal(W, original):
            return False, "merged_weight changed W in place; return a new tensor"
        if not isinstance(got, torch.Tensor) or not torch.allclose(got, W + scaling * B @ A):
            return False, f"wrong merged weight with use_rslora={use_rslora}. Hint: W + scaling * B @ A, scaling = alpha / r or alpha / sqrt(r)"
    return True, "both scalings right, W unchanged"


def _check_6_3(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function lora_forward"
    W, A, B = _lora_tensors()
    x = torch.randn(2, 4, 7, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    try:
        got = fn(x, W, A, B, 2.0)
    except Exception as exc:
        return False, f"lora_forward raised {exc!r}"
    expected = x @ W.T + 2.0 * (x @ A.T) @ B.T
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape or not torch.allclose(got, expected):
        return False, "wrong output for x of shape (2, 4, 7). Hint: x @ W.T + scaling * (x @ A.T) @ B.T"
    return True, "right on a batch of shape (2, 4, 7)"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "6.1": _check_6_1,
    "6.2": _check_6_2,
    "6.3": _check_6_3,
}
