"""ftlib.classify_plots: the learning-curve and confusion-matrix figures draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ftlib.classify_plots import plot_confusion, plot_learning_curves  # noqa: E402


def test_learning_curves():
    curves = {"encoder": {5: [0.6, 0.62, 0.64], 50: [0.8, 0.81, 0.79]}, "head": {5: [0.5, 0.5, 0.6], 50: [0.7] * 3}}
    ax = plot_learning_curves(curves, "t", "accuracy", flat={"zero-shot": [0.4]})
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "accuracy"
    assert [line.get_label() for line in ax.get_lines()] == ["encoder", "head", "zero-shot"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.62, 0.8])
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no points"):
        plot_learning_curves({"empty": {}}, "t", "y")


def test_confusion():
    ax = plot_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"], "cm")
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="2 x 2"):
        plot_confusion(np.zeros((3, 3)), ["a", "b"], "cm")
