"""Checks for the exercises of chapter 11, Quantization and QLoRA: ``check("11.1", answer)`` runs them.

Taught in chapter 11, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS"]


def _blocks():
    import torch

    gen = torch.Generator().manual_seed(11)
    x = torch.randn(64, generator=gen) * 0.02
    outlier = x.clone()
    outlier[9] = -0.5
    return [("a block of 64 weights", x), ("a block with an outlier", outlier),
            ("a block of zeros", torch.zeros(8)), ("a block of 5", torch.tensor([0.1, -0.3, 0.0, 0.25, -0.05]))]  # fmt: skip


def _check_11_1(fn: Any) -> Result:
    import torch

    from ftlib.quant import absmax_quantize

    if not callable(fn):
        return False, "expected a function absmax_int8(x) returning (codes, scale)"
    for name, x in _blocks():
        try:
            codes, scale = fn(x.clone())
            codes, scale = torch.as_tensor(codes), float(scale)
        except Exception as exc:
            return False, f"on {name}: absmax_int8 raised or returned something else than (codes, scale): {exc!r}"
        ref = absmax_quantize(x, bits=8, block_size=None)
        if abs(scale - ref.scales.item()) > 1e-9 or codes.shape != x.shape or not torch.equal(codes.long(), ref.codes.reshape(-1).long()):
            return False, (f"wrong codes or scale on {name}. Hint: scale = x.abs().max() / 127 (0 for an all-zero "
                           "block, with codes 0); codes = round(x / scale), an integer between -127 and 127")  # fmt: skip
    return True, "codes and scale right on 4 blocks, zeros included"


def _check_11_2(fn: Any) -> Result:
    import torch

    from ftlib.quant import nf4_levels, nf4_quantize, unpack_4bit

    if not callable(fn):
        return False, "expected a function nf4_block(x, levels) returning (codes, absmax)"
    levels = nf4_levels()
    for name, x in _blocks():
        try:
            codes, absmax = fn(x.clone(), levels.clone())
            codes, absmax = torch.as_tensor(codes).long().reshape(-1), float(absmax)
        except Exception as exc:
            return False, f"on {name}: nf4_block raised or returned something else than (codes, absmax): {exc!r}"
        ref = nf4_quantize(x, block_size=x.numel())
        if abs(absmax - ref.scales.item()) > 1e-9:
            return False, f"wrong absmax on {name}: {absmax:.6g}, expected {ref.scales.item():.6g}. Hint: x.abs().max()"
        if codes.numel() != x.numel() or not torch.equal(codes, unpack_4bit(ref.codes, x.numel())):
            return False, (f"wrong codes on {name}. Hint: divide by absmax (an all-zero block stays 0), then for each "
                           "value the index of the nearest level: (x[:, None] - levels).abs().argmin(dim=1)")  # fmt: skip
    return True, "NF4 codes and absmax right on 4 blocks, an outlier and zeros included"


def _check_11_3(fn: Any) -> Result:
    cases = [((64, False), 4.5), ((64, True), 4 + 8 / 64 + 32 / (64 * 256)), ((128, False), 4.25),
             ((32, True), 4 + 8 / 32 + 32 / (32 * 256)), ((256, True), 4 + 8 / 256 + 32 / (256 * 256))]  # fmt: skip
    return run_cases(
        lambda b, dq: float(fn(b, dq)), "bits_per_param", cases,
        "4 bits per weight, plus one 32-bit scale per block; with double quantization each scale takes 8 bits "
        "and each group of 256 scales one 32-bit scale of its own",
    )  # fmt: skip


def _largest_batch(gpu_gib: float) -> int:
    from ftlib.memory import MODELS, training_memory

    best = 0
    for b in range(1, 257):
        m = training_memory(MODELS["Llama-3.1-8B"], "qlora", batch_size=b, seq_len=1024, precision="bf16",
                            r=16, gradient_checkpointing=True)  # fmt: skip
        if not m.fits(gpu_gib):
            break
        best = b
    return best


def _check_11_4(fn: Any) -> Result:
    def as_int(g):
        got = fn(g)
        return None if isinstance(got, bool) else int(got)

    cases = [((g,), _largest_batch(g)) for g in (6, 12, 24, 40)]
    return run_cases(
        as_int, "largest_batch", cases,
        "loop b = 1, 2, ... and call training_memory(MODELS['Llama-3.1-8B'], 'qlora', batch_size=b, seq_len=1024, "
        "precision='bf16', r=16, gradient_checkpointing=True); keep the last b whose .fits(gpu_gib) is True (0 if none)",
    )  # fmt: skip


CHECKS: dict[str, Callable[[Any], Result]] = {
    "11.1": _check_11_1,
    "11.2": _check_11_2,
    "11.3": _check_11_3,
    "11.4": _check_11_4,
}
