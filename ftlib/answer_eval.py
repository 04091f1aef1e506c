"""Score answers in one forward pass: their loss, and whether greedy decoding would write them.

Greedy decoding picks the most likely next token at every step. Started from the prompt, it
writes the reference answer exactly when, at every position of the answer, the most likely
token *given the reference so far* is the reference's next token: as long as every earlier
token matched, the text it conditions on is the reference itself. So the exact match of
greedy decoding can be read off a teacher-forced pass over prompt + answer, the same pass
that computes the validation loss, instead of one forward pass per generated token. Only the
answer tokens up to the first stop token count (generation ends there).

Two small differences remain, and chapter 7 measures them: generation pads on the left and
this pass on the right (the float sums differ in the last bits, which can flip a near tie),
and a model could write the same text with other tokens, which this check counts as wrong.

Two savings make the pass cheap. The prompts of a task all begin with the same tokens (the
system prompt and the instruction: 96 of the 183 tokens of a booking request), so that beginning
runs once and its keys and values are reused for every example, as generation reuses them (a
KV cache). And the logits are computed only from the first answer position on
(``logits_to_keep``): the prompt needs none.

Taught in chapter 7, section 7.2.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ftlib.data import IGNORE_INDEX, collate

__all__ = ["AnswerScores", "answer_scores"]


@dataclass
class AnswerScores:
    """Per-example scores of the answers of a list of tokenized examples."""

    nll: list[float] = field(default_factory=list)  # summed negative log-likelihood of each answer (nats)
    tokens: list[int] = field(default_factory=list)  # answer tokens of each example (the loss's denominator)
    exact: list[bool] = field(default_factory=list)  # would greedy decoding write this answer exactly?

    @property
    def loss(self) -> float:
        """The mean loss per answer token over all examples: what ``ftlib.train.validation_loss`` returns."""
        return sum(self.nll) / max(1, sum(self.tokens))

    @property
    def exact_match(self) -> float:
        """Share of examples that greedy decoding answers exactly."""
        return sum(self.exact) / len(self.exact) if self.exact else 0.0

    def example_loss(self) -> list[float]:
        """Each example's mean loss per answer token (for paired comparisons item by item)."""
        return [n / max(1, t) for n, t in zip(self.nll, self.tokens)]

    def __len__(self) -> int:
        return len(self.exact)


def _check(examples: Sequence[dict], stop_token_id: int | None) -> None:
    if not examples:
        raise ValueError("answer_scores needs at least one tokenized example")
    for i, e in enumerate(examples):
        if not isinstance(e, dict) or "labels" not in e or "input_ids" not in e:
            raise TypeError(f"example {i} is not a tokenized example (ftlib.data.tokenize_sft gives one)")
        if all(label == IGNORE_INDEX for label in e["labels"][1:]):
            raise ValueError(f"example {i} has no answer token to score (every label is {IGNORE_INDEX})")
    if stop_token_id is not None and (isinstance(stop_token_id, bool) or not isinstance(stop_token_id, int)):
        raise TypeError(f"stop_token_id must be a token id (int) or None, got {stop_token_id!r}")


def _first_answer(example: dict) -> int:
    """The position of the first answer token (the first label that is not ignored)."""
    return next(i for i, label in enumerate(example["labels"]) if label != IGNORE_INDEX)


@torch.no_grad()
def answer_scores(
    model: torch.nn.Module,
    examples: Sequence[dict[str, list[int]]],
    pad_token_id: int,
    stop_token_id: int | None,
    batch_size: int = 16,
    progress: bool = False,
    shared_prefix: bool = True,
) -> AnswerScores:
    """The loss of each example's answer and whether greedy decoding would reproduce it.

    Args:
        examples: tokenized examples with the prompt masked (``ftlib.data.tokenize_sft``).
        pad_token_id: the id used to pad batches on the right.
        stop_token_id: the token that ends generation (``tokenizer.eos_token_id``; for SmolLM2
            the end-of-turn token). Answer tokens after it do not count for the exact match.
            None: every answer token counts.
        batch_size: examples per forward pass.
        shared_prefix: run the tokens that every prompt begins with once, and reuse their keys and
            values (False: every example runs whole; the results agree to float rounding). Always
            False for peft's prompt-learning methods, which add virtual tokens to every pass.

    Raises:
        ValueError: for no examples, or an example without answer tokens.
        TypeError: for something that is not a tokenized example.
    """
    _check(examples, stop_token_id)
    if getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False):
        shared_prefix = False  # prompt, prefix and P-tuning add their virtual tokens to every forward pass
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # The shared beginning ends before the position that predicts the first answer token.
    start = 0
    if shared_prefix and len(examples) > 1:
        common = len(os.path.commonprefix([list(e["input_ids"]) for e in examples]))
        start = max(0, min(common, min(_first_answer(e) for e in examples) - 1))
    cache = None
    if start:
        prefix = torch.tensor([examples[0]["input_ids"][:start]], device=device)
        cache = model(input_ids=prefix, use_cache=True).cache  # keys and values of the prefix, batch 1
    scores = AnswerScores()
    try:
        for first_row in tqdm(range(0, len(examples), batch_size), desc="scoring", disable=not progress):
            rows = [{k: e[k][start:] for k in ("input_ids", "attention_mask", "labels")}
                    for e in examples[first_row : first_row + batch_size]]  # fmt: skip
            batch = collate(rows, pad_token_id)
            # Position t predicts token t+1: shift the labels left, as the loss does.
            target = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)  # (B, T)
            answer = target != IGNORE_INDEX
            first = int(answer.float().argmax(dim=1).min())  # the earliest position that predicts an answer token
            keep = target.shape[1] - first
            mask = batch["attention_mask"]
            past = None
            if cache is not None:
                past = copy.deepcopy(cache)  # the forward pass appends to it
                past.batch_repeat_interleave(len(rows))
                mask = torch.cat([torch.ones(len(rows), start, dtype=mask.dtype), mask], dim=1)
            reuse = {"cache": past, "use_cache": True} if past is not None else {"use_cache": False}
            logits = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=mask.to(device),
                logits_to_keep=keep,  # logits for the last `keep` positions only: (B, keep, V)
                **reuse,  # no cache=None: prefix tuning passes its own cache (its prefix's keys and values)
            ).logits.float().cpu()
            target, answer = target[:, first:], answer[:, first:]
            nll = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), target.clamp(min=0), reduction="none"
            )  # (B, keep)
            nll = nll * answer
            counted = answer.clone()
            if stop_token_id is not None:  # tokens after the first stop token are never generated
                stops = (target == stop_token_id) & answer
                counted &= (stops.cumsum(dim=1) - stops.long()) == 0
            right = (logits.argmax(dim=-1) == target) | ~counted
            scores.nll += nll.sum(dim=1).tolist()
            scores.tokens += answer.sum(dim=1).tolist()
            scores.exact += right.all(dim=1).tolist()
    finally:
        model.train(was_training)
    return scores
