"""The autograded checks of chapter 10 accept right answers and turn down the usual wrong ones."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

from ftlib.exercises import check


def normalize(text):
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction, reference):
    p, r = normalize(prediction).split(), normalize(reference).split()
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def token_f1_sets(prediction, reference):
    p, r = set(normalize(prediction).split()), set(normalize(reference).split())
    common = len(p & r)
    return 2 * common / (len(p) + len(r)) if common else 0.0


def token_f1_raw(prediction, reference):
    p, r = prediction.lower().split(), reference.lower().split()
    common = sum((Counter(p) & Counter(r)).values())
    return 2 * common / (len(p) + len(r)) if common else 0.0


def test_10_1():
    assert check("10.1", token_f1)
    assert not check("10.1", token_f1_sets)
    assert not check("10.1", token_f1_raw)
    assert not check("10.1", "0.5")


def rouge_l(prediction, reference):
    p = re.sub(r"[^a-z0-9]+", " ", prediction.lower()).split()
    r = re.sub(r"[^a-z0-9]+", " ", reference.lower()).split()
    table = [[0] * (len(r) + 1) for _ in range(len(p) + 1)]
    for i in range(1, len(p) + 1):
        for j in range(1, len(r) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if p[i - 1] == r[j - 1] else max(table[i - 1][j], table[i][j - 1])
    lcs = table[-1][-1]
    return 2 * lcs / (len(p) + len(r)) if lcs else 0.0


def rouge_1(prediction, reference):
    p, r = prediction.split(), reference.split()
    overlap = sum(min(p.count(w), r.count(w)) for w in set(p))
    return 2 * overlap / (len(p) + len(r)) if overlap else 0.0


def test_10_2():
    assert check("10.2", rouge_l)
    assert not check("10.2", rouge_1)


def perplexity(logprobs):
    return math.exp(-sum(logprobs) / len(logprobs))


def test_10_3():
    assert check("10.3", perplexity)
    assert not check("10.3", lambda lp: math.exp(sum(lp) / len(lp)))  # the minus sign left out
    assert not check("10.3", lambda lp: math.exp(-sum(lp)))  # no mean
