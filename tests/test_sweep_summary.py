"""ftlib.sweep_summary: grouping runs, intervals over seeds and items, best learning rate."""

import math

import pytest

from ftlib.stats import mean_interval, paired_bootstrap
from ftlib.sweep_summary import (
    best_lr,
    item_difference,
    item_scores,
    log_vertex,
    paired_seed_difference,
    seed_interval,
    select,
    values,
)


def fake(label, seed, loss, exact, lr=1e-3):
    return {"label": label, "seed": seed, "budget": {"lr": lr},
            "val": {"loss": loss, "exact_match": sum(exact) / len(exact), "exact": exact}}  # fmt: skip


RUNS = [
    fake("a", 1, 0.30, [1, 1, 0, 0]), fake("a", 0, 0.20, [1, 1, 1, 0]), fake("a", 2, 0.25, [1, 0, 1, 0]),
    fake("b", 0, 0.40, [1, 0, 0, 0]), fake("b", 1, 0.45, [0, 1, 0, 0]), fake("b", 2, 0.41, [1, 0, 0, 0]),
]  # fmt: skip


def test_select_and_values():
    a = select(RUNS, label="a")
    assert [r["seed"] for r in a] == [0, 1, 2]
    assert values(a, "val", "loss") == [0.20, 0.30, 0.25]
    assert select(RUNS, label="a", lr=1e-3) == a  # lr is looked up in the budget
    with pytest.raises(ValueError, match="labels are"):
        select(RUNS, label="c")
    with pytest.raises(KeyError, match="no 'test'"):
        values(a, "test", "loss")


def test_intervals():
    a, b = select(RUNS, label="a"), select(RUNS, label="b")
    assert seed_interval(a, "val", "loss") == mean_interval([0.20, 0.30, 0.25])
    diff = paired_seed_difference(a, b, "val", "loss")
    assert diff == mean_interval([0.20 - 0.40, 0.30 - 0.45, 0.25 - 0.41])
    with pytest.raises(ValueError, match="same seeds"):
        paired_seed_difference(a, b[:2], "val", "loss")
    assert item_scores(a, "val") == [1.0, 2 / 3, 2 / 3, 0.0]
    assert item_difference(a, b, "val") == paired_bootstrap([1, 2 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0, 0])


def test_log_vertex():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1]
    losses = [(math.log10(lr) + 2.3) ** 2 for lr in lrs]  # a parabola with its bottom at 10**-2.3
    assert log_vertex(lrs, losses) == pytest.approx(10**-2.3)
    assert log_vertex(lrs, [4, 3, 2, 1]) == 1e-1  # best at the edge: the grid point
    assert log_vertex([1e-3], [0.5]) == 1e-3
    with pytest.raises(ValueError):
        log_vertex([1e-3, 1e-2], [0.5])


def test_best_lr():
    runs = [fake("x", s, (math.log10(lr) + 3) ** 2 + 0.01 * s, [0], lr=lr) for s in (0, 1) for lr in (1e-4, 1e-3, 1e-2)]
    best = best_lr(runs)
    assert best["lr"] == 1e-3 and best["vertex"] == pytest.approx(1e-3) and best["per_seed"] == {0: 1e-3, 1: 1e-3}
    assert list(best["means"]) == [1e-4, 1e-3, 1e-2]
