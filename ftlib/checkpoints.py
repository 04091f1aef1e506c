"""Checkpoints that chapters hand to each other: where they live, what they hold, when to retrain.

- ``artifacts_dir``: the git-ignored folder for checkpoints (``artifacts/``).
- ``save_trainable``: the trained parameters as safetensors, with text metadata in the header.
- ``full_ft_settings`` and ``checkpoint_metadata``: what chapter 4's full fine-tuning run is.
- ``chapter4_checkpoint``: that run's checkpoint, reused only when its recorded profile and
  settings match the current ones, otherwise trained again (chapters 5 and 6 start from it).

Taught in chapter 4, section 4.8.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

__all__ = [
    "CHAPTER4_SEED",
    "artifacts_dir",
    "chapter4_checkpoint",
    "checkpoint_metadata",
    "full_ft_settings",
    "save_trainable",
]


def artifacts_dir() -> Path:
    """Where chapters write checkpoints and weight updates: ``$FTLIB_ARTIFACTS``, by default ``artifacts/``.

    The folder is created if needed and is ignored by git (its files are large and remade by the chapters).
    """
    path = Path(os.environ.get("FTLIB_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_trainable(model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Save the parameters that require gradients (all of them after full fine-tuning) as safetensors.

    Tied weights are saved once. ``metadata`` (strings only) goes into the file's header, where
    ``safetensors.safe_open(path, "pt").metadata()`` reads it back without loading the tensors.
    Returns the path written.

    Taught in chapter 4, section 4.8.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("metadata must map strings to strings (safetensors stores text only)")
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    tensors = {}
    for name, p in model.named_parameters():
        if p.requires_grad and p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            tensors[name] = p.detach().to("cpu").contiguous()
    if not tensors:
        raise ValueError("no parameter requires a gradient: nothing to save")
    save_file(tensors, str(path), metadata=metadata)
    return path


def full_ft_settings(profile) -> dict:
    """The settings of chapter 4's full fine-tuning run (section 4.3), for ``train``.

    Chapter 4 writes them out in a cell; a test keeps that cell and this function equal.
    """
    return dict(
        num_steps=profile.pick(gpu=60, cpu=10, smoke=2),
        batch_size=profile.pick(gpu=8, cpu=4, smoke=2),
        lr=1e-4,
        schedule="cosine",
        warmup_steps=2,
        max_grad_norm=1.0,
    )


CHAPTER4_SEED = 0  # the batch order of chapter 4's run (section 4.3)


def checkpoint_metadata(profile, settings: dict, seed: int = CHAPTER4_SEED) -> dict[str, str]:
    """What a chapter 4 checkpoint was trained with: profile, model, task, seed and settings, as text.

    Chapter 4 writes it into the checkpoint's header; ``chapter4_checkpoint`` compares it
    with what the current profile would train, so that a file made under another profile
    or with other settings is never reused by mistake.

    Taught in chapter 4, section 4.8.
    """
    return {
        "profile": profile.name,
        "model": profile.model_name,
        "task": "dates",
        "seed": str(seed),
        "settings": json.dumps(settings, sort_keys=True),
    }


def chapter4_checkpoint(profile, verbose: bool = True) -> Path:
    """The fully fine-tuned model of chapter 4 (section 4.8 saves it), as a safetensors file in ``artifacts_dir()``.

    The file is reused only when its header records the same profile, model, task, seed
    and settings (``checkpoint_metadata``) as ``full_ft_settings(profile)``. Otherwise (no file:
    chapter 4 not run in this checkout, a fresh Colab session; or a file from another profile
    or other settings) the same job is run again and the file rewritten. Chapters 5 and 6
    start from it.

    Taught in chapter 4, section 4.8; used in chapters 5 and 6.
    """
    from safetensors import safe_open

    from ftlib.data import data_dir, load_jsonl, tokenize_sft
    from ftlib.models import load_model
    from ftlib.train import train

    path = artifacts_dir() / "ch04_full_ft.safetensors"
    settings = full_ft_settings(profile)
    wanted = checkpoint_metadata(profile, settings)
    if path.exists():
        try:
            with safe_open(str(path), "pt") as f:
                found = f.metadata() or {}
        except Exception as exc:  # a truncated or foreign file: train again
            found = {"error": repr(exc)}
        if found == wanted:
            return path
        if verbose:
            differ = sorted(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
            print(f"{path.name} was made with other settings ({', '.join(differ)} differ): training it again")
    model, tokenizer = load_model(profile)
    model.requires_grad_(True)
    examples = [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")]
    train(model, examples, tokenizer.pad_token_id, seed=CHAPTER4_SEED,
          desc="chapter 4's full fine-tuning (no matching checkpoint found)", **settings)
    return save_trainable(model, path, metadata=wanted)
