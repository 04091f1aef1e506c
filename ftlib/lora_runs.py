"""One training run on a book task, as chapter 7's sweeps run it: LoRA in any of peft's variants, or full fine-tuning.

A sweep is many runs that differ in one setting. ``run`` makes each of them the same way:
seed everything, load a fresh base model, add the adapter (or unfreeze everything), train on the
task's training split with ``fit`` (chapter 4's loop), and score evaluation sets with
``ftlib.answer_eval.answer_scores`` (loss and greedy exact match per example). It records what a
comparison needs: trainable parameters, seconds per step, the memory training added, and the
per-example scores, so that two runs can be compared item by item.

``fit`` is ``ftlib.train.train`` when no optimizer is given. LoRA+ needs an optimizer with two
learning rates (peft's ``create_loraplus_optimizer``), which ``train`` cannot take; ``fit`` then runs
the same loop (same batches, same loss, same clipping and schedule) with that optimizer, every
group's learning rate following the schedule in proportion. A test checks that both loops agree.

``chapter7_adapters`` returns the two adapters of section 7.7 (dates and booking requests), saved
under ``artifacts/`` with the settings they were trained with; it trains them again when they are
missing or were made with other settings. Later chapters start from them.

Taught in chapter 7, sections 7.2 (runs) and 7.7 (saved adapters).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ftlib.answer_eval import answer_scores
from ftlib.data import IGNORE_INDEX, collate, data_dir, load_jsonl, tokenize_sft
from ftlib.lora_budget import ALL_LINEAR
from ftlib.train import (
    History,
    artifacts_dir,
    draw_batches,
    lr_at,
    real_token_logits,
    train,
)

__all__ = [
    "PEFT_CONFIGS",
    "REFERENCE_LORA",
    "TASKS",
    "Budget",
    "adapter_file_bytes",
    "adapter_settings",
    "apply_method",
    "chapter7_adapters",
    "check_method",
    "fit",
    "make_model",
    "reference_budget",
    "run",
    "task_examples",
    "train_task_adapter",
]

TASKS = ("dates", "requests")
LORA_KEYS = ("target_modules", "r", "lora_alpha", "use_rslora", "use_dora", "init_lora_weights")


@dataclass(frozen=True)
class Budget:
    """How a run trains: steps, batch, learning rate and schedule (AdamW, as ``ftlib.train.train``)."""

    num_steps: int
    batch_size: int
    lr: float
    schedule: str = "constant"
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0


def task_examples(tokenizer, task: str, split: str, limit: int | None = None) -> list[dict[str, list[int]]]:
    """The tokenized examples of ``data/<task>/<split>.jsonl`` (the first ``limit`` of them).

    Raises:
        ValueError: for an unknown task or split.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    if split not in ("train", "validation", "test"):
        raise ValueError(f"unknown split {split!r}; choose train, validation or test")
    records = load_jsonl(data_dir() / task / f"{split}.jsonl")[:limit]
    return [tokenize_sft(r, tokenizer) for r in records]


def _fit_with(model, examples, pad_token_id, budget: Budget, seed: int, opt, progress: bool, desc: str) -> History:
    """``ftlib.train.train``'s loop, with a given optimizer whose groups keep their learning-rate ratios."""
    from tqdm import tqdm

    params = [p for group in opt.param_groups for p in group["params"]]
    base_lrs = [group["lr"] for group in opt.param_groups]
    batches = draw_batches(len(examples), budget.num_steps, budget.batch_size, seed)
    device = next(model.parameters()).device
    history = History()
    model.train()
    for step in (bar := tqdm(range(budget.num_steps), desc=desc, disable=not progress)):
        start = time.perf_counter()
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in batches[step]], pad_token_id).items()}
        n_answer = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
        logits = real_token_logits(logits, batch["input_ids"])  # without prompt tuning's virtual tokens
        shifted = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), shifted.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        ) / max(1, n_answer)
        del logits
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, budget.max_grad_norm) if budget.max_grad_norm else float("nan")
        factor = lr_at(step, 1.0, budget.num_steps, budget.schedule, budget.warmup_steps)
        for group, base_lr in zip(opt.param_groups, base_lrs):
            group["lr"] = base_lr * factor
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.loss.append(loss.item())
        history.lr.append(opt.param_groups[0]["lr"])
        history.grad_norm.append(float(norm))
        history.tokens.append(batch["input_ids"].numel())
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    model.eval()
    return history


def fit(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    budget: Budget,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = True,
    desc: str = "training",
    val_examples: Sequence[dict[str, list[int]]] | None = None,
    eval_every: int = 0,
) -> History:
    """Train ``model`` on ``examples`` with ``budget``: ``ftlib.train.train``, or its loop with ``optimizer``.

    Args:
        optimizer: None for AdamW at ``budget.lr`` (``train``); or a ready optimizer, such as peft's
            ``create_loraplus_optimizer``, whose groups' learning rates each follow the schedule.
        val_examples, eval_every: the validation loss every ``eval_every`` steps (``train``'s; not
            with an ``optimizer``).

    Raises:
        ValueError: for an empty example list, an optimizer that holds no parameter, or validation
            asked together with an optimizer.
    """
    if not examples:
        raise ValueError("no training examples")
    if optimizer is None:
        return train(
            model, examples, pad_token_id, budget.num_steps, budget.batch_size, budget.lr, seed, desc,
            schedule=budget.schedule, warmup_steps=budget.warmup_steps, max_grad_norm=budget.max_grad_norm,
            val_examples=val_examples, eval_every=eval_every, progress=progress,
        )  # fmt: skip
    if val_examples and eval_every:
        raise ValueError("validation during training runs with the default optimizer only (optimizer=None)")
    if not any(group["params"] for group in optimizer.param_groups):
        raise ValueError("the optimizer holds no parameters: nothing to train")
    lr_at(0, 1.0, budget.num_steps, budget.schedule, budget.warmup_steps)  # validates the schedule
    return _fit_with(model, examples, pad_token_id, budget, seed, optimizer, progress, desc)


PEFT_CONFIGS = (  # peft's configurations that kind "peft" accepts by name (chapter 8)
    "IA3Config",
    "LNTuningConfig",
    "LoHaConfig",
    "LoKrConfig",
    "PrefixTuningConfig",
    "PromptEncoderConfig",
    "PromptTuningConfig",
    "VeraConfig",
)


def make_model(profile, method: dict[str, Any]):
    """A fresh base model with ``method`` applied; returns ``(model, tokenizer, optimizer or None)``.

    ``load_model(profile)``, then ``apply_method``; see there for ``method``.
    """
    from ftlib.models import load_model

    check_method(method)
    model, tokenizer = load_model(profile)
    model, optimizer = apply_method(model, method)
    return model, tokenizer, optimizer


def check_method(method: dict[str, Any]) -> None:
    """Raise ValueError for a ``method`` of an unknown kind or peft configuration (before any model loads)."""
    kind = method.get("kind")
    if kind not in ("full", "lora", "peft", "adapter"):
        raise ValueError(f"method kind must be 'full', 'lora', 'peft' or 'adapter', got {kind!r}")
    if kind == "peft" and method.get("config") not in PEFT_CONFIGS:
        raise ValueError(f"unknown peft config {method.get('config')!r}; choose one of {PEFT_CONFIGS}")
    if kind == "lora":
        unknown = set(method) - {"kind", "loraplus_lr_ratio", "lr", *LORA_KEYS}
        if unknown:
            raise ValueError(f"unknown LoRA settings {sorted(unknown)}; known: {LORA_KEYS + ('loraplus_lr_ratio',)}")


def apply_method(model, method: dict[str, Any]):
    """Apply ``method`` to a base ``model``; returns ``(model, optimizer or None)``.

    ``method`` is one of:

    - ``{"kind": "full"}``: every weight trains;
    - ``{"kind": "lora", "target_modules": [...], "r": 8, "lora_alpha": 16}`` plus any of ``use_rslora``,
      ``use_dora``, ``init_lora_weights`` and ``loraplus_lr_ratio`` (LoRA+, which also needs ``"lr"``; it
      is the one method that returns an optimizer). Targets are checked by ``ftlib.peft_checks.lora_model``;
    - ``{"kind": "peft", "config": "IA3Config", ...}``: one of peft's other methods (``PEFT_CONFIGS``),
      the remaining keys passed to its configuration, with ``task_type="CAUSAL_LM"``;
    - ``{"kind": "adapter", "bottleneck": 16}``: ``ftlib.adapters``' bottleneck adapters (optional
      ``targets`` and ``activation``).

    Works on a model built on the ``meta`` device too (shapes without weights), to count parameters.
    """
    check_method(method)
    kind = method["kind"]
    n_virtual = method.get("num_virtual_tokens")
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if n_virtual and limit and n_virtual >= limit:  # peft would run it, past the positions the model learned
        raise ValueError(
            f"num_virtual_tokens={n_virtual} leaves no room for the input: the model reads at most {limit} positions, "
            "and the virtual tokens come first"
        )
    if kind == "full":
        return model.requires_grad_(True), None
    if kind == "peft":
        import peft

        settings = {k: v for k, v in method.items() if k not in ("kind", "config")}
        config = getattr(peft, method["config"])(task_type="CAUSAL_LM", **settings)
        return peft.get_peft_model(model, config), None
    if kind == "adapter":
        from ftlib.adapters import add_adapters

        return add_adapters(model, **{k: v for k, v in method.items() if k != "kind"}), None
    from peft import LoraConfig
    from peft.optimizers import create_loraplus_optimizer

    from ftlib.peft_checks import lora_model

    config = LoraConfig(lora_dropout=0.0, **{k: method[k] for k in LORA_KEYS if k in method})
    model = lora_model(model, config)
    optimizer = None
    if method.get("loraplus_lr_ratio"):
        optimizer = create_loraplus_optimizer(
            model, torch.optim.AdamW, lr=method["lr"], loraplus_lr_ratio=method["loraplus_lr_ratio"],
            betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
        )  # fmt: skip
    return model, optimizer


def adapter_file_bytes(model) -> int:
    """The size of the file that holds what a PEFT method trained: what peft's ``save_pretrained``
    writes, or the bottleneck adapters' weights in safetensors (``ftlib.adapters``).

    Raises:
        ValueError: for a model with neither (full fine-tuning saves the whole model).
    """
    import tempfile

    from safetensors.torch import save_file

    from ftlib.adapters import adapter_state_dict

    with tempfile.TemporaryDirectory() as folder:
        if hasattr(model, "peft_config"):
            model.save_pretrained(folder)
            return (Path(folder) / "adapter_model.safetensors").stat().st_size
        state = adapter_state_dict(model)
        if not state:
            raise ValueError("the model has no peft adapter and no bottleneck adapter to save")
        save_file(state, str(Path(folder) / "adapters.safetensors"))
        return (Path(folder) / "adapters.safetensors").stat().st_size


def run(
    profile,
    method: dict[str, Any],
    budget: Budget,
    seed: int,
    train_examples: Sequence[dict],
    evals: dict[str, Sequence[dict]],
    keep_model: bool = False,
    progress: bool = False,
    curve: tuple[Sequence[dict], int] | None = None,
):
    """Train one configuration and score it; returns a JSON-ready record (and the model with ``keep_model``).

    ``curve=(examples, every)`` also records the validation loss on ``examples`` before training and
    every ``every`` steps, with the training seconds spent until then (evaluation time not
    counted): ``record["curve"] = {"step", "val_loss", "seconds"}``, for chapter 8's time to a target.

    The record holds ``trainable`` parameters, ``seconds_per_step`` (median, the first step left out
    when there are more than two), ``train_seconds``, ``peak_mib`` (the memory training added: the
    peak RSS on CPU, the allocator's peak on CUDA), ``adapter_bytes`` (every method but full
    fine-tuning: the size of the file that holds what it trained, ``adapter_file_bytes``),
    ``eval_seconds``, and for each evaluation set its ``loss``, ``exact_match`` and the per-example
    ``exact`` (0/1) and ``example_loss`` lists.
    """
    from ftlib.measure import PeakMemory
    from ftlib.models import count_parameters
    from ftlib.profile import seed_everything

    seed_everything(seed)  # the LoRA initialisation of A; the batch order follows `seed` too
    if method.get("loraplus_lr_ratio"):
        method = {**method, "lr": budget.lr}
    model, tokenizer, optimizer = make_model(profile, method)
    with PeakMemory(profile.device, allocator=False) as peak:  # timed: the resident set only
        history = fit(model, train_examples, tokenizer.pad_token_id, budget, seed, optimizer, progress,
                      val_examples=curve[0] if curve else None, eval_every=curve[1] if curve else 0)  # fmt: skip
    seconds = history.seconds[1:] if len(history.seconds) > 2 else history.seconds
    record: dict[str, Any] = {
        "method": {k: v for k, v in method.items() if k != "lr"},
        "budget": asdict(budget),
        "seed": seed,
        "trainable": count_parameters(model).trainable,
        "seconds_per_step": round(statistics.median(seconds), 3),
        "train_seconds": round(sum(history.seconds), 2),
        "peak_mib": round(peak.increase / 2**20, 1),
        "train_loss": [round(x, 5) for x in history.loss],
    }
    if curve:
        elapsed = [sum(history.seconds[:n]) for n in history.val_step]
        record["curve"] = {"step": history.val_step, "val_loss": [round(x, 5) for x in history.val_loss],
                           "seconds": [round(x, 2) for x in elapsed]}  # fmt: skip
    if method["kind"] != "full":  # the adapter as it is saved (save_pretrained for peft's methods)
        record["adapter_bytes"] = adapter_file_bytes(model)
    started = time.perf_counter()
    for name, examples in evals.items():
        s = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id)
        record[name] = {
            "loss": s.loss,
            "exact_match": s.exact_match,
            "exact": [int(x) for x in s.exact],
            "example_loss": [round(x, 5) for x in s.example_loss()],
        }
    record["eval_seconds"] = round(time.perf_counter() - started, 2)
    if keep_model:
        return record, model, tokenizer
    del model
    return record


# The reference run of chapter 7: LoRA r=8 on every linear layer, as in chapters 1 and 6. Every sweep
# varies one thing away from it, and section 7.7's booking-request adapter is this run with seed 0.
REFERENCE_LORA: dict[str, Any] = {"kind": "lora", "target_modules": list(ALL_LINEAR), "r": 8, "lora_alpha": 16}


def reference_budget(profile, task: str = "requests") -> Budget:
    """The budget of chapter 7's reference run on ``task`` (the gpu profile trains longer)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    steps = profile.pick(gpu=60, cpu=10, smoke=2) if task == "requests" else profile.pick(gpu=40, cpu=12, smoke=2)
    return Budget(num_steps=steps, batch_size=4, lr=2e-3, schedule="cosine")


def adapter_settings(profile, task: str) -> dict[str, Any]:
    """The method, budget and seed of section 7.7's adapter for ``task`` (for requests: the reference run)."""
    return {"profile": profile.name, "task": task, "method": dict(REFERENCE_LORA),
            "budget": asdict(reference_budget(profile, task)), "seed": 0}  # fmt: skip


SETTINGS_FILE = "ftlib-settings.json"


def train_task_adapter(profile, task: str, progress: bool = True):
    """Train section 7.7's adapter for ``task`` and save it; returns ``(peft model, tokenizer, folder)``.

    The folder ``artifacts/ch07_adapters/<task>/`` holds what ``save_pretrained`` writes plus
    ``ftlib-settings.json`` with the profile and settings.
    """
    from ftlib.profile import seed_everything

    settings = adapter_settings(profile, task)
    seed_everything(settings["seed"])
    model, tokenizer, _ = make_model(profile, settings["method"])
    examples = task_examples(tokenizer, task, "train")
    fit(model, examples, tokenizer.pad_token_id, Budget(**settings["budget"]), settings["seed"],
        progress=progress, desc=f"LoRA on {task}")  # fmt: skip
    folder = artifacts_dir() / "ch07_adapters" / task
    model.save_pretrained(str(folder))
    (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=1) + "\n")
    return model, tokenizer, folder


def chapter7_adapters(profile) -> dict[str, Path]:
    """The folders of chapter 7's two adapters, ``{"dates": ..., "requests": ...}``, trained again when needed.

    An adapter is reused only when its ``ftlib-settings.json`` records the same profile and
    settings as ``adapter_settings``; otherwise (missing, another profile, changed settings) it is
    trained again with ``train_task_adapter``. Chapters 8 and 13 start from these adapters.
    """
    folders = {}
    for task in TASKS:
        folder = artifacts_dir() / "ch07_adapters" / task
        settings_file = folder / SETTINGS_FILE
        same = settings_file.is_file() and json.loads(settings_file.read_text()) == adapter_settings(profile, task)
        if not (same and (folder / "adapter_config.json").is_file()):
            folder = train_task_adapter(profile, task, progress=True)[2]
        folders[task] = folder
    return folders
