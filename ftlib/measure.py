"""Measuring what training costs: memory (predicted and measured), matmul peak, FLOPs.

- ``training_memory``: the bytes a training step needs for weights, gradients and
  optimizer state, predicted from parameter counts.
- ``saved_activation_bytes``: the bytes autograd keeps from one forward pass for the
  backward pass, counted with saved-tensor hooks.
- ``PeakMemory``: the peak memory of a block of code (CUDA: the allocator's peak; CPU:
  the process's resident memory and the C allocator's bytes in use, sampled every
  millisecond or so).
- ``allocated_bytes``: the bytes the C allocator has handed out and not had back on the CPU
  (glibc's ``mallinfo2``): what tensors and other objects hold, without what the allocator
  keeps in reserve.
- ``matmul_flops``: the FLOP/s one large matrix product reaches on this machine.
- ``training_flops``: the 6 x parameters x tokens rule.

Taught in chapter 4, sections 4.7 and 4.8, and chapter 6, section 6.4.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass

import torch

__all__ = [
    "OPTIMIZER_STATES",
    "MemoryEstimate",
    "PeakMemory",
    "TrainingPhases",
    "allocated_bytes",
    "matmul_flops",
    "saved_activation_bytes",
    "training_flops",
    "training_memory",
]

OPTIMIZER_STATES = {"adamw": 2, "sgd": 1, "none": 0}  # tensors of optimizer state per trainable parameter


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted bytes of a training step, by kind."""

    weights: int
    gradients: int
    optimizer: int
    activations: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations


def training_memory(
    n_params: int, n_trainable: int, optimizer: str = "adamw", bytes_per_value: int = 4, activations: int = 0
) -> MemoryEstimate:
    """Weights (all parameters), gradients and optimizer state (trainable ones only), plus ``activations``.

    fp32 AdamW with every parameter trained: 4 + 4 + 8 = 16 bytes per parameter.
    SGD with momentum keeps one state tensor; plain SGD none (``optimizer="none"``).
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {tuple(OPTIMIZER_STATES)}")
    if not 0 <= n_trainable <= n_params:
        raise ValueError(f"need 0 <= n_trainable <= n_params (got {n_trainable}, {n_params})")
    return MemoryEstimate(
        weights=n_params * bytes_per_value,
        gradients=n_trainable * bytes_per_value,
        optimizer=n_trainable * bytes_per_value * OPTIMIZER_STATES[optimizer],
        activations=activations,
    )


def saved_activation_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward during one forward pass of ``batch``.

    Each storage is counted once; the parameters themselves (which autograd also saves)
    are not counted, since they are weights, not activations. The logits are counted as
    well, since the loss needs them.
    """
    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_storages and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits_bytes = out.logits.untyped_storage().nbytes()
    if out.logits.untyped_storage().data_ptr() not in seen:
        seen[out.logits.untyped_storage().data_ptr()] = logits_bytes
    del out
    return sum(seen.values())


def _release_free_memory() -> None:
    """Ask glibc to hand freed heap memory back to the system, so RSS starts from what is in use (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


@functools.lru_cache(maxsize=1)
def _mallinfo2():
    """glibc's ``mallinfo2`` (glibc 2.33 or newer), or None where there is none (macOS, Windows, musl)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()

        class Mallinfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in names]

        libc.mallinfo2.restype = Mallinfo2
        libc.mallinfo2()
        return libc.mallinfo2
    except (OSError, AttributeError):
        return None


def allocated_bytes() -> int | None:
    """Bytes handed out by the C allocator and not yet freed: heap blocks in use plus ``mmap``-ed blocks.

    PyTorch's CPU tensors are allocated this way, so this is the CPU counterpart of
    ``torch.cuda.memory_allocated``: memory that objects hold, without the memory the allocator
    keeps after a ``free`` (which the resident set size still counts). None where glibc's
    ``mallinfo2`` is not available.

    Taught in chapter 6, section 6.4.
    """
    info = _mallinfo2()
    if info is None:
        return None
    m = info()
    return m.uordblks + m.hblkhd


class PeakMemory:
    """Context manager that records the peak memory of the code inside it.

    ``baseline`` is the memory in use when the block starts, ``peak`` the highest seen
    inside it and ``increase = peak - baseline``. On CUDA these come from PyTorch's
    allocator; on the CPU from the process's resident set size (RSS), sampled by a
    background thread. RSS also counts memory the allocator keeps after freeing it,
    so on the CPU the numbers are an upper bound of what tensors use.

    The same thread also samples the allocator's bytes in use (``allocated_baseline``,
    ``allocated_peak``, ``allocated_increase``): on CUDA ``torch.cuda.memory_allocated``
    (then equal to the above), on the CPU :func:`allocated_bytes` (None where unavailable).
    The gap between ``increase`` and ``allocated_increase`` is memory the allocator holds
    but no object uses. A peak shorter than the sampling interval can be missed.

    Sampling the CPU allocator is not free: ``mallinfo2`` walks the allocator's arenas under
    their locks, and at one call per millisecond it made a SmolLM2 training step on 2 CPU cores
    about twice as slow (measured while writing chapter 7). Pass ``allocator=False`` when the
    block is also timed: only the resident set is then sampled, which costs a few per cent,
    and the ``allocated_*`` attributes stay None.

    Taught in chapter 4, section 4.7 and chapter 6, section 6.4.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        interval: float = 0.001,
        record: bool = False,
        allocator: bool = True,
    ):
        self.device = torch.device(device)
        self.interval = interval
        self.record = record
        self.allocator = allocator
        self.samples: list[tuple[float, int, int | None]] = []  # (perf_counter, RSS, allocated)
        self.baseline = self.peak = 0
        self.allocated_baseline: int | None = None
        self.allocated_peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def increase(self) -> int:
        return self.peak - self.baseline

    @property
    def allocated_increase(self) -> int | None:
        if self.allocated_peak is None or self.allocated_baseline is None:
            return None
        return self.allocated_peak - self.allocated_baseline

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = _rss()
            allocated = allocated_bytes() if self.allocator else None
            self.peak = max(self.peak, rss)
            if self.allocated_peak is not None:
                self.allocated_peak = max(self.allocated_peak, allocated or 0)
            if self.record:
                self.samples.append((time.perf_counter(), rss, allocated))
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = self.peak = torch.cuda.memory_allocated(self.device)
            self.allocated_baseline = self.allocated_peak = self.baseline
        else:
            _release_free_memory()
            self.baseline = self.peak = _rss()
            if self.allocator:
                self.allocated_baseline = self.allocated_peak = allocated_bytes()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = self.allocated_peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss())
            if self.allocated_peak is not None:
                self.allocated_peak = max(self.allocated_peak, allocated_bytes() or 0)


class TrainingPhases:
    """Context manager that records when each phase of a training step starts: forward, backward, optimizer.

    Hooks on ``model`` mark the start of each forward pass and its end (from there on, the loss
    and the backward pass); PyTorch's global optimizer hooks mark the start and end of every
    ``optimizer.step()``. ``events`` holds ``(time.perf_counter(), phase)`` pairs with phase one
    of ``"forward"``, ``"backward"``, ``"optimizer"``, ``"other"``; the hooks are removed on exit.
    Use it together with ``PeakMemory(record=True)`` to see in which phase memory peaks.

    Taught in chapter 4, section 4.7.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.events: list[tuple[float, str]] = []
        self._handles: list = []

    def _mark(self, phase: str):
        def hook(*args, **kwargs):
            self.events.append((time.perf_counter(), phase))

        return hook

    def __enter__(self) -> TrainingPhases:
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        self._handles = [
            self.model.register_forward_pre_hook(self._mark("forward")),
            self.model.register_forward_hook(self._mark("backward")),
            register_optimizer_step_pre_hook(self._mark("optimizer")),
            register_optimizer_step_post_hook(self._mark("other")),
        ]
        return self

    def __exit__(self, *exc) -> None:
        self.events.append((time.perf_counter(), "other"))
        for handle in self._handles:
            handle.remove()
        self._handles = []


def matmul_flops(
    n: int = 2048, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu", repeats: int = 5
) -> float:
    """FLOP/s of an n x n by n x n matrix product (2 n^3 FLOPs), the best of ``repeats`` after a warm-up.

    This is the practical peak that training's matrix products can approach on this device.
    """
    if n < 1 or repeats < 1:
        raise ValueError("n and repeats must be >= 1")
    device = torch.device(device)
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def training_flops(n_params: int, n_tokens: int, trainable: bool = True) -> int:
    """FLOPs of a training step by the rule 6 x parameters x tokens (forward 2, backward 4).

    With frozen weights (``trainable=False``, as for LoRA's base model) the backward pass
    still computes gradients with respect to activations but not weights: 4 instead of 6.
    Attention's own products (which grow with sequence length) are left out.
    """
    return (6 if trainable else 4) * n_params * n_tokens
