"""Tests for chapter 10's data: the builders in data/build.py and the committed instruction and general sets."""

import importlib.util
import json
import random
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("data_build_ch10", ROOT / "data" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)  # data/ is not a package


def read(folder: str, split: str) -> list[dict]:
    return [json.loads(line) for line in (ROOT / "data" / folder / f"{split}.jsonl").read_text().splitlines()]


def test_format_number():
    assert [build.format_number(x) for x in (3500.0, 0.25, 7.5, 12, 0.0)] == ["3500", "0.25", "7.5", "12", "0"]


def test_unit_conversion_answers_are_exact():
    factors = {(a, b): f for a, b, f in build.UNIT_FACTORS}
    rng = random.Random(0)
    for _ in range(500):
        question, answer = build.unit_conversion(rng)
        value, source, target = re.fullmatch(r"Convert (\S+) (\S+) to (\S+)\.", question).groups()
        number, unit = answer.split(" ")
        assert unit == target
        expected = float(value) * factors[(source, target)] if (source, target) in factors else (
            float(value) / factors[(target, source)]
        )
        assert float(number) == pytest.approx(expected)


def test_homepage_domain():
    assert build.homepage_domain("https://www.Example.org/path?q=1") == "example.org"
    assert build.homepage_domain("http://code.rocketnine.space:8080/x") == "code.rocketnine.space"
    assert build.homepage_domain("not a url") is None


def test_fortune_texts_split_and_filter():
    text = "one two three four five six seven eight\n%\ntoo short\n%\n" + "word " * 100 + "\n%\n"
    assert build.fortune_texts(text) == ["one two three four five six seven eight"]


def test_committed_instruction_set():
    train, test, phrasing, task = (read("instructions", s) for s in ("train", "test", "test_phrasing", "test_task"))
    held_out = len(build.PHRASINGS["dates"]) - 1
    for r in train + test:
        assert r["prompt"].startswith(build.PHRASINGS[r["task"]][r["phrasing"]] + "\n") and r["phrasing"] < held_out
    for r in phrasing:
        assert r["prompt"].startswith(build.PHRASINGS[r["task"]][held_out] + "\n")
    for r in task:  # the unit answers recomputed from the question
        question = r["prompt"].split("\n", 1)[1]
        assert r["source"] == question and r["task"] == build.HELD_OUT_TASK
    assert len({r["prompt"] for r in task}) == len(task)
    for r in train + test:
        if r["task"] == "fields":
            assert "Homepage: " in r["prompt"] and r["answer"] in r["prompt"].lower()
    # no source item (date, request, package) is in both train and test
    assert not {(r["task"], r["source"]) for r in train} & {(r["task"], r["source"]) for r in test}


def test_committed_general_set():
    questions = read("general", "questions")
    assert [(q["prompt"], q["answer"]) for q in questions] == list(build.GENERAL_QUESTIONS)
    lo, hi = build.GENERAL_WORDS
    for name in ("probe_text", "mix_text"):
        assert all(lo <= len(r["text"].split()) <= hi for r in read("general", name))
