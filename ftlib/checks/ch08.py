"""Checks for the exercises of chapter 8, the PEFT family side by side: ``check("8.1", answer)`` runs them.

Taught in chapter 8, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS", "ia3_reference", "pick_reference", "smollm2_prefix_parameters"]

# SmolLM2-135M: 30 blocks of width 576; 3 key-value heads of 64 dimensions (grouped-query attention).
LAYERS, HIDDEN, KV = 30, 576, 3 * 64


def smollm2_prefix_parameters(n_virtual: int = 30) -> int:
    """Trainable parameters of ``PrefixTuningConfig(num_virtual_tokens=n_virtual)`` on SmolLM2-135M.

    Every layer gets ``n_virtual`` keys and as many values, each as wide as the keys and values
    the model computes: its key-value heads times their dimension, not the hidden size.
    """
    return 2 * LAYERS * n_virtual * KV


def _check_8_1(answer: Any) -> Result:
    if not isinstance(answer, int) or isinstance(answer, bool):
        return False, f"expected an int, got {type(answer).__name__}. Hint: keys and values, per layer, per virtual token."
    expected = smollm2_prefix_parameters()
    if answer == expected:
        return True, f"{answer:,}: 30 virtual keys and 30 virtual values of width 192 in each of the 30 layers"
    if answer == 2 * LAYERS * 30 * HIDDEN:
        return False, (f"{answer:,} uses the hidden size 576. Hint: SmolLM2 has 3 key-value heads of 64 dimensions "
                       "(grouped-query attention), so a key is 192 numbers wide")
    if answer == 30 * HIDDEN:
        return False, f"{answer:,} is prompt tuning's count. Hint: prefix tuning adds keys and values to every layer"
    if answer == LAYERS * 30 * KV:
        return False, f"{answer:,} counts the keys only. Hint: every layer gets values too"
    return False, f"{answer:,} is not it. Hint: 2 (keys and values) x 30 layers x 30 tokens x the width of a key"


def ia3_reference(x, W, scale, feedforward: bool):
    """IA3 on a linear layer ``y = x W^T``: scale its output, or for a feed-forward layer its input."""
    if feedforward:
        return (x * scale) @ W.T  # scale: (d_in,)
    return (x @ W.T) * scale  # scale: (d_out,)


def _check_8_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function ia3_forward"
    gen = torch.Generator().manual_seed(8)
    W = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    for feedforward, width in [(False, 5), (True, 7)]:
        scale = torch.rand(width, generator=gen, dtype=torch.float64) + 0.5
        try:
            got = fn(x, W.clone(), scale, feedforward)
        except Exception as exc:
            return False, f"ia3_forward raised {exc!r} (feedforward={feedforward})"
        expected = ia3_reference(x, W, scale, feedforward)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return False, f"expected a tensor of shape {tuple(expected.shape)} (feedforward={feedforward})"
        if not torch.allclose(got.to(expected), expected, rtol=1e-9, atol=1e-12):
            where = "its input, before W" if feedforward else "its output, after W"
            return False, f"wrong output with feedforward={feedforward}. Hint: IA3 scales {where}, elementwise"
    return True, "matches IA3 on an attention layer (output scaled) and on a feed-forward layer (input scaled)"


def pick_reference(table: dict[str, dict[str, float]], max_file_mib: float, max_slowdown: float) -> str | None:
    """The method with the highest exact match among those within both budgets; None if none fits."""
    fits = {name: row for name, row in table.items()
            if row["file_mib"] <= max_file_mib and row["slowdown"] <= max_slowdown}  # fmt: skip
    return max(fits, key=lambda name: fits[name]["exact_match"]) if fits else None


def _pick_cases() -> list[tuple[dict, float, float, str | None]]:
    table = {
        "LoRA": {"file_mib": 9.3, "slowdown": 1.00, "exact_match": 0.15},  # merged: no slowdown
        "bottleneck adapter": {"file_mib": 8.6, "slowdown": 1.12, "exact_match": 0.16},
        "IA3": {"file_mib": 0.23, "slowdown": 1.00, "exact_match": 0.05},
        "prompt tuning": {"file_mib": 0.05, "slowdown": 1.10, "exact_match": 0.02},
        "full fine-tuning": {"file_mib": 513.0, "slowdown": 1.00, "exact_match": 0.17},
    }
    return [
        (table, 1000.0, 2.0, "full fine-tuning"),  # no budget: the best
        (table, 50.0, 2.0, "bottleneck adapter"),  # storage rules out full fine-tuning
        (table, 50.0, 1.05, "LoRA"),  # latency rules out the adapter
        (table, 1.0, 1.05, "IA3"),  # storage rules out LoRA
        (table, 0.01, 1.05, None),  # nothing fits
    ]


def _check_8_3(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function pick_method"
    for i, (table, max_file, max_slow, expected) in enumerate(_pick_cases()):
        try:
            got = fn({k: dict(v) for k, v in table.items()}, max_file, max_slow)
        except Exception as exc:
            return False, f"pick_method raised {exc!r} on case {i + 1}"
        if got != expected:
            hint = "keep the methods within both budgets (<= is within), then take the highest exact match"
            if expected is None:
                hint = "when no method fits both budgets, return None"
            return False, f"case {i + 1} (file <= {max_file} MiB, slowdown <= {max_slow}): got {got!r}, expected {expected!r}. Hint: {hint}"
    return True, f"all {len(_pick_cases())} budgets answered, including one that nothing fits"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "8.1": _check_8_1,
    "8.2": _check_8_2,
    "8.3": _check_8_3,
}
