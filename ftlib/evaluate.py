"""Batched greedy generation and exact match.

Taught in chapter 1, section 1.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from ftlib.data import chat_prompt

__all__ = ["exact_match", "generate"]


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    progress: bool = False,
) -> list[str]:
    """Answer each prompt as a user turn of the chat template, greedily, in batches.

    Prompts are padded on the left so that every row's last token is its own last prompt
    token: generation then continues each row from the right place.

    Returns:
        The generated answers, special tokens removed, stripped of surrounding white space.
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not one string")
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    answers: list[str] = []
    try:
        batches = range(0, len(prompts), batch_size)
        for start in tqdm(batches, desc="generating", disable=not progress):
            texts = [chat_prompt(p, tokenizer) for p in prompts[start : start + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
            answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference after stripping white space at both ends.

    Raises:
        ValueError: when the two lists differ in length or are empty.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("exact_match needs at least one reference")
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)
