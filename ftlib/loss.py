"""The SFT loss written out: shift, log-softmax, gather, mask, mean; and perplexity.

For a sequence of tokens, the model's logits at position t score the token at t + 1.
The supervised fine-tuning objective is the mean negative log-likelihood of the answer
tokens (labels other than -100):

    L(theta) = -(1/N) * sum over answer tokens of log p_theta(y_t | x, y_<t)

These functions give the same number as a Hugging Face causal LM's ``.loss``.

Taught in chapter 2, sections 2.2-2.6.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ftlib.data import IGNORE_INDEX

__all__ = ["perplexity", "sft_loss", "token_nll"]


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative log-likelihood of every next token, and the mask of those that count.

    Args:
        logits: (B, T, V) scores from the model.
        labels: (B, T) token ids, -100 where no loss is wanted (prompt, padding).

    Returns:
        ``(nll, mask)``, both (B, T - 1): ``nll[b, t] = -log p(labels[b, t + 1] | tokens up to t)``,
        zero where ``mask`` is False.

    Raises:
        ValueError: when logits and labels disagree on (B, T).

    Taught in chapter 2, section 2.3.
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree on (B, T)")
    logits, targets = logits[:, :-1, :], labels[:, 1:]  # position t predicts token t + 1
    mask = targets != IGNORE_INDEX  # (B, T-1)
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, T-1, V)
    picked = log_probs.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return -picked * mask, mask


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "token") -> torch.Tensor:
    """The SFT loss from logits and labels.

    Args:
        logits: (B, T, V).
        labels: (B, T), -100 where no loss is wanted.
        reduction: ``"token"`` averages over all answer tokens of the batch (what transformers
            does: a long answer weighs more); ``"sequence"`` averages within each sequence first,
            then over sequences (every example weighs the same).

    Raises:
        ValueError: for an unknown reduction, or when no token carries a label.

    Taught in chapter 2, sections 2.3 and 2.6.
    """
    nll, mask = token_nll(logits, labels)
    if not mask.any():
        raise ValueError("no label other than -100: nothing to learn from")
    if reduction == "token":
        return nll.sum() / mask.sum()
    if reduction == "sequence":
        counts = mask.sum(dim=1)
        has_labels = counts > 0
        return (nll.sum(dim=1)[has_labels] / counts[has_labels]).mean()
    raise ValueError(f"reduction must be 'token' or 'sequence', not {reduction!r}")


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """exp of a mean negative log-likelihood in nats: the effective number of choices per token.

    Note that exp of the *mean* log-loss is the geometric mean of the token probabilities'
    inverses; it is not the inverse of their arithmetic mean (chapter 2, section 2.5).

    Raises:
        ValueError: for a negative or non-finite loss (a negative log-likelihood is never below 0).

    Taught in chapter 2, section 2.7.
    """
    value = float(mean_nll)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a mean negative log-likelihood is a finite number >= 0, got {value}")
    return math.exp(value)
