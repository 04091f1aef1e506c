"""Checks for the exercises of chapter 4, Full fine-tuning: ``check("4.1", answer)`` runs them.

Taught in chapter 4, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS"]


def _check_4_1(fn: Any) -> Result:
    from ftlib.train import lr_at

    cases = [((s, 1e-3, 20, w), lr_at(s, 1e-3, 20, "cosine", w)) for s, w in [(0, 4), (2, 4), (4, 4), (10, 4), (19, 4), (0, 0), (7, 0)]]
    return run_cases(fn, "warmup_cosine", cases, "below warmup_steps return lr * step / warmup_steps; after, "
                      "progress = (step - warmup_steps) / (num_steps - warmup_steps) and lr * 0.5 * (1 + cos(pi * progress))")


def _check_4_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function adamw_step"
    gen = torch.Generator().manual_seed(4)
    start = torch.randn(5, generator=gen)
    grads = [torch.randn(5, generator=gen) for _ in range(3)]
    settings = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)
    reference = torch.nn.Parameter(start.clone())
    opt = torch.optim.AdamW([reference], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    param, m, v = start.clone(), torch.zeros(5), torch.zeros(5)
    for t, g in enumerate(grads, start=1):
        reference.grad = g.clone()
        opt.step()
        try:
            param, m, v = fn(param.clone(), g.clone(), m.clone(), v.clone(), t, **settings)
        except Exception as exc:
            return False, f"adamw_step raised {exc!r} at step {t}"
        if not isinstance(param, torch.Tensor) or param.shape != start.shape:
            return False, f"step {t}: expected the new parameter as a tensor of shape {tuple(start.shape)}"
        if not torch.allclose(param, reference.detach(), rtol=0, atol=1e-6):  # explicit: no hidden rtol
            hint = ("decay first: p -= lr * weight_decay * p; then m, v; the bias corrections 1 - beta^t; "
                    "p -= lr * m_hat / (sqrt(v_hat) + eps)")
            return False, f"step {t}: parameter differs from torch.optim.AdamW by {float((param - reference.detach()).abs().max()):.2e}. Hint: {hint}"
    return True, "three steps equal torch.optim.AdamW's within atol=1e-6 (rtol=0)"


def _check_4_3(fn: Any) -> Result:
    cases = [
        ((100, 10, 1.0, 6000.0), 1.0),
        ((135_000_000, 1000, 4.0, 1e12), 6 * 135_000_000 * 1000 / 4.0 / 1e12),
        ((10, 10, 2.0, 600.0), 0.5),
    ]
    return run_cases(fn, "fraction_of_peak", cases, "achieved FLOP/s = 6 * n_params * n_tokens / seconds; divide by peak_flops")


def _check_4_5(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function micro_batch_weights"
    hint = ("micro-batch j's mean loss is S_j / n_j and the step's loss is (S_1 + ... + S_k) / (n_1 + ... + n_k), "
            "so its weight is n_j / sum(counts); 1 / k for every micro-batch is the mean of means")
    for counts in ([12, 12], [63, 24], [40], [3, 1, 4]):
        expected = [n / sum(counts) for n in counts]
        try:
            values = [float(x) for x in fn(list(counts))]
        except Exception as exc:
            return False, f"micro_batch_weights({counts}) raised or returned something that is not a list of numbers ({exc!r}). Hint: {hint}"
        if len(values) != len(expected) or any(not abs(a - b) <= 1e-9 for a, b in zip(values, expected)):
            return False, f"micro_batch_weights({counts}) gave {values}, expected {expected}. Hint: {hint}"
    return True, "all 4 cases right: each micro-batch weighs by its share of the step's answer tokens"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "4.1": _check_4_1,
    "4.2": _check_4_2,
    "4.3": _check_4_3,
    "4.5": _check_4_5,
}
