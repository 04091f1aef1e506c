"""Quantization from scratch: absmax int8/int4 in blocks, NF4 and double quantization (QLoRA).

- ``absmax_quantize`` / ``dequantize``: symmetric integers, one scale per block of weights
  (``block_size=None``: one scale for the whole tensor).
- ``nf4_levels``: the 16 NormalFloat levels, derived from quantiles of the normal distribution
  as in the QLoRA paper (Dettmers et al., NeurIPS 2023).
- ``nf4_quantize`` / ``dequantize``: NF4 in blocks of 64, two 4-bit codes per byte, with
  optional double quantization of the scales (``double_quant=True``).
- ``bits_per_parameter``: what a format costs in storage, scales included.
- ``NF4Linear``: a frozen linear layer stored in NF4 that dequantizes its weight on the fly,
  forward and backward, so that ``ftlib.lora.add_lora`` can train LoRA on a 4-bit base.
- ``quantize_model_nf4``, ``merge_lora_nf4``, ``quantize_dynamic_int8``, ``model_bytes``: whole models.

A tensor that holds NaN or infinite values is refused with a clear error: its absmax would be
NaN or infinite and every value of its block would be lost.

Taught in chapter 11, sections 11.1 to 11.5.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ftlib.stats import normal_quantile

__all__ = [
    "ALL_LINEAR",
    "NF4Linear",
    "Quantized",
    "absmax_quantize",
    "bits_per_parameter",
    "dequantize",
    "dequantize_model",
    "merge_lora_nf4",
    "model_bytes",
    "nf4_levels",
    "nf4_quantize",
    "pack_4bit",
    "quantize_dynamic_int8",
    "quantize_model_nf4",
    "relative_error",
    "unpack_4bit",
]

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Quantized:
    """A quantized tensor: integer codes, one scale per block, and what is needed to rebuild it.

    ``kind`` is ``"int"`` (``codes`` are signed integers, value = code * scale) or ``"nf4"``
    (``codes`` are 4-bit indices into ``nf4_levels()`` packed two per byte, value =
    level * absmax). With double quantization the NF4 scales are themselves stored as int8
    codes (``scale_codes``) with one fp32 scale per ``dq_block_size`` of them
    (``scale_scales``) and the mean that was subtracted first (``scale_offset``).
    """

    kind: str
    codes: torch.Tensor
    scales: torch.Tensor | None
    shape: tuple[int, ...]
    block_size: int
    bits: int
    scale_codes: torch.Tensor | None = None
    scale_scales: torch.Tensor | None = None
    scale_offset: float = 0.0
    dq_block_size: int = 0

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def storage_bytes(self) -> int:
        """Bytes of everything stored: codes and scales (the shape is not counted)."""
        parts = [self.codes, self.scales, self.scale_codes, self.scale_scales]
        return sum(t.numel() * t.element_size() for t in parts if t is not None) + (4 if self.dq_block_size else 0)

    @property
    def bits_per_parameter(self) -> float:
        """Stored bits per quantized value, scales included."""
        return 8 * self.storage_bytes / self.numel


def _check_input(x: torch.Tensor, block_size: int | None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.numel() == 0:
        raise ValueError("cannot quantize an empty tensor")
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be a positive integer or None (whole tensor), got {block_size!r}")
    finite = torch.isfinite(x)
    if not finite.all():
        n_nan = int(torch.isnan(x).sum())
        raise ValueError(
            f"cannot quantize a tensor with NaN or infinite values ({n_nan} NaN, {int((~finite).sum()) - n_nan} inf "
            f"of {x.numel()}): its block's absmax would be NaN or inf and every value in the block would be lost"
        )


def _blocks(x: torch.Tensor, block_size: int | None) -> torch.Tensor:
    """Flatten ``x`` (row-major, as bitsandbytes) into rows of ``block_size``, zero-padding the last block."""
    flat = x.detach().reshape(-1).float()
    size = flat.numel() if block_size is None else block_size
    pad = -flat.numel() % size
    return torch.nn.functional.pad(flat, (0, pad)).view(-1, size)  # (n_blocks, block_size)


def absmax_quantize(x: torch.Tensor, bits: int = 8, block_size: int | None = 64) -> Quantized:
    """Symmetric integer quantization with one scale per block: ``code = round(x / scale)``.

    ``scale = absmax(block) / (2**(bits-1) - 1)``, so the largest value of each block maps to
    +-127 (int8) or +-7 (int4). An all-zero block gets scale 0 and codes 0.

    Raises:
        ValueError: for NaN/inf values, an empty tensor, ``bits`` outside 2..8 or a bad ``block_size``.
    """
    _check_input(x, block_size)
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    qmax = 2 ** (bits - 1) - 1
    blocks = _blocks(x, block_size)
    absmax = blocks.abs().amax(dim=1)  # (n_blocks,)
    scales = absmax / qmax
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))  # all-zero block: codes 0
    codes = torch.round(blocks / safe[:, None]).clamp(-qmax, qmax).to(torch.int8)
    return Quantized("int", codes, scales, tuple(x.shape), blocks.shape[1], bits)


@functools.lru_cache(maxsize=8)
def _pair_table(device: torch.device) -> torch.Tensor:
    """For each of the 256 byte values, the two float32 NF4 levels it holds (high half first).

    Each pair is stored as one 8-byte value (a float64 *view* of the two float32 numbers, not a
    conversion), so that one gather per byte fetches both levels: much faster than two gathers.
    """
    levels = nf4_levels().to(device)
    pairs = torch.stack([levels.repeat_interleave(16), levels.repeat(16)], dim=1)  # (256, 2)
    return pairs.contiguous().view(torch.float64).reshape(256)


def nf4_levels() -> torch.Tensor:
    """The 16 NF4 levels in [-1, 1], from quantiles of the standard normal distribution.

    QLoRA's construction: 8 levels for the positive half at evenly spaced probabilities from
    1/2 to 1 - delta, 7 for the negative half from 1/2 to delta, one shared exact zero, all
    divided by the largest. ``delta = (1/32 + 1/30) / 2`` keeps the outermost quantile finite.
    """
    delta = (1 / 32 + 1 / 30) / 2
    positive = [normal_quantile(1 - delta + (0.5 - (1 - delta)) * k / 8) for k in range(8)]  # 8 levels > 0
    negative = [-normal_quantile(1 - delta + (0.5 - (1 - delta)) * k / 7) for k in range(7)]  # 7 levels < 0
    values = torch.tensor(sorted(negative + [0.0] + positive), dtype=torch.float64)
    return (values / values.max()).float()


def pack_4bit(codes: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """Two 4-bit codes (0..15) per byte, the first in the high half (bitsandbytes' order).

    An odd number of codes is completed with ``pad`` (NF4 uses 7, the index of level 0).
    """
    codes = codes.reshape(-1).to(torch.uint8)
    if codes.numel() % 2:
        codes = torch.cat([codes, codes.new_full((1,), pad)])
    return (codes[0::2] << 4) | codes[1::2]


def unpack_4bit(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """The inverse of :func:`pack_4bit`: ``numel`` codes as int64."""
    return torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[:numel].long()


def nf4_quantize(
    x: torch.Tensor, block_size: int = 64, double_quant: bool = False, dq_block_size: int = 256
) -> Quantized:
    """NF4: divide each block by its absmax, store the index of the nearest NF4 level (4 bits).

    With ``double_quant``, the fp32 absmax scales (one per block) are stored as int8 after
    subtracting their mean, with one fp32 scale per ``dq_block_size`` of them (QLoRA's double
    quantization; bitsandbytes uses its own 8-bit code for this step, at the same size).

    Raises:
        ValueError: for NaN/inf values, an empty tensor or a bad block size.
    """
    _check_input(x, block_size)
    blocks = _blocks(x, block_size)
    absmax = blocks.abs().amax(dim=1)
    levels = nf4_levels().to(blocks.device)
    midpoints = (levels[1:] + levels[:-1]) / 2
    safe = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    normalized = (blocks / safe[:, None]).clamp(-1, 1)
    codes = torch.bucketize(normalized.reshape(-1)[: x.numel()], midpoints)  # nearest level
    packed = pack_4bit(codes, pad=7)  # 7: level 0, as bitsandbytes pads
    if not double_quant:
        return Quantized("nf4", packed, absmax, tuple(x.shape), block_size, 4)
    offset = absmax.mean().item()
    second = absmax_quantize(absmax - offset, bits=8, block_size=dq_block_size)
    return Quantized(
        "nf4", packed, None, tuple(x.shape), block_size, 4,
        scale_codes=second.codes.reshape(-1)[: absmax.numel()], scale_scales=second.scales,
        scale_offset=offset, dq_block_size=dq_block_size,
    )  # fmt: skip


def _nf4_scales(q: Quantized) -> torch.Tensor:
    if q.scales is not None:
        return q.scales
    n = q.scale_codes.numel()
    blocks = torch.nn.functional.pad(q.scale_codes.float(), (0, -n % q.dq_block_size)).view(-1, q.dq_block_size)
    return (blocks * q.scale_scales[:, None]).reshape(-1)[:n] + q.scale_offset


def dequantize(q: Quantized, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rebuild the tensor from a :class:`Quantized`: ``code * scale`` or ``nf4_levels()[code] * absmax``."""
    if q.kind == "int":
        values = (q.codes.float() * q.scales[:, None]).reshape(-1)
    elif q.kind == "nf4":
        # one lookup per byte: a byte holds two codes, and the table gives both levels at once
        pairs = _pair_table(q.codes.device).index_select(0, q.codes.int())  # (bytes,) pairs
        values = pairs.view(torch.float32)[: q.numel]
        if q.numel % q.block_size:
            values = torch.nn.functional.pad(values, (0, -q.numel % q.block_size))
        values = (values.view(-1, q.block_size) * _nf4_scales(q)[:, None]).reshape(-1)
    else:
        raise ValueError(f"unknown quantized kind {q.kind!r}")
    return values[: q.numel].reshape(q.shape).to(dtype)


def bits_per_parameter(
    bits: int = 4, block_size: int = 64, scale_bits: int = 32, double_quant: bool = False,
    dq_bits: int = 8, dq_block_size: int = 256,
) -> float:  # fmt: skip
    """Storage bits per weight of a blockwise format, scales included.

    Without double quantization: ``bits + scale_bits / block_size`` (NF4, fp32 scales, blocks
    of 64: 4.5). With it, each scale costs ``dq_bits`` plus an fp32 second-level scale per
    ``dq_block_size`` scales: ``bits + dq_bits / block_size + scale_bits / (block_size * dq_block_size)``
    (4.127 for QLoRA's settings).
    """
    if min(bits, block_size, scale_bits, dq_bits, dq_block_size) < 1:
        raise ValueError("bits and block sizes must be positive")
    if not double_quant:
        return bits + scale_bits / block_size
    return bits + dq_bits / block_size + scale_bits / (block_size * dq_block_size)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """``||approx - exact|| / ||exact||`` (Frobenius norms), in float64."""
    if approx.shape != exact.shape:
        raise ValueError(f"shapes differ: {tuple(approx.shape)} and {tuple(exact.shape)}")
    exact64 = exact.detach().double()
    norm = exact64.norm().item()
    if norm == 0:
        raise ValueError("the exact tensor is zero: a relative error is undefined")
    return (approx.detach().double() - exact64).norm().item() / norm


class _NF4MatMul(torch.autograd.Function):
    """``x @ W.T`` with W dequantized from NF4 in forward and again in backward.

    Only the 4-bit layer is kept for the backward pass (as a Python reference, not a saved
    tensor), never the dequantized W: keeping it would hold a float32 copy of every weight
    until the backward pass, and the 4-bit base would save nothing. W is frozen: no gradient.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, layer: NF4Linear) -> torch.Tensor:
        ctx.layer = layer
        return x @ layer.dequantized_weight(x.dtype).T

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output @ ctx.layer.dequantized_weight(grad_output.dtype), None


class NF4Linear(nn.Linear):
    """A frozen, bias-free linear layer stored in NF4 and dequantized on the fly.

    It stores the packed 4-bit codes and the (optionally double-quantized) scales as buffers,
    and no float weight. It is an ``nn.Linear`` so that ``ftlib.lora.add_lora`` can wrap it;
    reading ``.weight`` returns a dequantized copy, and assigning to it is refused (a LoRA
    merge must dequantize, add and requantize: :func:`merge_lora_nf4`).

    Build it with :meth:`from_linear` or :meth:`from_weight`.
    """

    def __init__(self, q: Quantized, compute_dtype: torch.dtype = torch.float32) -> None:
        nn.Module.__init__(self)  # not nn.Linear.__init__: it would allocate a float weight
        if q.kind != "nf4" or len(q.shape) != 2:
            raise ValueError("NF4Linear needs a 2-D NF4 tensor (nf4_quantize of a weight)")
        self.out_features, self.in_features = q.shape
        self.register_parameter("bias", None)
        self.block_size, self.double_quant, self.compute_dtype = q.block_size, q.scales is None, compute_dtype
        self.register_buffer("codes", q.codes)
        for name in ("scales", "scale_codes", "scale_scales"):
            self.register_buffer(name, getattr(q, name))
        self.scale_offset, self.dq_block_size = q.scale_offset, q.dq_block_size

    @classmethod
    def from_weight(cls, weight: torch.Tensor, block_size: int = 64, double_quant: bool = True) -> NF4Linear:
        """Quantize a weight matrix of shape (out, in)."""
        return cls(nf4_quantize(weight, block_size, double_quant), weight.dtype)

    @classmethod
    def from_linear(cls, linear: nn.Linear, block_size: int = 64, double_quant: bool = True) -> NF4Linear:
        """Quantize an ``nn.Linear`` without bias (SmolLM2's and Llama's linear layers have none)."""
        if not isinstance(linear, nn.Linear) or isinstance(linear, NF4Linear):
            raise TypeError(f"expected a float nn.Linear, got {type(linear).__name__}")
        if linear.bias is not None:
            raise ValueError("NF4Linear has no bias; this layer has one")
        return cls.from_weight(linear.weight.detach(), block_size, double_quant).to(linear.weight.device)

    def quantized(self) -> Quantized:
        """The stored tensor as a :class:`Quantized`."""
        return Quantized(
            "nf4", self.codes, self.scales, (self.out_features, self.in_features), self.block_size, 4,
            self.scale_codes, self.scale_scales, self.scale_offset, self.dq_block_size,
        )  # fmt: skip

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight rebuilt from its 4-bit codes, shape (out, in)."""
        return dequantize(self.quantized(), dtype or self.compute_dtype).to(self.codes.device)

    @property
    def weight(self) -> torch.Tensor:  # what nn.Linear users (and LoRALinear) read
        return self.dequantized_weight()

    @weight.setter
    def weight(self, value) -> None:
        raise AttributeError(
            "an NF4 weight cannot be changed in place; to merge LoRA into it, dequantize, add and "
            "requantize (ftlib.quant.merge_lora_nf4)"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NF4MatMul.apply(x, self)

    def extra_repr(self) -> str:
        bits = self.quantized().bits_per_parameter
        return (f"in_features={self.in_features}, out_features={self.out_features}, NF4 blocks of "
                f"{self.block_size}, double_quant={self.double_quant}, {bits:.3f} bits per weight")  # fmt: skip


def quantize_model_nf4(
    model: nn.Module, target_modules: Sequence[str] = ALL_LINEAR, block_size: int = 64, double_quant: bool = True
) -> list[str]:
    """Replace each targeted ``nn.Linear`` by an :class:`NF4Linear`, in place; freeze the model.

    Call it before ``ftlib.lora.add_lora``. Embeddings, norms and the output layer stay as they are.

    Returns:
        The names of the replaced layers.

    Raises:
        ValueError: when nothing matches, or a target already carries LoRA (quantize first).
    """
    from ftlib.lora import LoRALinear

    if isinstance(target_modules, str):
        raise TypeError(f"target_modules must be a list of names, like [{target_modules!r}], not a string")
    targets = set(target_modules)
    matches = [(n, m) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in targets]
    if any(isinstance(m, LoRALinear) for _, m in matches):
        raise ValueError("these layers already carry LoRA: quantize the base model first, then add_lora")
    names = [n for n, m in matches if isinstance(m, nn.Linear) and not isinstance(m, NF4Linear)]
    if not names:
        raise ValueError(f"no float nn.Linear layer's name ends with any of {sorted(targets)}")
    model.requires_grad_(False)
    for name in names:  # collect first, then replace: never change a model while walking it
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, NF4Linear.from_linear(getattr(parent, child), block_size, double_quant))
    return names


@torch.no_grad()
def merge_lora_nf4(model: nn.Module, requantize: bool = True) -> dict[str, float]:
    """Merge every LoRA layer whose base is an :class:`NF4Linear`: dequantize, add ``B A * scaling``.

    With ``requantize`` the sum is quantized to NF4 again (the model stays 4-bit); without, it is
    kept as a float ``nn.Linear`` (exact, but the layer is full size again). Each LoRA layer is
    replaced by the new layer. Returned, over all merged layers: ``quantization_error`` =
    ||Q(W + dW) - (W + dW)|| / ||W + dW|| (0 without requantizing), and ``update_error`` =
    ||(Q(W + dW) - W) - dW|| / ||dW||: how much of the update the merged weights fail to carry
    (0: all of it; 1: as much as if nothing had been learned).

    Raises:
        ValueError: when the model has no LoRA layer on an NF4 base.
    """
    from ftlib.lora import LoRALinear

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear) and isinstance(m.base_layer, NF4Linear)]
    if not layers:
        raise ValueError("no LoRA layer on an NF4Linear base in this model")
    sq = {"q": 0.0, "merged": 0.0, "u": 0.0, "delta": 0.0}
    for name, layer in layers:
        base = layer.base_layer
        W = base.dequantized_weight(torch.float32)
        delta = layer.delta_weight().float()
        merged = W + delta
        if requantize:
            new = NF4Linear.from_weight(merged, base.block_size, base.double_quant).to(W.device)
            W_new = new.dequantized_weight(torch.float32)
        else:
            new = nn.Linear(base.in_features, base.out_features, bias=False, device=W.device, dtype=base.compute_dtype)
            new.weight.copy_(merged)
            new.requires_grad_(False)
            W_new = new.weight
        sq["q"] += (W_new - merged).double().norm().item() ** 2
        sq["merged"] += merged.double().norm().item() ** 2
        sq["u"] += ((W_new - W) - delta).double().norm().item() ** 2
        sq["delta"] += delta.double().norm().item() ** 2
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
    return {
        "layers": len(layers),
        "quantization_error": math.sqrt(sq["q"] / sq["merged"]),
        "update_error": math.sqrt(sq["u"] / sq["delta"]) if sq["delta"] > 0 else float("nan"),
    }


@torch.no_grad()
def dequantize_model(model: nn.Module) -> int:
    """Replace every :class:`NF4Linear` by a float ``nn.Linear`` holding its dequantized weight, in place.

    The model computes the same function (to float rounding) but no longer dequantizes at every
    call: a fast way to evaluate a 4-bit model, at full size in memory. Returns the number of
    layers replaced.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, NF4Linear)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        old = getattr(parent, child)
        new = nn.Linear(old.in_features, old.out_features, bias=False, device=old.codes.device,
                        dtype=old.compute_dtype)  # fmt: skip
        new.weight.copy_(old.dequantized_weight())
        setattr(parent, child, new.requires_grad_(False))
    return len(names)


def model_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and buffers, each storage counted once (tied weights are shared)."""
    seen: dict[int, int] = {}
    for t in [*model.parameters(), *model.buffers()]:
        seen.setdefault(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
    return sum(seen.values())


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers compute in int8 (PyTorch's dynamic quantization, CPU).

    Weights are stored as int8 with one scale per tensor; activations are quantized on the fly,
    per batch. ``torch.ao.quantization`` is deprecated in favour of the separate torchao
    package; its deprecation warnings are silenced here. Inference only.
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)
