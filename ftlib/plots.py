"""The figures the chapters draw: loss curves, metric curves, per-token losses.

Functions return the matplotlib ``Axes`` they drew on and change no global settings.

Taught in chapter 1, section 1.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_curves", "plot_history", "plot_loss", "plot_token_losses"]


def plot_loss(losses: Sequence[float], title: str = "Training loss", window: int = 5, ax=None):
    """Plot a loss per step, with its running mean over ``window`` steps.

    Returns:
        The matplotlib Axes.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError("losses must be a non-empty 1-D sequence of numbers")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    steps = np.arange(1, losses.size + 1)
    ax.plot(steps, losses, marker="o", markersize=3, linewidth=1, alpha=0.5, label="per step")
    if losses.size >= window > 1:
        running = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], running, linewidth=2, label=f"mean of last {window} steps")
    ax.set(title=title, xlabel="optimizer step", ylabel="cross-entropy per answer token (nats)")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_curves(curves: dict[str, Sequence[float]], title: str, xlabel: str, ylabel: str, ax=None):
    """Plot several named curves against their index (0, 1, 2, ...), one line each.

    Returns:
        The matplotlib Axes.

    Taught in chapter 2, section 2.5.
    """
    if not curves:
        raise ValueError("curves is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, values in curves.items():
        ax.plot(np.arange(len(values)), values, marker="o", markersize=3, label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_token_losses(tokens: Sequence[str], losses: dict[str, Sequence[float]], title: str, ax=None):
    """Bar chart of the loss of each token of one answer, one group of bars per named model.

    Returns:
        The matplotlib Axes.

    Taught in chapter 2, section 2.8.
    """
    if not losses or any(len(v) != len(tokens) for v in losses.values()):
        raise ValueError("every entry of losses needs one value per token")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.4, 0.45 * len(tokens) * len(losses)), 3.6))
    width = 0.8 / len(losses)
    x = np.arange(len(tokens))
    for i, (name, values) in enumerate(losses.items()):
        ax.bar(x + (i - (len(losses) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [repr(t)[1:-1] for t in tokens], rotation=45, ha="right")
    ax.set(title=title, xlabel="answer token", ylabel="-log p(token) (nats)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return ax


def plot_history(histories: dict, title: str = "Training and validation loss", ax=None):
    """Plot runs recorded by ``ftlib.train``: training loss per step (line), validation loss (markers).

    ``histories`` maps a run's name to its ``History``; one colour per run.

    Returns:
        The matplotlib Axes.

    Taught in chapter 4, section 4.3.
    """
    if not histories:
        raise ValueError("histories is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, h in histories.items():
        (line,) = ax.plot(np.arange(1, len(h.loss) + 1), h.loss, alpha=0.8, label=f"{name}: training")
        if h.val_loss:
            ax.plot(h.val_step, h.val_loss, "o--", color=line.get_color(), label=f"{name}: validation")
    ax.set(title=title, xlabel="optimizer step", ylabel="loss (nats per answer token)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
