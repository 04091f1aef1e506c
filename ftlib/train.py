"""The training loop of chapter 1, as a function: sample a batch, loss, backward, AdamW step.

Chapter 4 grows it (schedules, accumulation, clipping, validation); this first version is
the plain loop that chapter 1 writes out in cells.

Taught in chapter 1, section 1.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from ftlib.data import collate

__all__ = ["train"]


def train(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    num_steps: int,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
    desc: str = "training",
) -> list[float]:
    """Train the parameters that require gradients with AdamW on random batches of ``examples``.

    Args:
        examples: tokenized examples (``ftlib.data.tokenize_sft``); batches are drawn with replacement.
        num_steps: optimizer steps.
        seed: seeds the batch order, so two runs with the same seed see the same batches.

    Returns:
        The loss of every step.
    """
    if not examples:
        raise ValueError("no training examples")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter requires a gradient: nothing to train")
    optimizer = torch.optim.AdamW(params, lr=lr)
    order = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    losses = []
    model.train()
    for _ in (bar := tqdm(range(num_steps), desc=desc)):
        idx = torch.randint(len(examples), (batch_size,), generator=order).tolist()
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in idx], pad_token_id).items()}
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses
