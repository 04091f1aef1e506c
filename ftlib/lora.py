"""LoRA from scratch: a frozen linear layer plus a trainable low-rank update.

``LoRALinear`` wraps a ``torch.nn.Linear`` ``W`` and computes ``W x + B A x * scaling``,
with ``A`` (r x in) and ``B`` (out x r) the only trainable weights. ``add_lora`` puts such
layers into a model, ``save_lora`` / ``load_lora`` keep just the adapter, ``merge_lora``
folds ``B A * scaling`` into ``W`` for inference. The attribute names are peft's
(``base_layer``, ``lora_A``, ``lora_B``, ``scaling``), so ``to_peft_state_dict`` can hand
our weights to a peft model and the two can be compared.

Taught in chapter 6, "LoRA from scratch".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "LoRALinear",
    "add_lora",
    "load_lora",
    "lora_layers",
    "lora_state_dict",
    "merge_lora",
    "save_lora",
    "to_peft_state_dict",
    "unmerge_lora",
]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus the update ``lora_B(lora_A(dropout(x))) * scaling``.

    At initialisation ``lora_A`` is Kaiming-uniform (as ``nn.Linear`` and peft) and
    ``lora_B`` is zero, so the layer computes exactly what ``base_layer`` computes
    until ``B`` is trained.

    Args:
        base_layer: the linear layer to adapt; its parameters are frozen.
        r: the rank of the update.
        lora_alpha: scale of the update: ``scaling = lora_alpha / r``.
        lora_dropout: dropout on the input of the LoRA branch only (0: none).
        use_rslora: rank-stabilised LoRA, ``scaling = lora_alpha / sqrt(r)``.

    Raises:
        TypeError: when ``base_layer`` is not an ``nn.Linear``.
        ValueError: when ``r`` is not an integer >= 1 or ``lora_dropout`` is not
            in [0, 1).
    """

    def __init__(
        self,
        base_layer: nn.Linear,
        r: int = 8,
        lora_alpha: float = 16,
        lora_dropout: float = 0.0,
        use_rslora: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(
                f"LoRALinear wraps an nn.Linear, got {type(base_layer).__name__}"
            )
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"the rank r must be an integer >= 1, got {r!r}")
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout}")
        self.base_layer = base_layer.requires_grad_(False)
        self.r = r
        self.lora_alpha = lora_alpha
        self.scaling = lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r
        self.lora_dropout = (
            nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        )
        weight = base_layer.weight
        self.lora_A = nn.Linear(
            base_layer.in_features,
            r,
            bias=False,
            device=weight.device,
            dtype=weight.dtype,
        )
        self.lora_B = nn.Linear(
            r,
            base_layer.out_features,
            bias=False,
            device=weight.device,
            dtype=weight.dtype,
        )
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``base_layer(x)`` plus the LoRA update (only the base layer once merged)."""
        result = self.base_layer(x)
        if self.merged:
            return result
        return result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The update ``B @ A * scaling`` added to the base weight, shape (out, in)."""
        return self.lora_B.weight @ self.lora_A.weight * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update to the base weight in place; ``forward`` then skips LoRA.

        Raises:
            RuntimeError: when the layer is already merged (merging twice would add
                the update twice).
        """
        if self.merged:
            raise RuntimeError("this LoRA layer is already merged; unmerge() it first")
        self.base_layer.weight += self.delta_weight().to(self.base_layer.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update from the base weight again, undoing :meth:`merge`.

        Raises:
            RuntimeError: when the layer is not merged.
        """
        if not self.merged:
            raise RuntimeError("this LoRA layer is not merged: nothing to unmerge")
        self.base_layer.weight -= self.delta_weight().to(self.base_layer.weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        return (
            f"r={self.r}, lora_alpha={self.lora_alpha}, scaling={self.scaling:g}, "
            f"merged={self.merged}"
        )


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The model's ``LoRALinear`` layers by module name, in model order."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, LoRALinear)
    }


def add_lora(
    model: nn.Module,
    target_modules: Sequence[str],
    r: int = 8,
    lora_alpha: float = 16,
    lora_dropout: float = 0.0,
    use_rslora: bool = False,
) -> list[str]:
    """Freeze the model, then wrap each targeted ``nn.Linear`` in a LoRALinear.

    A layer is targeted when the last part of its name is in ``target_modules``
    (``"q_proj"`` matches ``model.layers.0.self_attn.q_proj``). Afterwards only the
    LoRA weights require gradients, and the outputs are unchanged (``lora_B`` is 0).

    Returns:
        The names of the replaced modules.

    Raises:
        TypeError: when ``target_modules`` is one string instead of a list of names.
        ValueError: when a target name matches no module (a typo) or a module that
            is not an ``nn.Linear`` (such as GPT-2's ``Conv1D``), or when a matching
            layer already has LoRA. A refused call changes nothing.
    """
    if isinstance(target_modules, str):
        raise TypeError(
            f"target_modules must be a list of names, like [{target_modules!r}]"
        )
    targets = sorted(set(target_modules))
    if not targets:
        raise ValueError("target_modules is empty: name layers, e.g. ['q_proj']")
    found = {target: [] for target in targets}  # target name -> modules it matches
    for name, module in model.named_modules():
        if (last := name.rsplit(".", 1)[-1]) in found:
            found[last].append(module)
    problems = []
    for target, modules in found.items():
        other = [m for m in modules if not isinstance(m, nn.Linear)]
        kinds = sorted({type(m).__name__ for m in other})
        if not modules:
            problems.append(f"{target!r} matches no module (a typo?)")
        elif "LoRALinear" in kinds:
            problems.append(f"{target!r} already has LoRA (add_lora ran before)")
        elif kinds:
            problems.append(f"{target!r} matches {kinds}, not nn.Linear")
    if problems:
        hint = ""
        if any("Conv1D" in problem for problem in problems):
            hint = (
                ". GPT-2's Conv1D stores its weight transposed and is not supported"
                " here; peft adapts it with fan_in_fan_out=True"
            )
        raise ValueError(
            "every target must name nn.Linear layers: " + "; ".join(problems) + hint
        )
    names = [n for n, _ in model.named_modules() if n.rsplit(".", 1)[-1] in found]
    model.requires_grad_(False)
    # Replace after collecting: never change a model while walking it.
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        base_layer = getattr(parent, child)
        lora = LoRALinear(base_layer, r, lora_alpha, lora_dropout, use_rslora)
        setattr(parent, child, lora)
    return names


def _layers_or_raise(model: nn.Module) -> dict[str, LoRALinear]:
    layers = lora_layers(model)
    if not layers:
        raise ValueError(
            "the model has no LoRA layers; call add_lora(model, target_modules) first"
        )
    return layers


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA weights only, as ``{"<module>.lora_A.weight": A, "<module>.lora_B.weight": B, ...}``.

    The tensors are detached but share memory with the model, as ``state_dict()`` does.
    """
    tensors = {}
    for name, layer in lora_layers(model).items():
        tensors[f"{name}.lora_A.weight"] = layer.lora_A.weight.detach()
        tensors[f"{name}.lora_B.weight"] = layer.lora_B.weight.detach()
    return tensors


def save_lora(model: nn.Module, path: str | Path) -> Path:
    """Save :func:`lora_state_dict` as a safetensors file; returns the path written.

    Raises:
        ValueError: when the model has no LoRA layers.
    """
    from safetensors.torch import save_file

    _layers_or_raise(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.to("cpu").contiguous() for k, v in lora_state_dict(model).items()},
        str(path),
    )
    return path


@torch.no_grad()
def load_lora(model: nn.Module, path: str | Path) -> None:
    """Copy LoRA weights saved by :func:`save_lora` into a model that already has the same LoRA layers.

    Call ``add_lora`` with the same targets and rank first. Weights are cast to each layer's
    device and dtype.

    Raises:
        ValueError: when the model has no LoRA layers or some are merged, or when the file's
            names or shapes do not match the model's LoRA weights.
    """
    from safetensors.torch import load_file

    layers = _layers_or_raise(model)
    if any(layer.merged for layer in layers.values()):
        raise ValueError(
            "the model's LoRA layers are merged; call unmerge_lora(model) before loading"
        )
    saved = load_file(str(path))
    current = lora_state_dict(model)
    missing = sorted(current.keys() - saved.keys())
    unexpected = sorted(saved.keys() - current.keys())
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match the model's LoRA layers: {len(missing)} missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]}); were the same target_modules used?"
        )
    for key, tensor in saved.items():
        if tensor.shape != current[key].shape:
            raise ValueError(
                f"{key}: saved shape {tuple(tensor.shape)}, model has {tuple(current[key].shape)}; was the same r used?"
            )
    for key, tensor in saved.items():
        current[key].copy_(tensor)


def merge_lora(model: nn.Module) -> int:
    """Merge every LoRA layer into its base weight (see :meth:`LoRALinear.merge`); returns how many.

    Raises:
        ValueError: when the model has no LoRA layers.
        RuntimeError: when some layer is already merged (then none is changed).
    """
    layers = _layers_or_raise(model)
    merged = [name for name, layer in layers.items() if layer.merged]
    if merged:
        raise RuntimeError(
            f"{merged[0]} is already merged; call unmerge_lora(model) first"
        )
    for layer in layers.values():
        layer.merge()
    return len(layers)


def unmerge_lora(model: nn.Module) -> int:
    """Undo :func:`merge_lora` on every LoRA layer; returns how many.

    Raises:
        ValueError: when the model has no LoRA layers.
        RuntimeError: when some layer is not merged (then none is changed).
    """
    layers = _layers_or_raise(model)
    unmerged = [name for name, layer in layers.items() if not layer.merged]
    if unmerged:
        raise RuntimeError(f"{unmerged[0]} is not merged: nothing to unmerge")
    for layer in layers.values():
        layer.unmerge()
    return len(layers)


def to_peft_state_dict(
    model: nn.Module, adapter_name: str | None = "default"
) -> dict[str, torch.Tensor]:
    """Our LoRA weights under the names peft gives them, to load into a peft model of the same base.

    ``get_peft_model(model, config)`` wraps the model twice (``PeftModel.base_model`` is a
    ``LoraModel`` whose ``.model`` is ours) and keeps one ``lora_A`` / ``lora_B`` per adapter,
    so ``model.layers.0.self_attn.q_proj.lora_A.weight`` becomes
    ``base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight``.
    Load the result with ``peft_model.load_state_dict(..., strict=False)`` (the base weights
    are not in it). With ``adapter_name=None`` the keys are those of peft's saved
    ``adapter_model.safetensors``, which leave the adapter name out.
    """
    infix = f".{adapter_name}" if adapter_name else ""
    tensors = {}
    for key, tensor in lora_state_dict(model).items():
        module, matrix, _ = key.rsplit(
            ".", 2
        )  # "<module>", "lora_A" or "lora_B", "weight"
        tensors[f"base_model.model.{module}.{matrix}{infix}.weight"] = tensor
    return tensors
