"""Tests for ftlib.instruct: chapter 10's data loaders, text scoring, mixing and one run."""

import math

import pytest
import torch

from ftlib.data import IGNORE_INDEX
from ftlib.instruct import (
    EVAL_SPLITS,
    FORGETTING_METHODS,
    forgetting_budget,
    forgetting_run,
    load_general,
    load_instructions,
    mixed_examples,
    question_scores,
    text_examples,
    text_losses,
)
from ftlib.profile import get_profile

PHRASING_HELD_OUT = 3  # the fourth phrasing of each task is never trained on


def test_splits_hold_out_phrasings_and_a_task():
    train = load_instructions("train")
    assert {r["task"] for r in train} == {"dates", "requests", "sections", "fields"}
    assert all(r["phrasing"] < PHRASING_HELD_OUT for r in train)
    test, phrasing = load_instructions("test"), load_instructions("test_phrasing")
    assert [(r["id"], r["answer"]) for r in test] == [(r["id"], r["answer"]) for r in phrasing]
    assert all(r["phrasing"] == PHRASING_HELD_OUT for r in phrasing)
    train_instructions = {r["prompt"].split("\n", 1)[0] for r in train}
    assert not train_instructions & {r["prompt"].split("\n", 1)[0] for r in phrasing}
    assert {r["task"] for r in load_instructions("test_task")} == {"units"}
    assert not {r["source"] for r in train if "source" in r} & {r["source"] for r in test if "source" in r}
    with pytest.raises(ValueError, match="unknown split"):
        load_instructions("dev")


def test_general_sets():
    probe, mix = load_general("probe_text"), load_general("mix_text")
    assert probe and mix and not {r["text"] for r in probe} & {r["text"] for r in mix}
    assert all({"prompt", "answer"} <= set(q) for q in load_general("questions"))
    with pytest.raises(ValueError, match="unknown general set"):
        load_general("wiki")


def test_text_examples_label_every_token(smoke):
    _, tokenizer = smoke
    (example,) = text_examples(["Hello there, world."], tokenizer)
    assert example["input_ids"] == example["labels"] and IGNORE_INDEX not in example["labels"]
    assert example["input_ids"][0] in (tokenizer.bos_token_id, tokenizer.eos_token_id)
    assert len(text_examples(["word " * 500], tokenizer, max_length=20)[0]["input_ids"]) == 20
    with pytest.raises(TypeError, match="not one string"):
        text_examples("Hello", tokenizer)


def test_text_losses_match_the_models_own_loss(smoke):
    model, tokenizer = smoke
    examples = text_examples(["A short text.", "A somewhat longer text than the first one."], tokenizer)
    losses = text_losses(model, examples, tokenizer.pad_token_id)
    for example, loss in zip(examples, losses):
        ids = torch.tensor([example["input_ids"]])
        with torch.no_grad():
            expected = model(input_ids=ids, labels=ids).loss.item()  # transformers' mean next-token loss
        assert loss == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="no examples"):
        text_losses(model, [], tokenizer.pad_token_id)


def test_mixed_examples_share():
    task, general = [{"t": i} for i in range(80)], [{"g": i} for i in range(7)]
    mixed = mixed_examples(task, general, 0.2, seed=1)
    assert len(mixed) == 100 and sum("g" in m for m in mixed) == 20  # 20 of 100: cycles through 7
    assert mixed_examples(task, general, 0.2, seed=1) == mixed
    assert sorted(m["t"] for m in mixed_examples(task, [], 0.0)) == list(range(80))  # share 0: the task only
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        mixed_examples(task, general, 1.0)
    with pytest.raises(ValueError, match="needs general examples"):
        mixed_examples(task, [], 0.5)


def test_question_scores(smoke):
    model, tokenizer = smoke
    scores = question_scores(model, tokenizer)
    assert len(scores["answers"]) == len(scores["correct"]) == len(load_general("questions"))


def test_forgetting_run_records_tasks_and_probe():
    P = get_profile("smoke")
    settings = FORGETTING_METHODS["LoRA r=8"]
    record = forgetting_run(P, settings["method"], forgetting_budget(P, settings["lr"]), seed=0, mix_share=0.2)
    assert all(0 <= record[s]["exact_match"] <= 1 for s in EVAL_SPLITS)
    assert len(record["probe_text"]["example_loss"]) == len(load_general("probe_text"))
    assert math.isfinite(record["probe_text"]["loss"]) and record["mix_share"] == 0.2
    assert forgetting_budget(P, 1e-3).num_steps == 2
