"""Read a recorded sweep: group its runs, put intervals on their metrics, compare two settings.

A sweep of ``experiments/07_lora_sweeps.py`` is a list of runs (``ftlib.lora_runs.run`` records, plus
the sweep's own keys such as ``label`` or ``r``). A comparison can vary along two axes, and this
module gives an interval for each:

- over **seeds** (``seed_interval``, ``paired_seed_difference``): would another seed (another
  initialisation and batch order) give the same number? Runs of two settings with the same seed saw
  the same batches, so their per-seed differences are paired.
- over **test items** (``item_difference``): would another test set of the same size give the same
  difference? The per-item scores are averaged over seeds, then compared item by item with a
  paired bootstrap.

``best_lr`` finds the best learning rate of a grid, and ``log_vertex`` refines it between grid
points with a parabola through the best point and its two neighbours (in log learning rate).

Taught in chapter 7, section 7.3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ftlib.stats import Interval, mean_interval, paired_bootstrap

__all__ = [
    "best_lr",
    "item_difference",
    "item_scores",
    "log_vertex",
    "paired_seed_difference",
    "seed_interval",
    "select",
    "values",
]

Run = dict[str, Any]


def select(runs: Sequence[Run], **where: Any) -> list[Run]:
    """The runs whose keys equal every ``where`` value (``select(runs, label="MLP")``; ``lr`` looks in the budget).

    Raises:
        ValueError: when no run matches (a typo in a label would otherwise give an empty comparison).
    """
    def value(run: Run, key: str) -> Any:
        return run["budget"][key] if key not in run and key in run.get("budget", {}) else run.get(key)

    chosen = [run for run in runs if all(value(run, k) == v for k, v in where.items())]
    if not chosen:
        labels = sorted({str(run.get("label")) for run in runs})
        raise ValueError(f"no run has {where}; the labels are {labels}")
    return sorted(chosen, key=lambda run: run["seed"])


def values(runs: Sequence[Run], split: str, metric: str) -> list[float]:
    """``run[split][metric]`` of each run, in seed order (``metric``: ``"loss"`` or ``"exact_match"``)."""
    missing = [run["seed"] for run in runs if split not in run or metric not in run[split]]
    if missing:
        raise KeyError(f"runs with seeds {missing} have no {split!r} {metric!r}")
    return [float(run[split][metric]) for run in sorted(runs, key=lambda run: run["seed"])]


def seed_interval(runs: Sequence[Run], split: str, metric: str, confidence: float = 0.95) -> Interval:
    """The mean of ``metric`` over the runs (one per seed) with its Student-t interval."""
    return mean_interval(values(runs, split, metric), confidence)


def paired_seed_difference(
    runs_a: Sequence[Run], runs_b: Sequence[Run], split: str, metric: str, confidence: float = 0.95
) -> Interval:
    """Mean over seeds of ``a - b``, pairing the runs of the two settings that share a seed.

    Raises:
        ValueError: when the two settings were not run with the same seeds.
    """
    seeds_a, seeds_b = [r["seed"] for r in runs_a], [r["seed"] for r in runs_b]
    if sorted(seeds_a) != sorted(seeds_b):
        raise ValueError(f"pairing needs the same seeds, got {sorted(seeds_a)} and {sorted(seeds_b)}")
    a, b = values(runs_a, split, metric), values(runs_b, split, metric)
    return mean_interval([x - y for x, y in zip(a, b)], confidence)


def item_scores(runs: Sequence[Run], split: str, score: str = "exact") -> list[float]:
    """Each item's score (``"exact"`` 0/1 or ``"example_loss"``) averaged over the runs' seeds."""
    rows = [run[split][score] for run in runs]
    if len({len(row) for row in rows}) != 1:
        raise ValueError("the runs were scored on different numbers of items")
    return [sum(column) / len(rows) for column in zip(*rows)]


def item_difference(
    runs_a: Sequence[Run], runs_b: Sequence[Run], split: str, score: str = "exact", seed: int = 0
) -> Interval:
    """Mean over test items of ``a - b`` (item scores averaged over seeds), with a paired bootstrap interval."""
    return paired_bootstrap(item_scores(runs_a, split, score), item_scores(runs_b, split, score), seed=seed)


def log_vertex(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The learning rate at the bottom of a parabola through the lowest loss and its two neighbours, in log10(lr).

    At the edge of the grid (no neighbour on one side) the grid's best learning rate is returned.
    """
    if len(lrs) != len(losses) or len(lrs) < 1:
        raise ValueError("need one loss per learning rate")
    order = sorted(range(len(lrs)), key=lambda i: lrs[i])
    x = [math.log10(lrs[i]) for i in order]
    y = [losses[i] for i in order]
    k = min(range(len(y)), key=y.__getitem__)
    if k in (0, len(y) - 1):
        return 10 ** x[k]
    (x0, x1, x2), (y0, y1, y2) = x[k - 1 : k + 2], y[k - 1 : k + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
    if a <= 0:  # not a valley: keep the grid point
        return 10 ** x[k]
    return 10 ** min(max(-b / (2 * a), x0), x2)


def best_lr(runs: Sequence[Run], split: str = "val", metric: str = "loss") -> dict[str, Any]:
    """The learning rate with the lowest mean ``metric`` over seeds, and the parabola's refinement.

    Returns:
        ``{"lr": best grid value, "vertex": log_vertex estimate, "means": {lr: mean}, "per_seed": {seed: best lr}}``.
    """
    lrs = sorted({run["budget"]["lr"] for run in runs})
    means = {lr: seed_interval(select(runs, lr=lr), split, metric).estimate for lr in lrs}
    best = min(means, key=means.get)
    per_seed = {}
    for seed in sorted({run["seed"] for run in runs}):
        mine = {run["budget"]["lr"]: run[split][metric] for run in runs if run["seed"] == seed}
        per_seed[seed] = min(mine, key=mine.get)
    return {"lr": best, "vertex": log_vertex(lrs, [means[lr] for lr in lrs]), "means": means, "per_seed": per_seed}
