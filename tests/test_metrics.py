"""Chapter 10's metrics, each checked against a reference implementation.

Token F1 against the official SQuAD v1.1 evaluation script's functions (copied below as the
reference), ROUGE-L against Google's ``rouge-score`` package, BLEU against ``sacrebleu``; both
packages come with the ``test`` extra. Random cases from a small vocabulary make overlaps likely.
"""

import collections
import math
import random
import re
import string

import pytest

from ftlib.evaluate import (
    bleu,
    contains_answer,
    lcs_length,
    normalize_answer,
    perplexity,
    rouge_l,
    token_f1,
)

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
sacrebleu = pytest.importorskip("sacrebleu")

WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "2027-03-05", "Paris", "is", "capital", "of", "France", "."]


def squad_normalize(s):
    """The SQuAD v1.1 script's normalize_answer (Rajpurkar et al. 2016), as published."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1(prediction, ground_truth):
    """The SQuAD v1.1 script's f1_score, as published."""
    prediction_tokens = squad_normalize(prediction).split()
    ground_truth_tokens = squad_normalize(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def random_text(rng, lo=1, hi=12):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def test_token_f1_by_hand():
    # "the cat sat" against "a cat sat down": articles dropped, 2 shared of 2 and of 3 tokens
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert token_f1("Paris.", "paris") == 1.0
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("dog", "cat") == 0.0
    assert token_f1("cat cat", "cat") == pytest.approx(2 / 3)  # a repeated token counts once per match


def test_token_f1_matches_the_squad_script():
    rng = random.Random(0)
    for _ in range(300):
        p, r = random_text(rng), random_text(rng)
        if squad_normalize(p) and squad_normalize(r):  # the script divides by zero on empty texts
            assert token_f1(p, r) == pytest.approx(squad_f1(p, r))
            assert normalize_answer(p) == squad_normalize(p)


def test_lcs_by_hand():
    assert lcs_length("ABCBDAB", "BDCABA") == 4  # the textbook pair (Cormen et al.)
    assert lcs_length([], ["a"]) == 0 and lcs_length(["a", "b"], ["a", "b"]) == 2


def test_rouge_l_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(1)
    for _ in range(300):
        p, r = random_text(rng), random_text(rng)
        assert rouge_l(p, r) == pytest.approx(scorer.score(r, p)["rougeL"].fmeasure, abs=1e-12)


def test_bleu_matches_sacrebleu():
    rng = random.Random(2)
    for _ in range(100):
        n = rng.randint(1, 6)
        preds = [random_text(rng, 1, 15) for _ in range(n)]
        refs = [random_text(rng, 1, 15) for _ in range(n)]
        expected = sacrebleu.corpus_bleu(preds, [refs], tokenize="none", smooth_method="none").score
        assert bleu(preds, refs) == pytest.approx(expected, abs=1e-9)
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100)


def test_bleu_brevity_penalty_and_short_answers():
    # a prediction shorter than its reference loses exp(1 - r/c) even when every n-gram matches
    assert bleu(["the cat sat on the"], ["the cat sat on the mat"]) == pytest.approx(100 * math.exp(1 - 6 / 5))
    assert bleu(["2027-03-05"], ["2027-03-05"]) == 0.0  # one token has no 2-, 3- or 4-grams to match
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        bleu(["a", "b"], ["a"])


def test_contains_answer():
    assert contains_answer("The capital of France is Paris.", "Paris")
    assert not contains_answer("Parisian food", "Paris")  # whole words only
    assert not contains_answer("anything", "")
    assert contains_answer("2 + 3 = 5", "5") and not contains_answer("8 + 5 = 12", "13")


def test_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(50)) == pytest.approx(50)
