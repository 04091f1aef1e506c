"""What a LoRA configuration costs in trainable parameters, and ranks that match a budget.

A LoRA pair on a linear layer with ``d_in`` inputs and ``d_out`` outputs holds
``r * (d_in + d_out)`` numbers (A is r x d_in, B is d_out x r). Which layers it adapts decides
the cost of one unit of rank: in SmolLM2-135M a rank-1 pair on the query and value projections
costs far less than one on every linear layer. To compare *where* LoRA goes without also
comparing *how much* it trains, chapter 7 gives each choice of layers the rank that brings its
count closest to a common budget (``matched_ranks``).

Taught in chapter 7, section 7.3.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = [
    "ALL_LINEAR",
    "TARGET_GROUPS",
    "linear_shapes",
    "lora_parameter_count",
    "matched_ranks",
    "rank_for_budget",
]

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# The choices of layers chapter 7 compares (Llama-style names, as in SmolLM2).
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    "q, v (LoRA paper)": ("q_proj", "v_proj"),
    "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "MLP": ("gate_proj", "up_proj", "down_proj"),
    "all linear": ALL_LINEAR,
}


def _as_names(target_modules: Sequence[str]) -> set[str]:
    if isinstance(target_modules, str):
        raise TypeError(f"target_modules must be a list of layer names, like [{target_modules!r}], not a string")
    names = set(target_modules)
    if not names:
        raise ValueError("target_modules is empty: name the linear layers to adapt, e.g. ['q_proj', 'v_proj']")
    return names


def linear_shapes(model: nn.Module, target_modules: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{module name: (d_out, d_in)}`` of the linear layers whose last name component is targeted.

    Layers already wrapped by peft count by their base layer. The output head ``lm_head`` is
    included only when it is named, as in peft.

    Raises:
        TypeError: for a single string instead of a list of names.
        ValueError: for an empty list, or a name that matches no linear layer (a typo would
            otherwise silently adapt fewer layers than intended).
    """
    targets = _as_names(target_modules)
    shapes: dict[str, tuple[int, int]] = {}
    for name, module in model.named_modules():
        layer = getattr(module, "base_layer", module)  # a peft LoRA layer wraps the original nn.Linear
        if name.rsplit(".", 1)[-1] in targets and isinstance(layer, nn.Linear):
            shapes[name] = (layer.out_features, layer.in_features)
    found = {n.rsplit(".", 1)[-1] for n in shapes}
    missing = sorted(targets - found)
    if missing:
        available = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no linear layer is called {missing}; this model's linear layers are named {available}")
    return shapes


def lora_parameter_count(model: nn.Module, target_modules: Sequence[str], r: int) -> int:
    """Trainable parameters of plain LoRA at rank ``r`` on the targeted layers: ``r * sum(d_in + d_out)``.

    Raises:
        ValueError: for a rank below 1, or a target that matches no layer (see ``linear_shapes``).
    """
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"the rank r must be an integer >= 1, got {r!r}")
    return r * sum(d_out + d_in for d_out, d_in in linear_shapes(model, target_modules).values())


def rank_for_budget(model: nn.Module, target_modules: Sequence[str], budget: int) -> int:
    """The rank (at least 1) whose parameter count on the targeted layers is closest to ``budget``."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a positive number of parameters, got {budget!r}")
    per_rank = lora_parameter_count(model, target_modules, 1)
    low = max(1, budget // per_rank)
    return min((low, low + 1), key=lambda r: abs(r * per_rank - budget))


def matched_ranks(
    model: nn.Module,
    groups: dict[str, Sequence[str]],
    reference: str,
    reference_r: int,
    tolerance: float = 0.10,
) -> dict[str, dict[str, float]]:
    """Give every group of layers the rank that matches the budget of ``groups[reference]`` at ``reference_r``.

    Returns:
        ``{group: {"r": rank, "parameters": count, "off_by": count / budget - 1}}``.

    Raises:
        KeyError: when ``reference`` is not one of the groups.
        ValueError: when a group cannot come within ``tolerance`` of the budget (one unit of its
            rank costs too much: lower the tolerance's demands or raise the reference rank).
    """
    if reference not in groups:
        raise KeyError(f"reference {reference!r} is not one of the groups {list(groups)}")
    budget = lora_parameter_count(model, groups[reference], reference_r)
    matched = {}
    for name, targets in groups.items():
        r = rank_for_budget(model, targets, budget)
        count = lora_parameter_count(model, targets, r)
        off_by = count / budget - 1
        if abs(off_by) > tolerance:
            raise ValueError(
                f"{name}: the nearest rank, {r}, gives {count:,} parameters, {off_by:+.1%} from the budget "
                f"{budget:,} (tolerance {tolerance:.0%}); use a larger reference rank"
            )
        matched[name] = {"r": r, "parameters": count, "off_by": off_by}
    return matched
