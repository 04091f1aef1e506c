import matplotlib.pyplot as plt
import pytest

from ftlib.plots import plot_loss


def test_plot_loss_draws_steps_and_running_mean():
    ax = plot_loss([3.0, 2.0, 1.5, 1.2, 1.0, 0.9, 0.8], title="t", window=3)
    lines = ax.get_lines()
    assert len(lines) == 2 and list(lines[0].get_xdata()) == list(range(1, 8))
    assert lines[1].get_ydata()[0] == pytest.approx((3.0 + 2.0 + 1.5) / 3)
    assert ax.get_title() == "t" and "nats" in ax.get_ylabel()
    plt.close("all")


def test_plot_loss_short_history_and_bad_input():
    assert len(plot_loss([1.0, 0.5]).get_lines()) == 1  # too short for a running mean
    with pytest.raises(ValueError):
        plot_loss([])
    plt.close("all")


def test_plot_curves():
    from ftlib.plots import plot_curves

    ax = plot_curves({"a": [1, 2, 3], "b": [3, 2]}, title="t", xlabel="step", ylabel="p")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"] and ax.get_xlabel() == "step"
    with pytest.raises(ValueError):
        plot_curves({}, "t", "x", "y")
    plt.close("all")


def test_plot_token_losses():
    from ftlib.plots import plot_token_losses

    ax = plot_token_losses(["20", "00", "<|im_end|>"], {"before": [1, 2, 3], "after": [0.1, 0.2, 0.3]}, title="t")
    assert len(ax.patches) == 6 and [t.get_text() for t in ax.get_xticklabels()] == ["20", "00", "<|im_end|>"]
    with pytest.raises(ValueError):
        plot_token_losses(["a"], {"x": [1, 2]}, title="t")
    plt.close("all")


def test_plot_history():
    import pytest

    from ftlib.plots import plot_history
    from ftlib.train import History

    h = History(loss=[3.0, 2.0, 1.0], val_step=[0, 3], val_loss=[3.5, 1.5])
    ax = plot_history({"run": h, "no validation": History(loss=[2.0, 1.0])})
    assert len(ax.lines) == 3
    assert list(ax.lines[1].get_xdata()) == [0, 3]
    with pytest.raises(ValueError):
        plot_history({})
