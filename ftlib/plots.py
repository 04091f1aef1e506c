"""The figures the chapters draw: loss curves for now.

Functions return the matplotlib ``Axes`` they drew on and change no global settings.

Taught in chapter 1, section 1.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_loss"]


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
