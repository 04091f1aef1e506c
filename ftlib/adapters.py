"""Bottleneck adapters (Houlsby et al. 2019), written from scratch: peft does not ship them.

An adapter is a small network inserted after a sublayer of every transformer block:

    h  ->  h + W_up f(W_down h + b_down) + b_up

with ``W_down`` of shape (m, d) projecting the d-dimensional output down to a bottleneck of m,
a nonlinearity f, and ``W_up`` of shape (d, m) projecting back; the residual ``h +`` keeps the
sublayer's output. ``W_up`` and ``b_up`` start at zero, so the adapted model starts out equal to
the base model, as LoRA does with B = 0. Houlsby et al. insert two adapters per block, after the
attention's output projection and after the feed-forward block, before each residual sum; in a
Llama block these are the outputs of ``o_proj`` and ``down_proj``, which is where ``add_adapters``
puts them. An insertion trains 2dm + d + m parameters.

Unlike LoRA, an adapter cannot be merged into the weights (the nonlinearity is in the way), so it
adds its two small matrix products to every forward pass, at inference too. Houlsby et al. also
train the layer norms; ``add_adapters`` leaves them frozen so that the adapter's own effect is
measured (``LNTuningConfig`` in peft trains the norms alone).

Taught in chapter 8 (the PEFT family side by side).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ADAPTER_TARGETS", "BottleneckAdapter", "adapter_parameters", "adapter_state_dict", "add_adapters"]

ADAPTER_TARGETS = ("o_proj", "down_proj")  # after attention and after the MLP, as Houlsby et al.


class BottleneckAdapter(nn.Module):
    """A sublayer followed by a bottleneck adapter: ``y = base(x); y + up(act(down(y)))``."""

    def __init__(self, base: nn.Module, dim: int, bottleneck: int, activation: str = "gelu"):
        super().__init__()
        if not isinstance(bottleneck, int) or isinstance(bottleneck, bool) or bottleneck < 1:
            raise ValueError(f"the bottleneck size must be an integer >= 1, got {bottleneck!r}")
        acts = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}
        if activation not in acts:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(acts)}")
        self.base = base
        weight = next(base.parameters(), None)
        kwargs = {"dtype": weight.dtype, "device": weight.device} if weight is not None else {}
        self.down = nn.Linear(dim, bottleneck, **kwargs)  # PyTorch's default (Kaiming-uniform) init
        self.act = acts[activation]()
        self.up = nn.Linear(bottleneck, dim, **kwargs)
        nn.init.zeros_(self.up.weight)  # the adapted model starts equal to the base model
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)
        return h + self.up(self.act(self.down(h)))


def add_adapters(
    model: nn.Module, bottleneck: int = 16, targets: Sequence[str] = ADAPTER_TARGETS, activation: str = "gelu"
) -> nn.Module:
    """Freeze ``model`` and wrap every linear layer named in ``targets`` with a ``BottleneckAdapter``.

    A target matches a module whose name is the target or ends with ``"." + target`` (peft's rule).
    Returns the model, changed in place; only the adapters' parameters train.

    Raises:
        TypeError: for ``targets`` given as one string.
        ValueError: for a target that matches no linear layer (naming the layers the model has), or
            a model that already has adapters.
    """
    if isinstance(targets, str):
        raise TypeError(f"targets={targets!r} is one string; write a list, targets=[{targets!r}]")
    if any(isinstance(m, BottleneckAdapter) for m in model.modules()):
        raise ValueError("this model already has bottleneck adapters; load a fresh base model")
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    chosen = {n: m for n, m in linears.items() if any(n == t or n.endswith("." + t) for t in targets)}
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in chosen)]
    if missing:
        names = sorted({n.rsplit(".", 1)[-1] for n in linears})
        raise ValueError(f"targets {missing} match no linear layer; this model's linear layers are named {names}")
    model.requires_grad_(False)
    for name, layer in chosen.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, BottleneckAdapter(layer, layer.out_features, bottleneck, activation))
    return model


def adapter_parameters(model: nn.Module) -> int:
    """The number of parameters in the model's adapters: 2dm + d + m per insertion."""
    return sum(p.numel() for m in model.modules() if isinstance(m, BottleneckAdapter)
               for p in [*m.down.parameters(), *m.up.parameters()])  # fmt: skip


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' weights alone (what a checkpoint of the adapter needs), keyed by module name."""
    return {
        f"{name}.{part}.{key}": tensor.detach().clone()
        for name, module in model.named_modules()
        if isinstance(module, BottleneckAdapter)
        for part in ("down", "up")
        for key, tensor in getattr(module, part).state_dict().items()
    }
