"""Pruning: remove weights that matter little, unstructured (single weights) or structured (whole channels).

- ``magnitude_prune_``: set the smallest-magnitude fraction of each decoder linear layer's
  weights to zero, in place (what ``torch.nn.utils.prune.l1_unstructured`` does, without its
  re-parametrisation). The matrices keep their shape: a dense matrix product costs the same.
- ``prune_mlp_channels``: remove a fraction of the intermediate channels of every MLP block
  (a row of ``gate_proj`` and ``up_proj``, a column of ``down_proj``). The matrices get smaller,
  so the products get cheaper. Two scores rank the channels: the weights alone (the product of
  the norms of those three) or, given ``mlp_activation_norms`` from a few calibration batches,
  what each channel actually sends out, ``||x_j|| * ||down_:,j||`` (the idea of Wanda, Sun et al. 2024,
  applied to whole channels). Chapter 12 measures that only the second keeps the model alive.
- ``sparsity``: the share of zeros in the decoder's linear weights.
- ``keep_zeros_``: gradient hooks that keep pruned weights at zero while the model is fine-tuned
  again to recover what pruning cost.

Taught in chapter 12, section 12.5.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "decoder_linears",
    "keep_zeros_",
    "magnitude_prune_",
    "mlp_activation_norms",
    "mlp_channel_scores",
    "prune_mlp_channels",
    "sparsity",
]


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")


def decoder_linears(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """The linear layers inside the decoder blocks (attention and MLP), by name; embeddings and output layer excluded."""
    found = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in f".{name}"}
    if not found:
        raise ValueError("no linear layer inside model.layers: is this a decoder-only transformer?")
    return found


@torch.no_grad()
def magnitude_prune_(model: torch.nn.Module, amount: float) -> int:
    """Zero the ``amount`` share of smallest-magnitude weights of each decoder linear layer, in place.

    Each layer is pruned on its own (the same share everywhere), as ``l1_unstructured``.

    Returns:
        How many weights were set to zero.

    Raises:
        ValueError: for ``amount`` outside [0, 1).
    """
    _check_fraction(amount, "amount")
    zeroed = 0
    for layer in decoder_linears(model).values():
        w = layer.weight
        k = round(amount * w.numel())
        if k == 0:
            continue
        drop = torch.topk(w.abs().flatten(), k, largest=False).indices
        w.view(-1)[drop] = 0.0
        zeroed += k
    return zeroed


def sparsity(model: torch.nn.Module) -> float:
    """Share of exact zeros among the weights of the decoder's linear layers."""
    layers = decoder_linears(model).values()
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)


def keep_zeros_(model: torch.nn.Module) -> list:
    """Make the zero weights of the decoder's linear layers stay zero during training, in place.

    A hook multiplies each weight's gradient by the mask of its non-zero entries. With a zero
    gradient and no weight decay, AdamW leaves a weight where it is (its moments stay zero), so
    the pruned weights stay pruned while the others are fine-tuned.

    Returns:
        The hook handles (call ``.remove()`` on each to undo).
    """
    handles = []
    for layer in decoder_linears(model).values():
        mask = (layer.weight != 0).to(layer.weight.dtype)
        handles.append(layer.weight.register_hook(lambda grad, mask=mask: grad * mask))
    return handles


def mlp_channel_scores(mlp: torch.nn.Module, activation_norm: torch.Tensor | None = None) -> torch.Tensor:
    """One score per intermediate channel j of a gated MLP block.

    Without ``activation_norm``: ``|gate_j| * |up_j| * |down_:,j|`` (L2 norms of its weights).
    With it (the channel's activation norm over calibration tokens, from ``mlp_activation_norms``):
    ``activation_norm_j * |down_:,j|``, the size of what channel j adds to the block's output.
    A channel whose weights are all zero scores 0 either way.
    """
    gate, up, down = mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight
    if activation_norm is None:
        return gate.norm(dim=1) * up.norm(dim=1) * down.norm(dim=0)  # (intermediate,)
    if activation_norm.shape != (down.shape[1],):
        raise ValueError(f"activation_norm has shape {tuple(activation_norm.shape)}, expected ({down.shape[1]},)")
    return activation_norm.to(down.dtype) * down.norm(dim=0)


@torch.no_grad()
def mlp_activation_norms(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
    """The L2 norm of each MLP channel's activation (the input of ``down_proj``) over the calibration tokens.

    Args:
        model: a decoder-only model with gated MLP blocks.
        batches: dicts with ``input_ids`` and ``attention_mask`` (padding positions are left out).

    Returns:
        One (intermediate,) tensor per decoder layer, in fp32.
    """
    blocks = [layer.mlp for layer in model.model.layers]
    squares = [torch.zeros(b.down_proj.in_features) for b in blocks]
    seen: dict[int, torch.Tensor] = {}
    hooks = [b.down_proj.register_forward_pre_hook(lambda mod, inp, i=i: seen.__setitem__(i, inp[0]))
             for i, b in enumerate(blocks)]
    tokens = 0
    try:
        for batch in batches:
            mask = batch["attention_mask"].bool()
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
            for i, x in seen.items():
                squares[i] += x[mask.to(x.device)].float().pow(2).sum(0).cpu()  # (intermediate,)
            tokens += int(mask.sum())
    finally:
        for h in hooks:
            h.remove()
    if tokens == 0:
        raise ValueError("no calibration token: give at least one batch with a non-padding token")
    return [s.sqrt() for s in squares]


def _shrink(layer: torch.nn.Linear, index: torch.Tensor, dim: int) -> torch.nn.Linear:
    weight = layer.weight.index_select(dim, index)
    new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None,
                          device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    if layer.bias is not None:
        new.bias.data.copy_(layer.bias if dim == 1 else layer.bias[index])
    new.weight.requires_grad_(layer.weight.requires_grad)
    return new


@torch.no_grad()
def prune_mlp_channels(
    model: torch.nn.Module, amount: float, activation_norms: Sequence[torch.Tensor] | None = None
) -> torch.nn.Module:
    """A copy of ``model`` whose MLP blocks keep the ``1 - amount`` share of their highest-scoring channels.

    The same number of channels is removed in every block (``mlp_channel_scores`` ranks them
    within the block, by the weights alone or, given ``activation_norms`` from
    ``mlp_activation_norms``, by what each channel sends out), and ``config.intermediate_size``
    is updated, so the pruned model is an ordinary, smaller dense model.

    Raises:
        ValueError: for ``amount`` outside [0, 1), a model without gated MLP blocks, or
            ``activation_norms`` that do not match the blocks.
    """
    _check_fraction(amount, "amount")
    pruned = copy.deepcopy(model)
    blocks = [layer.mlp for layer in pruned.model.layers]
    if not all(hasattr(b, name) for b in blocks for name in ("gate_proj", "up_proj", "down_proj")):
        raise ValueError("prune_mlp_channels needs gated MLP blocks (gate_proj, up_proj, down_proj)")
    if activation_norms is not None and len(activation_norms) != len(blocks):
        raise ValueError(f"{len(activation_norms)} activation norms for {len(blocks)} MLP blocks")
    width = blocks[0].gate_proj.out_features
    keep_count = width - round(amount * width)
    for i, mlp in enumerate(blocks):
        norm = None if activation_norms is None else activation_norms[i]
        keep = torch.topk(mlp_channel_scores(mlp, norm), keep_count).indices.sort().values
        mlp.gate_proj = _shrink(mlp.gate_proj, keep, 0)
        mlp.up_proj = _shrink(mlp.up_proj, keep, 0)
        mlp.down_proj = _shrink(mlp.down_proj, keep, 1)
        if hasattr(mlp, "intermediate_size"):
            mlp.intermediate_size = keep_count
    pruned.config.intermediate_size = keep_count
    return pruned
