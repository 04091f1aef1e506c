"""The figures of chapter 9: learning curves with intervals, and confusion matrices.

Functions return the matplotlib ``Axes`` they drew on and change no global settings.

Taught in chapter 9, sections 9.6 to 9.8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ftlib.stats import mean_interval

__all__ = ["plot_confusion", "plot_learning_curves"]


def plot_learning_curves(curves: Mapping[str, Mapping[int, Sequence[float]]], title: str, ylabel: str,
                         flat: Mapping[str, Sequence[float]] | None = None, ax=None):
    """One line per approach: the mean over draws at each budget, with its 95 % t-interval as a band.

    Args:
        curves: approach -> {labelled examples per class -> one score per draw}.
        flat: approaches that do not depend on the budget (zero-shot): approach -> scores,
            drawn as a horizontal line with its interval.

    Returns:
        The matplotlib Axes (log-scaled x axis).

    Raises:
        ValueError: for an approach with no points.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.2, 4.4))
    for name, points in curves.items():
        if not points:
            raise ValueError(f"approach {name!r} has no points")
        xs = sorted(points)
        stats = [mean_interval(points[x]) for x in xs]
        line = ax.plot(xs, [s.estimate for s in stats], marker="o", markersize=4, label=name)[0]
        ax.fill_between(xs, [s.low for s in stats], [s.high for s in stats], color=line.get_color(), alpha=0.15)
    for name, scores in (flat or {}).items():
        s = mean_interval(scores)
        line = ax.axhline(s.estimate, linestyle="--", linewidth=1.2, label=name, color="0.3" if name == "zero-shot" else None)
        ax.axhspan(s.low, s.high, color=line.get_color(), alpha=0.1)
    ax.set_xscale("log")
    budgets = sorted({x for points in curves.values() for x in points})
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set(title=title, xlabel="labelled training examples per class (log scale)", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str, ax=None):
    """A confusion matrix as a heat map of counts: rows are the true class, columns the predicted one."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix must be {len(labels)} x {len(labels)}, got shape {matrix.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(matrix, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            dark = matrix[i, j] > matrix.max() / 2
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color="white" if dark else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(title=title, xlabel="predicted section", ylabel="true section")
    return ax
