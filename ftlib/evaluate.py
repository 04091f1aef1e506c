"""Batched greedy generation, exact match and field accuracy.

Taught in chapter 1, section 1.4.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch
from tqdm import tqdm

from ftlib.data import chat_prompt

__all__ = ["exact_match", "field_accuracy", "field_scores", "generate", "match_scores"]


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str | Sequence[dict[str, str]]],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    progress: bool = False,
) -> list[str]:
    """Answer each prompt as a user turn of the chat template, greedily, in batches.

    A prompt is a string (one user turn) or a conversation: a list of chat messages ending
    with a user turn (``ftlib.data.chat_prompt`` renders both). Prompts are padded on the left
    so that every row's last token is its own last prompt token: generation then continues
    each row from the right place.

    Returns:
        The generated answers, special tokens removed, stripped of surrounding white space.

    Raises:
        TypeError: when ``prompts`` is one string instead of a list of them.

    Taught in chapter 1, section 1.4.
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


def _check_pairs(predictions: Sequence[str], references: Sequence[str], name: str) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError(f"{name} takes lists of strings, not one string")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError(f"{name} needs at least one reference")


def match_scores(predictions: Sequence[str], references: Sequence[str]) -> list[int]:
    """1 for each prediction equal to its reference (white space at both ends stripped), else 0.

    The per-item scores are what a paired comparison of two systems needs
    (``ftlib.stats.paired_bootstrap``); their mean is :func:`exact_match`.

    Raises:
        ValueError: when the two lists differ in length or are empty.

    Taught in chapter 1, section 1.6.
    """
    _check_pairs(predictions, references, "match_scores")
    return [int(p.strip() == r.strip()) for p, r in zip(predictions, references)]


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference after stripping white space at both ends.

    Raises:
        ValueError: when the two lists differ in length or are empty.

    Taught in chapter 1, section 1.4.
    """
    _check_pairs(predictions, references, "exact_match")
    return sum(match_scores(predictions, references)) / len(references)


def field_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, int]]:
    """Score each JSON answer field by field: one dict of 1/0 per item.

    Each reference is a JSON object. A prediction that does not parse as a JSON object gets
    every field wrong. Each dict holds ``valid_json``, ``all_fields`` and one key per field of
    the references.

    Raises:
        ValueError: when the two lists differ in length or are empty, or a reference is not
            a JSON object.

    Taught in chapter 3, section 3.1.
    """
    _check_pairs(predictions, references, "field_scores")
    refs = [json.loads(r) for r in references]
    if not all(isinstance(r, dict) for r in refs):
        raise ValueError("every reference must be a JSON object")
    fields = list(dict.fromkeys(k for r in refs for k in r))
    scores = []
    for prediction, ref in zip(predictions, refs):
        try:
            pred = json.loads(prediction)
        except json.JSONDecodeError:
            pred = None
        if not isinstance(pred, dict):
            scores.append({"valid_json": 0, "all_fields": 0, **{f: 0 for f in fields}})
            continue
        ok = {f: int(pred.get(f, object()) == ref.get(f)) for f in fields}
        scores.append({"valid_json": 1, "all_fields": int(all(ok.values())), **ok})
    return scores


def field_accuracy(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Score JSON answers field by field: the mean of :func:`field_scores` over the items.

    Returns:
        ``{"valid_json": share that parsed, "all_fields": share with every field right,
        <field>: share right, ...}`` for every field of the references.

    Taught in chapter 3, section 3.1.
    """
    scores = field_scores(predictions, references)
    return {key: sum(s[key] for s in scores) / len(scores) for key in scores[0]}
