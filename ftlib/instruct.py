"""Chapter 10's instruction set, its forgetting probe, and one tuning run scored on both.

The instruction set (``data/instructions``) mixes four training tasks, each in several
phrasings, with two held-out test splits: ``test_phrasing`` (the same test items in a wording no
training prompt uses) and ``test_task`` (unit conversion, a task no split trains on). The probe
(``data/general``) measures what the base model knew that the tuning data does not cover: its
loss per token on literary quotations, and a set of short general questions.

``forgetting_run`` trains one method on the instructions (optionally with a share of general
text mixed in) and scores the task splits and the probe, so that a sweep can plot task gain
against probe change, run by run.

Taught in chapter 10.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from ftlib.data import collate, data_dir, load_jsonl, tokenize_sft
from ftlib.lora_budget import ALL_LINEAR
from ftlib.loss import token_nll

__all__ = [
    "EVAL_SPLITS",
    "FORGETTING_METHODS",
    "TASK_SPLITS",
    "forgetting_budget",
    "forgetting_run",
    "load_general",
    "load_instructions",
    "mixed_examples",
    "question_scores",
    "text_examples",
    "text_losses",
]

TASK_SPLITS = ("train", "validation", "test", "test_phrasing", "test_task")
EVAL_SPLITS = ("test", "test_phrasing", "test_task")

# The methods chapter 10 compares, each at the learning rate chapter 7 chose on validation for the
# same model and batch size (full fine-tuning 1e-4, LoRA 2e-3; r=64 keeps alpha/r = 2, so the
# same rate). The fourth is full fine-tuning with a fifth of the examples general text.
FORGETTING_METHODS: dict[str, dict[str, Any]] = {
    "full": {"method": {"kind": "full"}, "lr": 1e-4, "mix_share": 0.0},
    "LoRA r=8": {"method": {"kind": "lora", "target_modules": list(ALL_LINEAR), "r": 8, "lora_alpha": 16},
                 "lr": 2e-3, "mix_share": 0.0},
    "LoRA r=64": {"method": {"kind": "lora", "target_modules": list(ALL_LINEAR), "r": 64, "lora_alpha": 128},
                  "lr": 2e-3, "mix_share": 0.0},
    "full + 20% general": {"method": {"kind": "full"}, "lr": 1e-4, "mix_share": 0.2},
}  # fmt: skip


def forgetting_budget(profile, lr: float):
    """The training budget of every chapter 10 run: batch 4, cosine schedule, clipping at 1 (as chapter 7)."""
    from ftlib.lora_runs import Budget

    steps = profile.pick(gpu=200, cpu=40, smoke=2)
    return Budget(num_steps=steps, batch_size=4, lr=lr, schedule="cosine")


def load_instructions(split: str) -> list[dict]:
    """The records of ``data/instructions/<split>.jsonl`` (id, task, phrasing, prompt, answer, source).

    Raises:
        ValueError: for an unknown split.
    """
    if split not in TASK_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {TASK_SPLITS}")
    return load_jsonl(data_dir() / "instructions" / f"{split}.jsonl",
                      fields=("id", "task", "prompt", "answer"))  # fmt: skip


def load_general(name: str) -> list[dict]:
    """The probe's ``probe_text`` or the ``mix_text`` (id, text), or the ``questions`` (id, prompt, answer)."""
    fields = {"probe_text": ("id", "text"), "mix_text": ("id", "text"), "questions": ("id", "prompt", "answer")}
    if name not in fields:
        raise ValueError(f"unknown general set {name!r}; choose one of {tuple(fields)}")
    return load_jsonl(data_dir() / "general" / f"{name}.jsonl", fields=fields[name])


def text_examples(texts: Sequence[str], tokenizer, max_length: int = 128) -> list[dict[str, list[int]]]:
    """Plain text as language-modelling examples: every token after the first is a label.

    Each text starts with the tokenizer's beginning-of-text token when it has one (SmolLM2's
    ``<|endoftext|>`` otherwise), so that the first word is predicted from a start, as in
    pre-training. Texts longer than ``max_length`` tokens are cut (plain text has no answer to
    lose at its end).
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    examples = []
    for text in texts:
        ids = [start, *tokenizer(text, add_special_tokens=False)["input_ids"]][:max_length]
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)})
    return examples


@torch.no_grad()
def text_losses(model, examples: Sequence[dict], pad_token_id: int, batch_size: int = 16) -> list[float]:
    """Each example's mean loss per label token (nats): the log of its perplexity.

    Raises:
        ValueError: for no examples, or an example without a label token.
    """
    if not examples:
        raise ValueError("no examples to score")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses: list[float] = []
    for i in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[i : i + batch_size], pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
        nll, mask = token_nll(logits.float(), batch["labels"])
        counts = mask.sum(dim=1)
        if (counts == 0).any():
            raise ValueError("an example has no label token to score")
        losses += (nll.sum(dim=1) / counts).tolist()
    model.train(was_training)
    return losses


def question_scores(model, tokenizer) -> dict[str, list]:
    """Greedy answers to the general questions (12 new tokens at most) and ``contains_answer`` of each."""
    from ftlib.evaluate import contains_answer, generate

    questions = load_general("questions")
    answers = generate(model, tokenizer, [q["prompt"] for q in questions], max_new_tokens=12)
    return {"answers": answers, "correct": [int(contains_answer(a, q["answer"])) for a, q in zip(answers, questions)]}


def mixed_examples(task_examples: Sequence[dict], general_examples: Sequence[dict], share: float,
                   seed: int = 0) -> list[dict]:  # fmt: skip
    """The task examples plus general ones, so that ``share`` of the result is general text.

    With n task examples, ``round(n * share / (1 - share))`` general examples are drawn (without
    replacement, cycling when there are too few) and the whole list is shuffled with ``seed``.

    Raises:
        ValueError: for a share outside [0, 1) or no general examples when share > 0.
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    n = round(len(task_examples) * share / (1 - share))
    if n and not general_examples:
        raise ValueError("a share of general text needs general examples")
    rng = random.Random(seed)
    order = list(range(len(general_examples)))
    rng.shuffle(order)
    mixed = list(task_examples) + [general_examples[order[i % len(order)]] for i in range(n)]
    rng.shuffle(mixed)
    return mixed


def forgetting_run(profile, method: dict[str, Any], budget, seed: int, mix_share: float = 0.0,
                   progress: bool = False, keep_model: bool = False):  # fmt: skip
    """Train ``method`` on the instruction set and score the tasks and the probe; a JSON-ready record.

    ``ftlib.lora_runs.run`` trains and scores the task splits (``test``, ``test_phrasing``,
    ``test_task``) with greedy exact match read off one teacher-forced pass. This adds the probe:
    ``probe_text``, the per-text loss on the literary quotations (``text_losses``) and its mean, and
    ``questions``, the greedy answers to the general questions with ``contains_answer`` per
    question. With ``mix_share`` > 0, that share of the training examples is fortunes text
    (``mixed_examples``). ``keep_model=True`` returns ``(record, model, tokenizer)``.
    """
    from ftlib.lora_runs import run
    from ftlib.models import load_tokenizer

    tokenizer = load_tokenizer(profile)
    train = [tokenize_sft(r, tokenizer) for r in load_instructions("train")]
    if mix_share:
        general = text_examples([r["text"] for r in load_general("mix_text")], tokenizer)
        train = mixed_examples(train, general, mix_share, seed=seed)
    evals = {split: [tokenize_sft(r, tokenizer) for r in load_instructions(split)] for split in EVAL_SPLITS}
    record, model, tokenizer = run(profile, method, budget, seed, train, evals, keep_model=True, progress=progress)
    probe = text_examples([r["text"] for r in load_general("probe_text")], tokenizer)
    losses = text_losses(model, probe, tokenizer.pad_token_id)
    record["mix_share"] = mix_share
    record["questions"] = question_scores(model, tokenizer)
    record["probe_text"] = {"loss": sum(losses) / len(losses), "example_loss": [round(x, 5) for x in losses]}
    if keep_model:
        return record, model, tokenizer
    del model
    return record


