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


def test_plot_token_strip_colours_the_tokens_that_carry_a_loss():
    from ftlib.plots import plot_token_strip

    tokens = ["<|im_start|>", "user", "\n", "Date", " 1", " May", "<|im_end|>", "2000", "-05", "<|im_end|>"]
    loss = [False] * 7 + [True] * 3
    ax = plot_token_strip(tokens, loss, title="t", row_chars=20)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["<|im_start|>", "user", "\\n", "Date", "·1", "·May", "<|im_end|>", "2000", "-05", "<|im_end|>"]
    fills = [p.get_facecolor() for p in ax.patches]
    assert len(fills) == 10 and len(set(fills[:7])) == 1 and len(set(fills[7:])) == 1 and fills[0] != fills[-1]
    rows = sorted({round(t.get_position()[1]) for t in ax.texts})
    assert len(rows) >= 3  # wrapped into rows of about 20 characters
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["carries a loss (3)", "masked, label -100 (7)"] and ax.get_title() == "t"
    for bad in [([], []), (["a"], [True, False])]:
        with pytest.raises(ValueError, match="one carries_loss flag per token"):
            plot_token_strip(*bad)
    with pytest.raises(ValueError, match="row_chars"):
        plot_token_strip(["a"], [True], row_chars=3)
    partial = plot_token_strip(["…", "2000"], [False, True], counts=False)
    assert [t.get_text() for t in partial.get_legend().get_texts()] == ["carries a loss", "masked, label -100"]
    plt.close("all")


def test_plot_seed_scores_draws_seeds_and_intervals():
    from ftlib.plots import plot_seed_scores
    from ftlib.stats import mean_interval

    ax = plot_seed_scores({"a": [0.5, 0.6, 0.7], "b": [0.1, 0.2, 0.15]}, title="t", ylabel="exact match")
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [list(d.get_xdata()) for d in dots] == [[0.5, 0.6, 0.7], [0.1, 0.2, 0.15]]
    means = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert means[0].get_xdata()[0] == pytest.approx(mean_interval([0.5, 0.6, 0.7]).estimate)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"] and ax.get_xlabel() == "exact match"
    for bad in ({}, {"a": []}):
        with pytest.raises(ValueError):
            plot_seed_scores(bad, title="t", ylabel="y")
    plt.close("all")


def test_plot_memory_budget_stacks_the_parts_and_marks_the_measurement():
    from ftlib.plots import plot_memory_budget

    budgets = {"full": {"weights": 0.5, "gradients": 0.5, "optimizer state": 1.0, "activations": 0.5},
               "LoRA": {"activations": 0.4, "weights": 0.5, "other": 0.1}}
    ax = plot_memory_budget(budgets, measured={"full": 2.7})
    bars = ax.patches
    assert len(bars) == 2 * 5  # every part drawn on every row (zero width where a method has none)
    lora = [b for b in bars if abs(b.get_y() + b.get_height() / 2 - 1) < 1e-9 and b.get_width() > 0]
    assert [b.get_x() for b in lora] == pytest.approx([0.0, 0.5, 0.9])  # weights, then activations, then other
    assert [t.get_text() for t in ax.get_yticklabels()] == ["full", "LoRA"] and "GiB" in ax.get_xlabel()
    keys = [t.get_text() for t in ax.get_legend().get_texts()]
    assert keys[-1] == "measured"
    # one key per part, "other" included although only the second row holds it
    assert sorted(keys[:-1]) == sorted(["weights", "gradients", "optimizer state", "activations", "other"])
    shared = plot_memory_budget({"a": {"weights": 1.0, "x": 2.0}, "b": {"x": 1.0}, "c": {"x": 0.5}})
    assert len(shared.patches) == 3 * 2  # a part outside MEMORY_PARTS that several rows hold is drawn once per row
    assert shared.get_xlim()[1] == pytest.approx(3.0 * 1.05)
    two = plot_memory_budget(budgets, measured={"allocated": {"full": 2.5, "LoRA": 0.9}, "resident": {"full": 2.8}})
    assert [t.get_text() for t in two.get_legend().get_texts()][-2:] == ["allocated", "resident"]
    assert sum(len(line.get_xdata()) for line in two.lines) == 3
    for bad, kwargs in [({}, {}), ({"a": {"weights": -1.0}}, {}), (budgets, {"measured": {"QLoRA": 1.0}}),
                        (budgets, {"measured": {"resident": {"QLoRA": 1.0}}})]:
        with pytest.raises(ValueError):
            plot_memory_budget(bad, **kwargs)
    plt.close("all")


def test_draw_lora_layer_names_every_part():
    from ftlib.plots import draw_lora_layer

    ax = draw_lora_layer()
    text = " ".join(t.get_text() for t in ax.texts)
    for part in ["$W$", "frozen", "$A$", "$B$", "zero", r"$\alpha / r$", "$x$", "$h$"]:
        assert part in text
    assert r"$\alpha / \sqrt{r}$" in " ".join(t.get_text() for t in draw_lora_layer(scaling=r"$\alpha / \sqrt{r}$").texts)
    plt.close("all")


def test_plot_memory_timeline_shades_the_phases_and_draws_the_levels():
    from ftlib.plots import plot_memory_timeline

    gib = 2**30
    samples = [(10.0 + 0.1 * i, gib + i * gib // 10, 2 * gib + i * gib // 20) for i in range(11)]
    events = [(10.0, "forward"), (10.4, "backward"), (10.8, "optimizer"), (10.9, "other")]
    ax = plot_memory_timeline(samples, events, levels={"predicted": 0.4}, title="t")
    allocated, rss = ax.lines[0], ax.lines[1]
    assert list(allocated.get_xdata())[-1] == pytest.approx(1.0)
    assert list(allocated.get_ydata())[-1] == pytest.approx(0.5) and list(rss.get_ydata())[-1] == pytest.approx(1.0)
    assert len(ax.patches) == 3  # forward, backward and optimizer shaded; "other" not
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["allocated (in use)", "resident (RSS)", "predicted", "forward", "backward", "optimizer"]
    no_alloc = plot_memory_timeline([(0.0, 1, None), (1.0, 2, None)])
    assert [line.get_label() for line in no_alloc.lines] == ["resident (RSS)"]
    with pytest.raises(ValueError, match="two samples"):
        plot_memory_timeline([(0.0, 1, 1)])
    plt.close("all")


def test_draw_peft_block_names_every_method_of_chapter_8():
    from ftlib.plots import draw_peft_block

    text = " ".join(t.get_text() for t in draw_peft_block().texts)
    for method in ["prompt tuning", "P-tuning", "prefix tuning", "IA3", "LayerNorm tuning", "LoRA", "LoHa",
                   "bottleneck adapter"]:  # fmt: skip
        assert method in text, method
    plt.close("all")


def test_plot_tradeoff():
    from ftlib.plots import plot_tradeoff

    ax = plot_tradeoff({"full": [(0.5, 0.2), (0.6, 0.3), (0.55, 0.25)], "LoRA": [(0.4, 0.05), (0.45, 0.0)]},
                       "t", "task gain", "probe change")  # fmt: skip
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["full", "LoRA"]
    assert len(ax.lines) >= 2
    with pytest.raises(ValueError, match="at least one"):
        plot_tradeoff({"full": []}, "t", "x", "y")
