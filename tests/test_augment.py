"""ftlib.augment: word dropout, word rotation and paraphrase prompts keep the label and never lose the text."""

from __future__ import annotations

import random

import pytest

from ftlib.augment import augment_records, paraphrase_prompts, rotate_words, word_dropout

RECORDS = [{"id": "a", "text": "IRC client for Emacs", "label": "net"},
           {"id": "b", "text": "minesweeper", "label": "games"}]


def test_word_dropout():
    rng = random.Random(0)
    outs = [word_dropout("one two three four five six", 0.5, rng) for _ in range(200)]
    assert all(o and set(o.split()) <= {"one", "two", "three", "four", "five", "six"} for o in outs)
    lengths = [len(o.split()) for o in outs]
    assert 2 < sum(lengths) / len(lengths) < 4  # about half of six words survive
    assert word_dropout("alone", 0.9, rng) == "alone"  # at least one word survives
    assert word_dropout("keep all words", 0.0, rng) == "keep all words"
    with pytest.raises(ValueError, match="p must be"):
        word_dropout("x", 1.0, rng)
    with pytest.raises(ValueError, match="empty"):
        word_dropout("  ", 0.1, rng)


def test_rotate_words_keeps_every_word():
    rng = random.Random(0)
    for _ in range(20):
        out = rotate_words("a b c d", rng)
        assert out != "a b c d" and sorted(out.split()) == ["a", "b", "c", "d"]
        assert out in ("b c d a", "c d a b", "d a b c")
    assert rotate_words("single", rng) == "single"


def test_augment_records():
    new = augment_records(RECORDS, "word_dropout", copies=3, seed=0, p=0.3)
    assert new == augment_records(RECORDS, "word_dropout", copies=3, seed=0, p=0.3)
    assert all(r["label"] == {"a": "net", "b": "games"}[r["from"]] and r["augmented"] == "word_dropout" for r in new)
    assert all(r["text"] != next(o["text"] for o in RECORDS if o["id"] == r["from"]) for r in new)
    assert len({r["id"] for r in new}) == len(new)
    assert not [r for r in augment_records(RECORDS, "rotate_words", 2, 0) if r["from"] == "b"]  # one word: no copy
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_records(RECORDS, "rotate_image", 1, 0)
    with pytest.raises(ValueError, match="copies"):
        augment_records(RECORDS, "word_dropout", 0, 0)


def test_paraphrase_prompts():
    prompts = paraphrase_prompts(RECORDS)
    assert len(prompts) == 2 and prompts[0].endswith("Description: IRC client for Emacs")
