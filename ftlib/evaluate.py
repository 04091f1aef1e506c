"""Batched greedy generation and exact match.

Taught in chapter 1, section 1.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import json

import torch
from tqdm import tqdm

from ftlib.data import chat_prompt

__all__ = ["exact_match", "field_accuracy", "generate"]


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


def field_accuracy(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Score JSON answers field by field.

    Each reference is a JSON object. A prediction that does not parse as a JSON object gets
    every field wrong.

    Returns:
        ``{"valid_json": share that parsed, "all_fields": share with every field right,
        <field>: share right, ...}`` for every field of the references.

    Taught in chapter 3, section 3.1.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("field_accuracy needs at least one reference")
    refs = [json.loads(r) for r in references]
    fields = list(dict.fromkeys(k for r in refs for k in r))
    right = {f: 0 for f in fields}
    valid = all_right = 0
    for prediction, ref in zip(predictions, refs):
        try:
            pred = json.loads(prediction)
        except json.JSONDecodeError:
            continue
        if not isinstance(pred, dict):
            continue
        valid += 1
        ok = [pred.get(f, object()) == ref.get(f) for f in fields]
        all_right += all(ok)
        for f, good in zip(fields, ok):
            right[f] += good
    n = len(refs)
    return {"valid_json": valid / n, "all_fields": all_right / n, **{f: right[f] / n for f in fields}}
