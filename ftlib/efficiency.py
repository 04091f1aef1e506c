"""Single-device savings as switches on one training job: bf16 autocast, gradient checkpointing, torch.compile.

- ``train_variant``: ``ftlib.train.train`` on a model with any of the three switched on, inside
  ``PeakMemory``; returns the history and the peak memory the training added.
- ``cast_report`` and ``largest_safe_scale``: what happens to gradients cast to float16, with and
  without a loss scale (why fp16 training needs a gradient scaler, and bf16 does not).
- ``interleaved_seconds``: time several functions in turn, round after round, so that a slow
  moment of a shared machine hits all of them alike (paired timings).
- ``forward_seconds``: the median time of a forward pass without gradients (inference speed).

Taught in chapter 12, sections 12.1-12.3.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch

__all__ = [
    "CastReport",
    "cast_report",
    "forward_seconds",
    "interleaved_seconds",
    "largest_safe_scale",
    "set_checkpointing",
    "train_variant",
]


class CastReport(NamedTuple):
    """What casting a set of values to a low-precision type did to them."""

    total: int  # values that were not zero before the cast
    underflow: int  # non-zero values that became zero
    overflow: int  # finite values that became inf

    @property
    def underflow_share(self) -> float:
        return self.underflow / self.total if self.total else 0.0

    @property
    def overflow_share(self) -> float:
        return self.overflow / self.total if self.total else 0.0


def _flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    parts = [t.detach().float().flatten() for t in tensors if t is not None]
    if not parts:
        raise ValueError("no tensors given")
    return torch.cat(parts)


def cast_report(tensors: Iterable[torch.Tensor], dtype: torch.dtype = torch.float16, scale: float = 1.0) -> CastReport:
    """Multiply by ``scale``, cast to ``dtype``, and count the non-zero values lost to zero or to inf.

    This is what an fp16 backward pass does to gradients of these sizes: without a scale, the
    small ones underflow to zero; with too large a scale, the large ones overflow.

    Raises:
        ValueError: for no tensors, a scale <= 0, or a dtype that is not a floating-point type.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    values = _flat(tensors)
    values = values[values != 0]
    cast = (values * scale).to(dtype)
    return CastReport(values.numel(), int((cast == 0).sum()), int(torch.isinf(cast).sum()))


def largest_safe_scale(tensors: Iterable[torch.Tensor], dtype: torch.dtype = torch.float16) -> float:
    """The largest power of two that scales every value without overflow after the cast to ``dtype``.

    A dynamic gradient scaler (``torch.amp.GradScaler``) searches for this: it halves the scale
    whenever a step overflows and doubles it after a run of good steps.
    """
    biggest = _flat(tensors).abs().max().item()
    if biggest == 0:
        raise ValueError("every value is zero: any scale is safe")
    limit = torch.finfo(dtype).max
    exponent = 0
    while biggest * 2.0 ** (exponent + 1) < limit and exponent < 127:
        exponent += 1
    while biggest * 2.0**exponent >= limit:
        exponent -= 1
    return 2.0**exponent


def interleaved_seconds(fns: dict[str, Callable[[], object]], rounds: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Call each function once per round, in turn, and return the wall times by name (warm-up rounds dropped).

    Interleaving pairs the timings: the i-th times of two functions were taken moments apart,
    so ``ftlib.stats.paired_bootstrap`` can compare them on a machine whose speed drifts.
    """
    if not fns:
        raise ValueError("no functions to time")
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got {rounds}, {warmup}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(warmup + rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


@torch.no_grad()
def forward_seconds(model: torch.nn.Module, batch: dict[str, torch.Tensor], repeats: int = 5) -> float:
    """The median wall time of one forward pass of ``batch`` (after one warm-up pass), without gradients."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    model.eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask") if k in batch}
    model(**inputs, use_cache=False)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**inputs, use_cache=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def set_checkpointing(model: torch.nn.Module, on: bool) -> None:
    """Switch gradient (activation) checkpointing of a Hugging Face model on or off, non-reentrant.

    transformers 5 renamed ``gradient_checkpointing_enable`` to ``activation_checkpointing_enable``
    and warns on the old name; older versions (a Colab image) have only the old one.
    """
    new = "activation_checkpointing_enable" if on else "activation_checkpointing_disable"
    if hasattr(model, new):
        if on:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def train_variant(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    *,
    bf16: bool = False,
    checkpointing: bool = False,
    compile: bool = False,
    **train_kwargs,
):
    """Train ``model`` (its trainable parameters) with ``ftlib.train.train`` and the chosen switches.

    Args:
        bf16: run forward and backward under ``torch.autocast`` in bfloat16 (the weights, their
            gradients and AdamW's state stay in float32: mixed precision).
        checkpointing: keep only each decoder layer's input during the forward pass and recompute
            the rest in the backward pass (``set_checkpointing``).
        compile: train ``torch.compile(model)``; its first steps include the compilation.
        train_kwargs: passed to ``ftlib.train.train`` (``num_steps``, ``batch_size``, ``lr``, ...).

    Returns:
        ``(history, peak_increase)``: the ``History`` and the peak memory (bytes) above where training started.
    """
    from ftlib.measure import PeakMemory
    from ftlib.train import train

    device = next(model.parameters()).device
    if checkpointing:
        set_checkpointing(model, True)
    runner = torch.compile(model) if compile else model
    # One autocast region spans the whole loop, so its weight cache must be off: by default autocast
    # casts each trainable weight to bf16 once per region and reuses that copy, and every forward
    # after the first optimizer step would then run on the weights as they were before training.
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False) if bf16
                else contextlib.nullcontext())
    train_kwargs.setdefault("progress", False)
    with PeakMemory(device, allocator=False) as peak, autocast:  # timed: resident set only
        history = train(runner, examples, pad_token_id, **train_kwargs)
    if checkpointing:
        set_checkpointing(model, False)
    return history, peak.increase
