"""Checks for the exercises of chapter 7, LoRA with peft: ``check("7.1", answer)`` runs them.

Taught in chapter 7, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS", "dora_reference", "smollm2_dora_mlp_parameters"]

# SmolLM2-135M: 30 blocks; hidden size 576, MLP width 1536.
LAYERS, HIDDEN, MLP = 30, 576, 1536


def smollm2_dora_mlp_parameters(r: int = 4) -> int:
    """Trainable parameters of ``LoraConfig(r=r, target_modules=["gate_proj", "up_proj", "down_proj"], use_dora=True)``.

    LoRA's ``r * (d_in + d_out)`` per layer, plus DoRA's magnitude: one number per output feature.
    """
    shapes = [(MLP, HIDDEN), (MLP, HIDDEN), (HIDDEN, MLP)]  # (d_out, d_in) of gate, up, down
    return LAYERS * sum(r * (d_out + d_in) + d_out for d_out, d_in in shapes)


def _check_7_1(answer: Any) -> Result:
    if not isinstance(answer, int) or isinstance(answer, bool):
        return False, f"expected an int, got {type(answer).__name__}. Hint: count LoRA's A and B, then DoRA's extra vector."
    expected = smollm2_dora_mlp_parameters()
    if answer == expected:
        return True, f"{answer:,} trainable parameters: LoRA's A and B plus one magnitude per output feature"
    lora_only = smollm2_dora_mlp_parameters() - LAYERS * (MLP + MLP + HIDDEN)
    if answer == lora_only:
        return False, f"{answer:,} counts A and B only. Hint: DoRA also trains a magnitude vector, one number per output row of W."
    return False, (f"{answer:,} is not it. Hint: gate_proj and up_proj map 576 -> 1536, down_proj 1536 -> 576; "
                   "30 blocks; DoRA adds one magnitude per output feature")


def dora_reference(x, W, A, B, m, scaling: float):
    """DoRA's output: ``m / ||W + s B A||`` (per output row) times ``(W + s B A) x`` (a test checks it against peft)."""
    import torch

    direction = W + scaling * B @ A  # (d_out, d_in)
    norm = torch.linalg.norm(direction, dim=1)  # (d_out,): one norm per output feature
    return (x @ direction.T) * (m / norm)


def _check_7_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function dora_forward"
    gen = torch.Generator().manual_seed(7)
    W = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    A = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    B = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    m = torch.rand(5, generator=gen, dtype=torch.float64) + 0.5
    x = torch.randn(2, 4, 7, generator=gen, dtype=torch.float64)
    for scaling in (2.0, 0.5):
        try:
            got = fn(x, W.clone(), A, B, m, scaling)
        except Exception as exc:
            return False, f"dora_forward raised {exc!r}"
        expected = dora_reference(x, W, A, B, m, scaling)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return False, f"expected a tensor of shape {tuple(expected.shape)} for x of shape (2, 4, 7)"
        if not torch.allclose(got.to(expected), expected, rtol=1e-6, atol=1e-9):
            plain = x @ (W + scaling * B @ A).T
            if torch.allclose(got.to(plain), plain):
                return False, "that is plain LoRA. Hint: rescale each output feature by m / ||W + s B A|| (norm of each row)"
            return False, ("wrong output. Hint: V = W + scaling * B @ A; norm = torch.linalg.norm(V, dim=1); "
                           "return (x @ V.T) * (m / norm)")
    return True, "matches DoRA (the formula a test checks against peft) at two scalings"


def _paired_cases() -> list[tuple[list[int], list[int], str]]:
    """(scores_a, scores_b, expected answer): clear wins either way, a tie, and a win only pairing reveals."""
    n = 60
    base = [1 if i % 2 == 0 else 0 for i in range(n)]  # 30 of 60 right
    a_better = [1 if (i % 2 == 0 or i % 4 == 1) else 0 for i in range(n)]  # right wherever base is, plus 15 more
    tie_a = [1 if (i % 2 == 0 and i % 10 != 0) or i % 10 == 1 else 0 for i in range(n)]  # 6 items each way
    pairing = [1 if (i % 2 == 0 or i in (1, 3, 5, 7, 9, 11, 13, 15)) else 0 for i in range(n)]  # 38/60 vs 30/60
    return [(a_better, base, "a"), (base, a_better, "b"), (tie_a, base, "neither"), (pairing, base, "a")]


def _check_7_3(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function better_adapter"
    for i, (a, b, expected) in enumerate(_paired_cases()):
        try:
            got = fn(list(a), list(b))
        except Exception as exc:
            return False, f"better_adapter raised {exc!r} on case {i + 1}"
        if got != expected:
            hint = ("compare item by item: ftlib.stats.paired_bootstrap(a, b) gives the mean difference and its "
                    "interval; answer 'neither' when the interval contains 0")
            if i == 3:
                hint = ("a is right on 38 of 60 items, b on 30, and a is right on every item b gets: separate intervals "
                        "overlap, the paired interval does not. Hint: ftlib.stats.paired_bootstrap(a, b)")
            return False, f"case {i + 1}: got {got!r}, expected {expected!r}. Hint: {hint}"
    return True, "all 4 cases right, including the one only a paired comparison decides"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "7.1": _check_7_1,
    "7.2": _check_7_2,
    "7.3": _check_7_3,
}
