"""Direct preference optimization (DPO): learn from pairs of a preferred and a rejected answer.

SFT raises the log-probability of one reference answer (chapter 2). DPO is given two answers to
the same prompt, the chosen one y_w and the rejected one y_l, and a frozen reference model
(usually the SFT model it starts from). Its loss for one pair is

    -log sigmoid(beta * [(log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))])

where log pi(y|x) is the *sum* of the answer tokens' log-probabilities (Rafailov et al., 2023).
beta * (log pi - log ref) is the "implicit reward" of an answer; the loss asks the chosen
answer's reward to exceed the rejected one's. At the start, pi = ref, every reward is 0 and the
loss is log 2. The gradient of a pair is weighted by sigmoid(-margin): pairs the model already
orders right count less.

Taught in chapter 13, section 13.1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ftlib.data import IGNORE_INDEX, collate, tokenize_sft
from ftlib.train import check_stop_after, draw_batches, lr_at, real_token_logits

LOG2 = math.log(2)  # the DPO loss of any pair while the model equals its reference

__all__ = [
    "LOG2",
    "DPOHistory",
    "dpo_loss",
    "near_miss_date",
    "pair_batch",
    "pair_logps",
    "preference_pairs",
    "sequence_logps",
    "train_dpo",
]


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss (mean over pairs) and the implicit rewards of the chosen and rejected answers.

    Args:
        policy_chosen, policy_rejected: summed answer log-probabilities under the model being trained, shape (N,).
        ref_chosen, ref_rejected: the same under the frozen reference model, shape (N,).
        beta: how far the model may move from the reference (larger: the loss saturates sooner).

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``; rewards are ``beta * (policy - ref)``, shape (N,).

    Raises:
        ValueError: for beta <= 0 or tensors of different shapes.
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    shapes = {
        tuple(t.shape)
        for t in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    }
    if len(shapes) != 1:
        raise ValueError(
            f"the four log-probability tensors must have one shape, got {sorted(shapes)}"
        )
    chosen_rewards = beta * (policy_chosen - ref_chosen)
    rejected_rewards = beta * (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards, rejected_rewards


def sequence_logps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The summed log-probability of each example's answer tokens (labels not -100), shape (B,)."""
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        use_cache=False,
    ).logits
    logits = real_token_logits(logits, batch["input_ids"])[
        :, :-1
    ].float()  # position t predicts token t + 1
    target = batch["labels"][:, 1:]
    mask = target != IGNORE_INDEX
    token_logps = (
        torch.log_softmax(logits, dim=-1)
        .gather(-1, target.clamp(min=0).unsqueeze(-1))
        .squeeze(-1)
    )
    return (token_logps * mask).sum(dim=1)


def near_miss_date(iso: str) -> str:
    """A wrong ISO date close to the right one: month and day swapped where that is another valid date,
    otherwise the day moved by one (within the month). Chapter 13's rejected answers."""
    year, month, day = (int(x) for x in iso.split("-"))
    if day <= 12 and day != month:
        return f"{year:04d}-{day:02d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day - 1 if day > 1 else day + 1:02d}"


def preference_pairs(
    records: Sequence[dict], tokenizer, rejected=near_miss_date
) -> list[dict[str, dict]]:
    """Tokenized ``{"chosen": ..., "rejected": ...}`` pairs: the record's answer, and ``rejected(answer)``.

    Raises:
        ValueError: when ``rejected`` returns the chosen answer itself.
    """
    pairs = []
    for r in records:
        wrong = rejected(r["answer"])
        if wrong == r["answer"]:
            raise ValueError(
                f"the rejected answer of {r.get('id', r['prompt'][:40])!r} equals the chosen one"
            )
        pairs.append(
            {
                "chosen": tokenize_sft(r, tokenizer),
                "rejected": tokenize_sft({**r, "answer": wrong}, tokenizer),
            }
        )
    return pairs


def pair_batch(pairs: Sequence[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """One padded batch: the chosen answers of ``pairs`` first, then their rejected answers (2N rows)."""
    return collate(
        [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs], pad_token_id
    )


@torch.no_grad()
def pair_logps(
    model: torch.nn.Module,
    pairs: Sequence[dict],
    pad_token_id: int,
    batch_size: int = 16,
):
    """Summed answer log-probabilities of every pair: ``(chosen, rejected)``, each shape (N,)."""
    was_training = model.training
    model.eval()
    chosen, rejected = [], []
    for i in range(0, len(pairs), batch_size):
        part = pairs[i : i + batch_size]
        logps = sequence_logps(model, pair_batch(part, pad_token_id))
        chosen.append(logps[: len(part)])
        rejected.append(logps[len(part) :])
    model.train(was_training)
    return torch.cat(chosen), torch.cat(rejected)


@dataclass
class DPOHistory:
    """Per step: the loss, the mean reward margin, the share of pairs ordered right, and the seconds."""

    loss: list[float] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def train_dpo(
    model: torch.nn.Module,
    pairs: Sequence[dict],
    ref_logps: tuple[torch.Tensor, torch.Tensor],
    pad_token_id: int,
    num_steps: int,
    batch_size: int = 4,
    lr: float = 1e-4,
    beta: float = 0.1,
    seed: int = 0,
    schedule: str = "cosine",
    max_grad_norm: float | None = 1.0,
    stop_after: int | None = None,
    progress: bool = True,
) -> DPOHistory:
    """Train the parameters that require gradients with the DPO loss; AdamW, batches as ``ftlib.train.train``.

    Args:
        ref_logps: the reference model's ``(chosen, rejected)`` log-probabilities of every pair
            (``pair_logps``), computed once before training: the reference never changes.
        stop_after: run only the first steps of the ``num_steps`` run (same batches, same schedule).

    Raises:
        ValueError: for no pairs, reference log-probabilities of another length, or nothing to train.
    """
    if not pairs:
        raise ValueError("no preference pairs")
    if len(ref_logps[0]) != len(pairs) or len(ref_logps[1]) != len(pairs):
        raise ValueError(
            f"{len(pairs)} pairs but {len(ref_logps[0])} reference log-probabilities"
        )
    check_stop_after(stop_after, num_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter requires a gradient: nothing to train")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    batches = draw_batches(len(pairs), num_steps, batch_size, seed)
    history = DPOHistory()
    model.train()
    for step in (
        bar := tqdm(
            range(num_steps if stop_after is None else stop_after),
            desc="DPO",
            disable=not progress,
        )
    ):
        start = time.perf_counter()
        rows = batches[step]
        logps = sequence_logps(
            model, pair_batch([pairs[i] for i in rows], pad_token_id)
        )
        loss, r_chosen, r_rejected = dpo_loss(
            logps[: len(rows)],
            logps[len(rows) :],
            ref_logps[0][rows],
            ref_logps[1][rows],
            beta,
        )
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, num_steps, schedule)
        opt.step()
        opt.zero_grad(set_to_none=True)
        margin = (r_chosen - r_rejected).detach()
        history.loss.append(loss.item())
        history.margin.append(margin.mean().item())
        history.accuracy.append((margin > 0).float().mean().item())
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return history
