"""Checks for the exercises of chapter 10, instruction tuning and evaluation: ``check("10.1", answer)``.

Taught in chapter 10, section Exercises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result

__all__ = ["CHECKS"]

F1_CASES = [
    ("The capital of France is Paris.", "Paris"),
    ("the cat sat", "a cat sat down"),
    ("cat cat", "cat"),
    ("2027-03-05", "5 March 2027"),
    ("Paris!", "paris"),
    ("dog", "cat"),
    ("an apple a day", "The Apple"),
]


def _check_10_1(fn: Any) -> Result:
    """token_f1(prediction, reference) -> SQuAD's token-level F1."""
    from ftlib.evaluate import normalize_answer, token_f1

    if not callable(fn):
        return False, "expected a function token_f1(prediction, reference) returning a number"
    for prediction, reference in F1_CASES:
        try:
            got = float(fn(prediction, reference))
        except Exception as exc:
            return False, f"token_f1({prediction!r}, {reference!r}) raised or gave no number ({type(exc).__name__}: {exc})"
        expected = token_f1(prediction, reference)
        if abs(got - expected) > 1e-9:
            raw = prediction.lower().split(), reference.lower().split()
            if normalize_answer(prediction) != " ".join(raw[0]) or normalize_answer(reference) != " ".join(raw[1]):
                hint = "normalise both texts first: lower case, drop punctuation and the articles a, an, the"
            else:
                hint = ("count shared tokens as a multiset (Counter(p) & Counter(r)): a token counts as often as it "
                        "occurs in both, no more")
            return False, f"token_f1({prediction!r}, {reference!r}) gave {got:.4f}, expected {expected:.4f}. Hint: {hint}"
    return True, f"right on all {len(F1_CASES)} pairs, normalisation and repeated tokens included"


ROUGE_CASES = [
    ("the cat sat on the mat", "the cat lay on the mat"),
    ("mat the on sat cat the", "the cat sat on the mat"),
    ("2027 03 05", "2027 05 03"),
    ("a b c d e", "e d c b a"),
    ("police killed the gunman", "the gunman kill police"),
    ("nothing shared", "at all"),
]


def _check_10_2(fn: Any) -> Result:
    """rouge_l(prediction, reference) -> ROUGE-L F-measure on lower-cased alphanumeric tokens."""
    from ftlib.evaluate import rouge_l

    if not callable(fn):
        return False, "expected a function rouge_l(prediction, reference) returning a number"
    for prediction, reference in ROUGE_CASES:
        try:
            got = float(fn(prediction, reference))
        except Exception as exc:
            return False, f"rouge_l({prediction!r}, {reference!r}) raised or gave no number ({type(exc).__name__}: {exc})"
        expected = rouge_l(prediction, reference)
        if abs(got - expected) > 1e-9:
            p, r = prediction.split(), reference.split()
            unigram = sum(min(p.count(w), r.count(w)) for w in set(p))
            f_unigram = 2 * unigram / (len(p) + len(r)) if unigram else 0.0
            hint = ("that is unigram overlap (ROUGE-1): ROUGE-L counts the longest common subsequence, which keeps "
                    "the order" if abs(got - f_unigram) < 1e-9
                    else "fill table[i][j] = table[i-1][j-1] + 1 when the tokens match, else the larger of "
                    "table[i-1][j] and table[i][j-1]; then F = 2PR/(P+R)")
            return False, f"rouge_l({prediction!r}, {reference!r}) gave {got:.4f}, expected {expected:.4f}. Hint: {hint}"
    return True, f"right on all {len(ROUGE_CASES)} pairs, reordered words included"


PPL_CASES = [[-0.5, -1.0, -2.0], [math.log(0.25)] * 4, [-3.0], [-0.1, -0.1, -6.0, -0.2]]


def _check_10_3(fn: Any) -> Result:
    """perplexity(logprobs) -> exp(-mean of the per-token log-probabilities)."""
    if not callable(fn):
        return False, "expected a function perplexity(logprobs) returning a number"
    for logprobs in PPL_CASES:
        expected = math.exp(-sum(logprobs) / len(logprobs))
        try:
            got = float(fn(list(logprobs)))
        except Exception as exc:
            return False, f"perplexity({logprobs}) raised or gave no number ({type(exc).__name__}: {exc})"
        if abs(got - expected) > 1e-6 * expected:
            if abs(got - 1 / expected) < 1e-6 / expected:
                hint = "the loss is minus the mean log-probability: without the minus sign you get 1/perplexity"
            elif abs(got - math.exp(-sum(logprobs))) < 1e-6 * math.exp(-sum(logprobs)):
                hint = "average over the tokens before taking exp: a sum grows with the length of the text"
            else:
                hint = "perplexity = exp(-(1/T) * sum of log p(token))"
            return False, f"perplexity({logprobs}) gave {got:.4f}, expected {expected:.4f}. Hint: {hint}"
    return True, "right on all 4 texts; four equally likely tokens give perplexity 4"


CHECKS: dict[str, Callable[[Any], Result]] = {
    "10.1": _check_10_1,
    "10.2": _check_10_2,
    "10.3": _check_10_3,
}
