"""The autograded checks of chapter 9 accept right answers and turn down the usual wrong ones."""

from __future__ import annotations

import math

from ftlib.exercises import check


def wilson(k, n, z=1.96):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def wald(k, n, z=1.96):
    p = k / n
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_9_1():
    assert check("9.1", wilson)
    assert not check("9.1", wald)


def pick_label(model, prompt_ids, labels):
    scores = []
    for lab in labels:
        rows = model(list(prompt_ids) + list(lab))
        scores.append(sum(float(rows[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(lab)))
    return max(range(len(labels)), key=scores.__getitem__)


def first_token_only(model, prompt_ids, labels):
    rows = model(list(prompt_ids))
    return max(range(len(labels)), key=lambda k: float(rows[-1, labels[k][0]]))


def mean_per_token(model, prompt_ids, labels):
    scores = []
    for lab in labels:
        rows = model(list(prompt_ids) + list(lab))
        scores.append(sum(float(rows[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(lab)) / len(lab))
    return max(range(len(labels)), key=scores.__getitem__)


def off_by_one(model, prompt_ids, labels):
    scores = []
    for lab in labels:
        rows = model(list(prompt_ids) + list(lab))
        scores.append(sum(float(rows[len(prompt_ids) + i - 1 + 1, t]) for i, t in enumerate(lab[:-1])))
    return max(range(len(labels)), key=scores.__getitem__)


def test_9_2():
    assert check("9.2", pick_label)
    for wrong in (first_token_only, mean_per_token, off_by_one):
        assert not check("9.2", wrong), wrong.__name__


def test_9_3():
    def items_needed(p1, p2):
        return math.floor(1.96**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2) + 1

    assert check("9.3", items_needed)
    assert not check("9.3", lambda p1, p2: math.ceil(1.96**2 * p1 * (1 - p1) / (p1 - p2) ** 2))  # one system only


def test_9_4():
    from ftlib.classify import macro_f1

    assert check("9.4", macro_f1)
    assert not check("9.4", lambda p, y, k: sum(a == b for a, b in zip(p, y)) / len(y))  # accuracy
    present = lambda p, y, k: macro_f1(p, y, k) * k / len(set(p) | set(y))  # noqa: E731 (mean over present classes)
    assert not check("9.4", present)
