"""Clear errors for the LoRA mistakes that peft lets through or answers obscurely.

peft catches some mistakes itself, with a clear message: a rank of 0, an unknown
initialisation. Others it lets through or reports in a way that hides the cause:

- a typo in *one* of several ``target_modules`` names adapts fewer layers, without a word;
- a single string such as ``"q_proj"`` is read as a regular expression that must match a
  module's *full* name, so it matches nothing, and the error does not say why;
- a path that is not a local folder is taken for a Hugging Face Hub repository and looked up
  online, which offline means a minute of retries before the error;
- an adapter trained on a model of another shape fails with a long list of size mismatches.

``lora_model`` and ``load_adapter`` check these first and say what went wrong and what to write
instead; otherwise they do exactly what ``get_peft_model`` and ``PeftModel.from_pretrained`` do.

Taught in chapter 7, section 7.8.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

__all__ = ["AdapterMismatchError", "check_lora_config", "load_adapter", "lora_model"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterMismatchError(ValueError):
    """An adapter does not fit the model it is loaded onto (another architecture or size)."""


def _base(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft model (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def check_lora_config(model: nn.Module, config) -> None:
    """Check a ``LoraConfig`` against ``model`` before peft uses it.

    Raises:
        ValueError: for a rank below 1, or a ``target_modules`` name that matches no linear layer
            (naming the layers the model has).
        TypeError: for ``target_modules`` given as a single layer name, which peft would read as a
            regular expression over full module names (``"q_proj"`` then matches nothing).
    """
    r = getattr(config, "r", None)
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"LoraConfig r={r!r}: the rank must be an integer >= 1 (r=8 is a common start)")
    targets = config.target_modules
    if targets is None or targets == "all-linear":
        return
    if isinstance(targets, str):
        raise TypeError(
            f"target_modules={targets!r} is one string: peft reads it as a regular expression that must match a "
            f"module's full name (such as 'model.layers.0.self_attn.q_proj'), so it matches nothing here. "
            f"Write a list of layer names, target_modules=[{targets!r}], or 'all-linear'"
        )
    names = [n for n, m in _base(model).named_modules() if isinstance(getattr(m, "base_layer", m), nn.Linear)]
    # peft's rule for a list: a target matches a module whose name is the target or ends with "." + target
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        available = sorted({n.rsplit(".", 1)[-1] for n in names})
        raise ValueError(
            f"target_modules {missing} match no linear layer, and peft would silently adapt only the others; "
            f"this model's linear layers are named {available}"
        )


def lora_model(model: nn.Module, config):
    """``peft.get_peft_model(model, config)``, after ``check_lora_config``.

    Raises:
        ValueError, TypeError: see ``check_lora_config``.
    """
    from peft import get_peft_model

    check_lora_config(model, config)
    return get_peft_model(model, config)


def _adapter_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """The shapes of the tensors in an adapter folder's weights file, read without loading them."""
    weights = folder / ADAPTER_WEIGHTS[0]
    if not weights.is_file():
        return {}  # an older .bin adapter: leave the check to peft
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def _check_shapes(model: nn.Module, folder: Path) -> None:
    base = _base(model)
    modules = dict(base.named_modules())
    trained_on = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path") or "unknown"
    for key, shape in _adapter_shapes(folder).items():
        if ".lora_A." not in key and ".lora_B." not in key:
            continue
        name = key.split(".lora_")[0].removeprefix("base_model.model.")
        if name not in modules:
            raise AdapterMismatchError(
                f"the adapter adapts {name!r}, which this model does not have: it was trained on another "
                f"architecture (its base model: {trained_on})"
            )
        layer = getattr(modules[name], "base_layer", modules[name])
        if not isinstance(layer, nn.Linear):
            continue
        want = layer.in_features if ".lora_A." in key else layer.out_features
        got = shape[1] if ".lora_A." in key else shape[0]
        if want != got:
            side = "inputs" if ".lora_A." in key else "outputs"
            raise AdapterMismatchError(
                f"the adapter was trained on a model whose {name} has {got} {side}; this model's has {want}. "
                f"Load it onto the base model it was trained on ({trained_on})"
            )


def load_adapter(model: nn.Module, path: str | Path, adapter_name: str = "default", is_trainable: bool = False):
    """Load a saved LoRA adapter onto ``model``: ``PeftModel.from_pretrained``, or ``load_adapter`` on a peft model.

    Args:
        model: a transformers model, or a peft model that already holds adapters (the new one is added
            under ``adapter_name``, and ``set_adapter`` switches to it).
        path: the folder ``save_pretrained`` wrote.

    Returns:
        The peft model.

    Raises:
        FileNotFoundError: when ``path`` is not a folder holding ``adapter_config.json``.
        AdapterMismatchError: when the adapter's shapes do not fit this model.
    """
    folder = Path(path)
    if not (folder / ADAPTER_CONFIG).is_file():
        why = "the folder exists but holds no adapter_config.json" if folder.is_dir() else "no such folder"
        raise FileNotFoundError(
            f"no adapter at {str(folder)!r} ({why}). save_pretrained writes an adapter folder; note that peft "
            f"takes a path that is not a local folder for a Hugging Face Hub repository and looks it up online"
        )
    _check_shapes(model, folder)
    if hasattr(model, "peft_config"):
        model.load_adapter(str(folder), adapter_name=adapter_name, is_trainable=is_trainable)
        return model
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder), adapter_name=adapter_name, is_trainable=is_trainable)
