"""The training loop: chapter 1's loop, grown into what chapter 4 needs.

One step: draw ``grad_accum`` micro-batches, add up the gradient of the SFT loss over
all their answer tokens, clip the gradient norm, set the learning rate from the
schedule, take an optimizer step. Every so often, the validation loss.

``train_with_trainer`` runs the same job through Hugging Face ``Trainer``, with the
same batches in the same order, so that the two loss curves can be compared.

Taught in chapter 1, section 1.5 (the plain loop) and chapter 4, sections 4.2-4.4.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ftlib.data import IGNORE_INDEX, collate
from ftlib.loss import token_nll

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "History",
    "artifacts_dir",
    "chapter4_checkpoint",
    "check_stop_after",
    "checkpoint_metadata",
    "draw_batches",
    "full_ft_settings",
    "lr_at",
    "make_optimizer",
    "real_token_logits",
    "save_trainable",
    "train",
    "train_with_trainer",
    "validation_loss",
]

SCHEDULES = ("constant", "linear", "cosine")
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class History:
    """What a training run records, one entry per optimizer step (validation: per evaluation)."""

    loss: list[float] = field(default_factory=list)  # training loss of each step
    lr: list[float] = field(default_factory=list)  # learning rate used by each step
    grad_norm: list[float] = field(default_factory=list)  # gradient norm before clipping (nan: no clipping asked)
    tokens: list[int] = field(default_factory=list)  # input tokens (padding included) of each step
    seconds: list[float] = field(default_factory=list)  # wall time of each step
    val_step: list[int] = field(default_factory=list)  # after how many steps each validation ran
    val_loss: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)


def lr_at(step: int, lr: float, num_steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The learning rate of optimizer step ``step`` (0-based), as Hugging Face's schedulers give it.

    Linear warm-up from 0 over ``warmup_steps``, then ``constant``, ``linear`` decay to 0 at
    ``num_steps``, or half a ``cosine`` wave down to 0. Step 0 of a warm-up has learning rate 0.

    Raises:
        ValueError: for an unknown schedule or negative step counts.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    if step < 0 or num_steps < 1 or warmup_steps < 0:
        raise ValueError(f"need step >= 0, num_steps >= 1, warmup_steps >= 0 (got {step}, {num_steps}, {warmup_steps})")
    if step < warmup_steps:
        return lr * step / max(1, warmup_steps)
    if schedule == "constant":
        return lr
    progress = (step - warmup_steps) / max(1, num_steps - warmup_steps)
    if schedule == "linear":
        return lr * max(0.0, 1.0 - progress)
    return lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_optimizer(
    params, name: str = "adamw", lr: float = 2e-3, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """AdamW (betas 0.9/0.999, eps 1e-8, as ``Trainer``) or SGD with momentum, over ``params``."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")


def draw_batches(num_examples: int, num_batches: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """The example indices of ``num_batches`` batches, drawn with replacement from a seeded generator."""
    if num_examples < 1:
        raise ValueError("no training examples")
    order = torch.Generator().manual_seed(seed)
    return [torch.randint(num_examples, (batch_size,), generator=order).tolist() for _ in range(num_batches)]


def real_token_logits(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """The logits at the positions of ``input_ids``, without those of virtual tokens put before them.

    peft's prompt tuning and P-tuning prepend learned virtual tokens to the input, so their logits
    are longer than the input by that many positions, at the front; the labels belong to the real
    tokens, the last ones. For every other model this is the whole tensor (a view, no copy).
    Taught in chapter 8.
    """
    return logits[:, logits.shape[1] - input_ids.shape[1] :]


def _summed_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The summed negative log-likelihood of the answer tokens: ``token_nll(logits, labels)[0].sum()``.

    Computed for speed as the model's own loss does: the fused ``cross_entropy`` (one pass forward
    and backward over the large logits tensor), and the *labels* shifted left rather than the
    logits cut, which would copy the logits and their gradient. Chapter 2 shows the two equal.
    """
    shifted = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)  # label of position t is token t+1
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), shifted.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def validation_loss(model: torch.nn.Module, examples: Sequence[dict], pad_token_id: int, batch_size: int = 16) -> float:
    """The SFT loss (mean over all answer tokens) of ``examples``, without gradients."""
    if not examples:
        raise ValueError("no validation examples")
    was_training = model.training
    model.eval()
    device = _model_device(model)
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[i : i + batch_size], pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
        nll, mask = token_nll(real_token_logits(logits, batch["input_ids"]).float(), batch["labels"])
        total += nll.sum().item()
        count += int(mask.sum().item())
    model.train(was_training)
    return total / max(1, count)


def check_stop_after(stop_after: int | None, num_steps: int) -> None:
    """Refuse a ``stop_after`` outside 1..``num_steps``: the loops of chapters 12 and 13 (``ftlib.distill``,
    ``ftlib.dpo``) share it with ``train``."""
    if stop_after is not None and not 1 <= stop_after <= num_steps:
        raise ValueError(f"stop_after must lie in [1, num_steps={num_steps}], got {stop_after}")


def train(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    num_steps: int,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
    desc: str = "training",
    *,
    optimizer: str = "adamw",
    schedule: str = "constant",
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    grad_accum: int = 1,
    max_grad_norm: float | None = None,
    val_examples: Sequence[dict[str, list[int]]] | None = None,
    eval_every: int = 0,
    progress: bool = True,
    stop_after: int | None = None,
) -> History:
    """Train the parameters that require gradients; return the :class:`History`.

    Args:
        examples: tokenized examples (``ftlib.data.tokenize_sft``). Each step draws
            ``grad_accum`` micro-batches of ``batch_size`` with replacement (``draw_batches``).
        num_steps: optimizer steps.
        seed: seeds the batch order, so two runs with the same seed see the same batches.
        grad_accum: micro-batches per step. The loss is the mean over the answer tokens of all
            of them, so k micro-batches of b give the gradient of one batch of k*b.
        max_grad_norm: clip the global gradient norm to this (None: no clipping, and no norm computed).
        val_examples, eval_every: the validation loss before training and every ``eval_every``
            steps (and after the last), when both are given.
        stop_after: run only the first ``stop_after`` steps of the ``num_steps`` run (same batches,
            same schedule): a partial re-run that checks a recorded run step by step (chapter 12).
    """
    if not examples:
        raise ValueError("no training examples")
    if num_steps < 1 or batch_size < 1 or grad_accum < 1:
        raise ValueError(f"num_steps, batch_size and grad_accum must be >= 1 (got {num_steps}, {batch_size}, {grad_accum})")
    check_stop_after(stop_after, num_steps)
    lr_at(0, lr, num_steps, schedule, warmup_steps)  # validates the schedule arguments
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter requires a gradient: nothing to train")
    opt = make_optimizer(params, optimizer, lr, weight_decay)
    batches = draw_batches(len(examples), num_steps * grad_accum, batch_size, seed)
    device = _model_device(model)
    validate = bool(val_examples) and eval_every > 0
    history = History()
    if validate:
        history.val_step.append(0)
        history.val_loss.append(validation_loss(model, val_examples, pad_token_id))
    model.train()
    run_steps = num_steps if stop_after is None else stop_after
    for step in (bar := tqdm(range(run_steps), desc=desc, disable=not progress)):
        start = time.perf_counter()
        micro = [collate([examples[i] for i in batches[step * grad_accum + j]], pad_token_id) for j in range(grad_accum)]
        n_answer = sum(int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro)
        step_loss = 0.0
        for m in micro:
            m = {k: v.to(device) for k, v in m.items()}
            # use_cache=False: the key-value cache serves generation; training would only fill it (Trainer also turns it off).
            # The logits are not kept in a variable, so that they can be freed before the backward pass.
            out = model(input_ids=m["input_ids"], attention_mask=m["attention_mask"], use_cache=False)
            loss = _summed_nll(real_token_logits(out.logits, m["input_ids"]), m["labels"]) / max(1, n_answer)  # this micro-batch's share of the token mean
            del out
            loss.backward()
            step_loss += loss.item()
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm) if max_grad_norm else float("nan")
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, num_steps, schedule, warmup_steps)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # so that the step's time is the time its kernels took
        history.loss.append(step_loss)
        history.lr.append(opt.param_groups[0]["lr"])
        history.grad_norm.append(float(norm))
        history.tokens.append(sum(m["input_ids"].numel() for m in micro))
        history.seconds.append(time.perf_counter() - start)
        if validate and ((step + 1) % eval_every == 0 or step + 1 == num_steps):
            history.val_step.append(step + 1)
            history.val_loss.append(validation_loss(model, val_examples, pad_token_id))
            model.train()
        postfix = {"loss": f"{step_loss:.3f}"}
        if validate:
            postfix["val"] = f"{history.val_loss[-1]:.3f}"
        bar.set_postfix(postfix)
    model.eval()
    return history


def train_with_trainer(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    num_steps: int,
    output_dir: str | Path,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
    *,
    optimizer: str = "adamw",
    schedule: str = "constant",
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    grad_accum: int = 1,
    max_grad_norm: float | None = None,
    save: bool = True,
) -> History:
    """The same job as :func:`train`, run by Hugging Face ``Trainer``.

    The batches are the ones ``train`` draws for the same seed, fed in order (``Trainer``
    would otherwise shuffle its own way); optimizer, schedule, accumulation and clipping are
    set to match. With ``save``, the final weights go to ``output_dir`` as safetensors.
    Recorded: loss, lr, grad norm and each step's time, from Trainer's ``on_step_begin`` to
    ``on_step_end`` callbacks (its batches are already loaded by then; ``train`` counts collation).
    """
    from torch.utils.data import SequentialSampler
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    if not examples:
        raise ValueError("no training examples")
    lr_at(0, lr, num_steps, schedule, warmup_steps)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    batches = draw_batches(len(examples), num_steps * grad_accum, batch_size, seed)
    stream = [examples[i] for batch in batches for i in batch]

    class _InOrder(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    step_seconds: list[float] = []
    cuda = _model_device(model).type == "cuda"

    class _StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            step_seconds.append(time.perf_counter() - self.start)

    hf_schedule = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[schedule]
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=num_steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=lr,
        lr_scheduler_type=hf_schedule,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        optim="adamw_torch" if optimizer == "adamw" else "sgd",
        optim_args="momentum=0.9" if optimizer == "sgd" else None,
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        max_grad_norm=max_grad_norm if max_grad_norm else 0.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=seed,
        dataloader_drop_last=False,
        remove_unused_columns=False,
        use_cpu=_model_device(model).type == "cpu",
        bf16=_model_device(model).type == "cuda" and next(model.parameters()).dtype == torch.bfloat16,
        disable_tqdm=True,
    )
    trainer = _InOrder(
        model=model,
        args=args,
        train_dataset=stream,
        data_collator=lambda rows: collate(rows, pad_token_id),
    )
    trainer.remove_callback(PrinterCallback)  # it prints a dict per logged step
    trainer.add_callback(_StepTimer())
    trainer.train()
    history = History()
    for record in trainer.state.log_history:
        if "loss" in record and "learning_rate" in record:
            history.loss.append(float(record["loss"]))
            history.lr.append(float(record["learning_rate"]))
            history.grad_norm.append(float(record.get("grad_norm", float("nan"))))
    history.seconds = step_seconds
    if save:
        trainer.save_model(str(output_dir))  # model.safetensors (adapter_model.safetensors for peft)
    model.eval()
    return history


# Kept importable from here, where chapters 4-6 first met them.
from ftlib.checkpoints import (  # noqa: E402
    artifacts_dir,
    chapter4_checkpoint,
    checkpoint_metadata,
    full_ft_settings,
    save_trainable,
)
