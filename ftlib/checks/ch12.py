"""Checks for the exercises of chapter 12, Less compute, more machines: ``check("12.1", answer)`` runs them.

Taught in chapter 12, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS", "zero_bytes_per_gpu"]


def _check_12_1(fn: Any) -> Result:
    import torch

    from ftlib.distill import kd_loss

    if not callable(fn):
        return False, "expected a function kd_loss_by_hand"
    gen = torch.Generator().manual_seed(12)
    for n, v, temperature in [(5, 7, 1.0), (3, 11, 2.0), (8, 4, 0.5)]:
        student, teacher = torch.randn(n, v, generator=gen) * 2, torch.randn(n, v, generator=gen) * 2
        labels = torch.zeros(1, n + 1, dtype=torch.long)  # every position counts
        # the reference is ftlib.distill.kd_loss, given a dummy last position (its position t predicts token t + 1)
        pad = torch.zeros(1, 1, v)
        expected = kd_loss(torch.cat([student[None], pad], 1), torch.cat([teacher[None], pad], 1), labels, temperature)
        try:
            got = fn(student.clone(), teacher.clone(), temperature)
        except Exception as exc:
            return False, f"kd_loss_by_hand raised {exc!r}"
        try:
            value = float(got)
        except (TypeError, ValueError):
            return False, f"kd_loss_by_hand returned {type(got).__name__}; return a number or a 0-d tensor"
        if abs(value - float(expected)) > 1e-4 * max(1.0, abs(float(expected))):
            hint = ("softmax both at temperature T (logits / T), then sum p_t * (log p_t - log p_s) over the vocabulary, "
                    "average over the positions, and multiply by T**2")
            if abs(value * temperature**2 - float(expected)) < 1e-4 or abs(value - float(expected) * temperature**2) < 1e-4:
                hint = "check the factor T**2"
            return False, f"for {n} positions, {v} tokens, T={temperature}: got {value:.5f}, expected {float(expected):.5f}. Hint: {hint}"
    return True, "equal to ftlib.distill.kd_loss at three temperatures"


def zero_bytes_per_gpu(n_params: int, n_gpus: int, stage: int) -> int:
    """Weights, gradients and optimizer state per GPU under ZeRO with bf16 mixed-precision AdamW (2 + 2 + 12 bytes)."""
    weights, grads, optimizer = 2 * n_params, 2 * n_params, 12 * n_params
    if stage >= 1:
        optimizer //= n_gpus
    if stage >= 2:
        grads //= n_gpus
    if stage >= 3:
        weights //= n_gpus
    return weights + grads + optimizer


def _check_12_2(fn: Any) -> Result:
    cases = [((p, n, s), zero_bytes_per_gpu(p, n, s)) for p, n, s in
             [(8_000_000_000, 8, 0), (8_000_000_000, 8, 1), (8_000_000_000, 8, 2), (8_000_000_000, 8, 3),
              (1_000_000, 4, 2), (70_000_000_000, 64, 3), (135_000_000, 1, 3)]]  # fmt: skip
    return run_cases(fn, "zero_bytes_per_gpu", cases,
                     "per parameter: 2 bytes of bf16 weights, 2 of bf16 gradients, 12 of optimizer state "
                     "(fp32 master copy, m and v); stage 1 divides the optimizer state by n_gpus, "
                     "stage 2 also the gradients, stage 3 also the weights")


def _check_12_3(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function mask_2_4"
    gen = torch.Generator().manual_seed(24)
    weight = torch.randn(6, 16, generator=gen)
    groups = weight.abs().reshape(6, 4, 4)
    expected = torch.zeros_like(groups, dtype=torch.bool)
    expected.scatter_(-1, groups.topk(2, dim=-1).indices, True)
    expected = expected.reshape(6, 16)
    try:
        got = fn(weight.clone())
    except Exception as exc:
        return False, f"mask_2_4 raised {exc!r}"
    if not isinstance(got, torch.Tensor) or got.shape != weight.shape:
        return False, f"expected a tensor of shape {tuple(weight.shape)}, got {getattr(got, 'shape', type(got).__name__)}"
    got = got.bool()
    if int(got.sum()) != weight.numel() // 2:
        return False, f"the mask keeps {int(got.sum())} of {weight.numel()} weights; 2:4 keeps exactly half. Hint: 2 in every group of 4"
    if not torch.equal(got, expected):
        return False, ("the mask keeps the wrong weights. Hint: view each row as groups of 4 consecutive weights "
                       "(reshape(rows, -1, 4)) and keep the 2 of largest absolute value in each group")
    return True, "the 2 largest of every 4, exactly half of the weights kept"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "12.1": _check_12_1,
    "12.2": _check_12_2,
    "12.3": _check_12_3,
}
