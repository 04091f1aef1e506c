"""Checks for the exercises of chapter 13, Outlook: ``check("13.1", answer)`` runs them.

Taught in chapter 13, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS"]


def _check_13_1(fn: Any) -> Result:
    import torch

    from ftlib.dpo import dpo_loss

    if not callable(fn):
        return False, "expected a function dpo_loss_by_hand"
    gen = torch.Generator().manual_seed(13)
    for n, beta in [(5, 0.1), (3, 0.5), (8, 1.0)]:
        logps = [torch.randn(n, generator=gen) * 4 - 15 for _ in range(4)]
        expected = float(dpo_loss(*logps, beta=beta)[0])
        try:
            got = fn(*(t.clone() for t in logps), beta)
        except Exception as exc:  # noqa: BLE001 - a learner's function may raise anything
            return False, f"dpo_loss_by_hand raised {exc!r}"
        try:
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            return (
                False,
                "dpo_loss_by_hand should return one number (the mean over the pairs), not one per pair",
            )
        if abs(value - expected) > 1e-5 * max(1.0, abs(expected)):
            hint = (
                "the margin is (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected), multiplied by "
                "beta; the loss is -log sigmoid(margin), averaged over the pairs"
            )
            unscaled = float(dpo_loss(*logps, beta=1.0)[0])
            if abs(value - unscaled) < 1e-5 and beta != 1.0:
                hint = "multiply the margin by beta before the sigmoid"
            elif value < 0:
                hint = "a loss -log sigmoid(...) is never negative: check the sign"
            return (
                False,
                f"for {n} pairs and beta={beta}: got {value:.5f}, expected {expected:.5f}. Hint: {hint}",
            )
    return True, "equal to ftlib.dpo.dpo_loss for three batches of pairs"


def _check_13_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function task_arithmetic"
    gen = torch.Generator().manual_seed(13)
    base = torch.randn(6, 5, generator=gen)
    updates = [
        (torch.randn(6, 2, generator=gen), torch.randn(2, 5, generator=gen), s)
        for s in (2.0, 0.5)
    ]
    for lambdas in [(1.0, 1.0), (0.5, 0.5), (1.0, -1.0)]:
        expected = base + sum(
            lam * s * B @ A for (B, A, s), lam in zip(updates, lambdas)
        )
        try:
            got = fn(
                base.clone(),
                [(B.clone(), A.clone(), s) for B, A, s in updates],
                list(lambdas),
            )
        except Exception as exc:  # noqa: BLE001 - a learner's function may raise anything
            return False, f"task_arithmetic raised {exc!r}"
        if not isinstance(got, torch.Tensor) or got.shape != base.shape:
            return (
                False,
                f"task_arithmetic should return a tensor of shape {tuple(base.shape)}",
            )
        if not torch.allclose(got, expected, atol=1e-5):
            hint = "each update is lambda_i * s_i * B_i @ A_i, added to the base weight"
            no_scale = base + sum(
                lam * B @ A for (B, A, s), lam in zip(updates, lambdas)
            )
            if torch.allclose(got, no_scale, atol=1e-5):
                hint = "multiply each B @ A by its scaling s"
            return (
                False,
                f"with lambdas {lambdas} the merged weight is wrong. Hint: {hint}",
            )
    return (
        True,
        "the merged weight is right for three choices of the lambdas, a negative one included",
    )


CHECKS: dict[str, Callable[[Any], Result]] = {"13.1": _check_13_1, "13.2": _check_13_2}
