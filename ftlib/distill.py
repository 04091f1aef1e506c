"""Knowledge distillation: a smaller student learns from a teacher's softened next-token distribution.

Hinton, Vinyals and Dean (2015) train the student on the teacher's probabilities at a
temperature ``T``: ``p = softmax(z / T)``. For each answer token the distillation loss is the
Kullback-Leibler divergence from the teacher's distribution to the student's,

    KL(p_teacher || p_student) = sum_v p_teacher(v) * (log p_teacher(v) - log p_student(v)),

averaged over the answer tokens and multiplied by ``T**2`` (the gradients of the softened
logits shrink like ``1 / T**2``; the factor keeps their size comparable with the label loss
when the temperature changes). ``distill_loss`` mixes it with the ordinary SFT loss on the labels.

``drop_layers`` makes the student: a copy of a model that keeps some of its decoder layers,
as DistilBERT kept every other layer of BERT.

Taught in chapter 12, section 12.4.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ftlib.loss import token_nll

__all__ = ["distill_loss", "drop_layers", "kd_loss", "train_student"]


def _check_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ")
    if student_logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(student_logits.shape)} and labels {tuple(labels.shape)} disagree on (B, T)")
    if not temperature > 0:
        raise ValueError(f"the temperature must be > 0, got {temperature}")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """``T**2`` times the mean over answer tokens of KL(teacher || student) at temperature ``T``.

    Args:
        student_logits, teacher_logits: (B, T, V) from the two models on the same batch.
        labels: (B, T) with -100 where no loss is wanted; position t's logits predict token t + 1,
            as in the SFT loss, so the KL is taken where ``labels[:, 1:]`` is not -100.
        temperature: ``T``; 1 compares the models' own distributions, larger values soften both.

    Raises:
        ValueError: for mismatched shapes, a temperature <= 0, or no answer token.
    """
    _check_pair(student_logits, teacher_logits, labels, temperature)
    mask = labels[:, 1:] != -100  # (B, T-1): the positions that predict an answer token
    if not mask.any():
        raise ValueError("no label other than -100: no answer token to distil on")
    log_p_student = F.log_softmax(student_logits[:, :-1].float() / temperature, dim=-1)[mask]  # (N, V)
    log_p_teacher = F.log_softmax(teacher_logits[:, :-1].float() / temperature, dim=-1)[mask]  # (N, V)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)  # (N,)
    return kl.mean() * temperature**2


def distill_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    alpha: float = 0.5,
    temperature: float = 2.0,
) -> torch.Tensor:
    """``alpha * kd_loss + (1 - alpha) * SFT loss``: 0 trains on the labels only, 1 on the teacher only.

    ``teacher_logits`` may be None when ``alpha`` is 0 (plain SFT, no teacher needed).

    Raises:
        ValueError: for ``alpha`` outside [0, 1], or no teacher logits with ``alpha > 0``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    total = torch.zeros((), device=student_logits.device)
    if alpha < 1.0:
        nll, mask = token_nll(student_logits, labels)
        if not mask.any():
            raise ValueError("no label other than -100: nothing to learn from")
        total = total + (1.0 - alpha) * nll.sum() / mask.sum()
    if alpha > 0.0:
        if teacher_logits is None:
            raise ValueError("alpha > 0 needs the teacher's logits")
        total = total + alpha * kd_loss(student_logits, teacher_logits, labels, temperature)
    return total


def drop_layers(model: torch.nn.Module, keep: Sequence[int]) -> torch.nn.Module:
    """A copy of a decoder-only model that keeps only the decoder layers ``keep`` (in that order).

    The embedding, final norm and output layer are kept; the config and each layer's
    ``layer_idx`` (which the key-value cache uses) are renumbered so that generation works.

    Raises:
        ValueError: for an empty ``keep``, repeated or out-of-range layer indices.
    """
    layers = model.model.layers
    keep = list(keep)
    if not keep:
        raise ValueError("keep at least one layer")
    if len(set(keep)) != len(keep) or not all(isinstance(i, int) and 0 <= i < len(layers) for i in keep):
        raise ValueError(f"keep must hold distinct layer indices in [0, {len(layers)}), got {keep}")
    student = copy.deepcopy(model)
    student.model.layers = torch.nn.ModuleList([student.model.layers[i] for i in keep])
    for new_index, layer in enumerate(student.model.layers):
        layer.self_attn.layer_idx = new_index
    config = student.config
    config.num_hidden_layers = len(keep)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in keep]
    return student


def train_student(
    student: torch.nn.Module,
    teacher: torch.nn.Module | None,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    num_steps: int,
    batch_size: int = 4,
    lr: float = 3e-4,
    alpha: float = 0.5,
    temperature: float = 2.0,
    seed: int = 0,
    *,
    schedule: str = "cosine",
    warmup_steps: int = 2,
    max_grad_norm: float | None = 1.0,
    desc: str = "student",
    progress: bool = True,
    stop_after: int | None = None,
):
    """Train every weight of ``student`` on ``distill_loss``; the teacher only runs forward, without gradients.

    The batches, schedule and optimizer are those of ``ftlib.train.train`` for the same seed, so
    ``alpha=0`` is plain SFT and the three ways of training see the same examples in the same order.
    ``stop_after`` runs only the first steps of the run, as in ``ftlib.train.train``.

    Returns:
        A ``ftlib.train.History`` (loss, lr, tokens and seconds per step; the seconds include the teacher).
    """
    import time

    from tqdm import tqdm

    from ftlib.data import collate
    from ftlib.train import History, check_stop_after, draw_batches, lr_at, make_optimizer

    if teacher is None and alpha > 0:
        raise ValueError("alpha > 0 needs a teacher")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    lr_at(0, lr, num_steps, schedule, warmup_steps)  # validates the schedule arguments
    check_stop_after(stop_after, num_steps)
    student.requires_grad_(True).train()
    if teacher is not None:
        teacher.requires_grad_(False).eval()
    params = list(student.parameters())
    opt = make_optimizer(params, "adamw", lr)
    device = params[0].device
    history = History()
    batches = draw_batches(len(examples), num_steps, batch_size, seed)[:stop_after]
    for step, indices in enumerate(tqdm(batches, desc=desc, disable=not progress)):
        start = time.perf_counter()
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in indices], pad_token_id).items()}
        inputs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        teacher_logits = None
        if alpha > 0:
            with torch.no_grad():
                teacher_logits = teacher(**inputs).logits
        loss = distill_loss(student(**inputs).logits, teacher_logits, batch["labels"], alpha, temperature)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, num_steps, schedule, warmup_steps)
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.loss.append(loss.item())
        history.lr.append(opt.param_groups[0]["lr"])
        history.tokens.append(batch["input_ids"].numel())
        history.seconds.append(time.perf_counter() - start)
    student.eval()
    return history
