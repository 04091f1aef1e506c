"""Measuring what training costs: memory (predicted and measured), matmul peak, FLOPs.

- ``training_memory``: the bytes a training step needs for weights, gradients and
  optimizer state, predicted from parameter counts.
- ``saved_activation_bytes``: the bytes autograd keeps from one forward pass for the
  backward pass, counted with saved-tensor hooks.
- ``PeakMemory``: the peak memory of a block of code (CUDA: the allocator's peak; CPU:
  the process's resident memory, sampled every millisecond or so).
- ``matmul_flops``: the FLOP/s one large matrix product reaches on this machine.
- ``training_flops``: the 6 x parameters x tokens rule.

Taught in chapter 4, sections 4.5 and 4.6.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

__all__ = [
    "OPTIMIZER_STATES",
    "MemoryEstimate",
    "PeakMemory",
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


class PeakMemory:
    """Context manager that records the peak memory of the code inside it.

    ``baseline`` is the memory in use when the block starts, ``peak`` the highest seen
    inside it and ``increase = peak - baseline``. On CUDA these come from PyTorch's
    allocator; on the CPU from the process's resident set size (RSS), sampled by a
    background thread. RSS also counts memory the allocator keeps after freeing it,
    so on the CPU the numbers are an upper bound of what tensors use.
    """

    def __init__(self, device: str | torch.device = "cpu", interval: float = 0.001):
        self.device = torch.device(device)
        self.interval = interval
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def increase(self) -> int:
        return self.peak - self.baseline

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = self.peak = torch.cuda.memory_allocated(self.device)
        else:
            _release_free_memory()
            self.baseline = self.peak = _rss()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss())


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
