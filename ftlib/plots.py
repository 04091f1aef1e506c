"""The figures the chapters draw: loss curves, metric curves, per-token losses.

Functions return the matplotlib ``Axes`` they drew on and change no global settings.

Taught in chapter 1, section 1.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "MEMORY_PARTS",
    "draw_lora_layer",
    "draw_peft_block",
    "plot_curves",
    "plot_history",
    "plot_loss",
    "plot_memory_budget",
    "plot_memory_timeline",
    "plot_seed_scores",
    "plot_tradeoff",
    "plot_token_losses",
    "plot_token_strip",
]


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


def plot_token_strip(
    tokens: Sequence[str],
    carries_loss: Sequence[bool],
    title: str = "Which tokens carry a loss",
    row_chars: int = 44,
    counts: bool = True,
    ax=None,
):
    """Draw one tokenized example as a strip of boxes: tokens with a loss in colour, masked ones grey.

    The tokens wrap into rows of about ``row_chars`` characters, so that the figure stays readable
    on a narrow screen. White space is made visible: a line break as ``\\n``, a space as ``·``
    (most words carry their leading space in the token).

    Args:
        tokens: the example's tokens as text, in order (``tokenizer.decode([id])`` of each id).
        carries_loss: for each token, whether its label is a token id (it is learned) rather
            than -100 (masked). Note the shift: the label of a token is predicted from the
            tokens before it, so this marks the tokens the model is trained to *produce*.
        counts: show in the legend how many of the drawn tokens carry a loss and how many are
            masked (turn it off when the strip shows only part of an example).

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for an empty strip, lengths that differ, or ``row_chars`` below 8.

    Taught in chapter 2, section 2.2 (and chapter 3, section 3.6).
    """
    from matplotlib.patches import Patch, Rectangle

    if len(tokens) == 0 or len(tokens) != len(carries_loss):
        raise ValueError(f"need one carries_loss flag per token (got {len(tokens)} tokens, {len(carries_loss)} flags)")
    if row_chars < 8:
        raise ValueError(f"row_chars must be at least 8, got {row_chars}")
    shown = [t.replace("\n", "\\n").replace(" ", "·") for t in tokens]  # white space made visible
    rows: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for text, loss in zip(shown, carries_loss):
        width = len(text) + 1  # a box is one character wider than its text
        if rows[-1] and used + width > row_chars:
            rows.append([])
            used = 0
        rows[-1].append((text, bool(loss)))
        used += width
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 0.8 + 0.34 * len(rows)))
    colours = {True: ("#f4a261", "#6b2e00"), False: ("#e5e5e5", "#666666")}  # (fill, text)
    for r, row in enumerate(rows):
        x = 0.0
        for text, loss in row:
            fill, ink = colours[loss]
            width = len(text) + 1
            ax.add_patch(Rectangle((x + 0.08, -r - 0.42), width - 0.16, 0.84, facecolor=fill, edgecolor="white"))
            ax.text(x + width / 2, -r, text, ha="center", va="center", family="monospace", fontsize=8.5,
                    color=ink, fontweight="bold" if loss else "normal")
            x += width
    ax.set_xlim(0, row_chars)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.axis("off")
    n_loss = sum(bool(v) for v in carries_loss)
    ax.legend(
        handles=[Patch(color=colours[True][0], label=f"carries a loss ({n_loss})" if counts else "carries a loss"),
                 Patch(color=colours[False][0],
                       label=f"masked, label -100 ({len(tokens) - n_loss})" if counts else "masked, label -100")],
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=9,
    )
    ax.set_title(title, pad=22, fontsize=10)
    return ax


def plot_seed_scores(
    scores: dict[str, Sequence[float]],
    title: str,
    ylabel: str,
    confidence: float = 0.95,
    ax=None,
):
    """One row per named system: a dot per seed, and the mean with its Student-t interval over seeds.

    Args:
        scores: the score of each seed, by system name (a list of numbers per system).
        confidence: the confidence level of the interval (``ftlib.stats.mean_interval``).

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for no systems, or a system without scores.

    Taught in chapter 3, section 3.6.
    """
    from ftlib.stats import mean_interval

    if not scores or any(len(v) == 0 for v in scores.values()):
        raise ValueError("scores needs at least one system, each with at least one score")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 0.9 + 0.6 * len(scores)))
    names = list(scores)
    for row, name in enumerate(names):
        values = np.asarray(scores[name], dtype=float)
        ci = mean_interval(values, confidence)
        ax.plot(values, np.full(values.size, row), "o", color="C0", alpha=0.6, label="one seed" if row == 0 else None)
        ax.errorbar(ci.estimate, row + 0.18, xerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]], fmt="D",
                    color="C1", capsize=4, label=f"mean, {confidence:.0%} interval" if row == 0 else None)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -0.6)
    ax.set(title=title, xlabel=ylabel)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="small", loc="best")
    return ax


def plot_tradeoff(
    points: dict[str, Sequence[tuple[float, float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    confidence: float = 0.95,
    ax=None,
):
    """Two measures of the same runs against each other: a dot per run, the mean with its interval on both axes.

    Args:
        points: ``(x, y)`` of each run (seed), by method name.
        confidence: the level of the Student-t intervals over the runs (``ftlib.stats.mean_interval``).

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for no methods, or a method without runs.

    Taught in chapter 10, section 10.7 (task gain against forgetting).
    """
    from ftlib.stats import mean_interval

    if not points or any(len(v) == 0 for v in points.values()):
        raise ValueError("points needs at least one method, each with at least one (x, y) run")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (name, runs) in enumerate(points.items()):
        xy = np.asarray(runs, dtype=float).reshape(-1, 2)
        cx, cy = mean_interval(xy[:, 0], confidence), mean_interval(xy[:, 1], confidence)
        ax.plot(xy[:, 0], xy[:, 1], "o", color=f"C{i}", alpha=0.45)
        ax.errorbar(cx.estimate, cy.estimate, xerr=[[cx.estimate - cx.low], [cx.high - cx.estimate]],
                    yerr=[[cy.estimate - cy.low], [cy.high - cy.estimate]], fmt="D", color=f"C{i}", capsize=4,
                    label=name)  # fmt: skip
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title=f"dots: runs; diamonds: mean, {confidence:.0%} interval",
              title_fontsize="x-small")  # fmt: skip
    return ax


MEMORY_PARTS = ("weights", "gradients", "optimizer state", "activations")
_MEMORY_COLOURS = {"weights": "#8d99ae", "gradients": "#e76f51", "optimizer state": "#f4a261", "activations": "#2a9d8f"}


def plot_memory_budget(
    budgets: dict[str, dict[str, float]],
    measured: dict[str, float] | dict[str, dict[str, float]] | None = None,
    title: str = "Memory of one training step",
    unit: str = "GiB",
    ax=None,
):
    """The memory budget of a training step: one stacked bar per method, one segment per kind.

    Args:
        budgets: by method, the predicted size of each kind of memory, in ``unit``: keys among
            ``MEMORY_PARTS`` (weights, gradients, optimizer state, activations) or others, drawn
            in that order, left to right.
        measured: by method, a measured total in ``unit``, drawn as a black mark on its bar; or
            several measurements by label (``{"allocated": {...}, "resident": {...}}``), one mark
            style per label.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for no methods, a negative size, or a measurement of a method with no budget.

    Taught in chapter 4, section 4.7 (and chapter 6, section 6.4).
    """
    from matplotlib.lines import Line2D

    if measured and all(isinstance(v, (int, float)) for v in measured.values()):
        measured = {"measured": measured}
    measured = measured or {}
    if not budgets:
        raise ValueError("budgets is empty: give at least one method with its parts")
    if any(v < 0 for parts in budgets.values() for v in parts.values()):
        raise ValueError("memory sizes must be >= 0")
    unknown = {m for marks in measured.values() for m in marks} - set(budgets)
    if unknown:
        raise ValueError(f"measured names methods with no budget: {sorted(unknown)}")
    parts = [p for p in MEMORY_PARTS if any(p in b for b in budgets.values())]
    for b in budgets.values():  # other parts, each once, in the order they first appear
        parts += [p for p in b if p not in parts]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 1.5 + 0.75 * len(budgets)))
    names = list(budgets)
    marks = [v for m in measured.values() for v in m.values()]
    widest = max(max(sum(b.values()) for b in budgets.values()), max(marks, default=0))
    in_legend = set()  # each part gets one legend key, from the first row that holds it
    for row, name in enumerate(names):
        left = 0.0
        for i, part in enumerate(parts):
            size = budgets[name].get(part, 0.0)
            colour = _MEMORY_COLOURS.get(part, f"C{i}")
            label = None
            if size > 0 and part not in in_legend:
                label = part
                in_legend.add(part)
            ax.barh(row, size, left=left, color=colour, edgecolor="white", height=0.6, label=label)
            if size > 0.09 * widest:  # label the segments wide enough to hold their number
                ax.text(left + size / 2, row, f"{size:.2f}", ha="center", va="center", fontsize=10, color="black")
            left += size
    styles = [("|", "black"), ("x", "#444444"), ("d", "#444444")]
    handles, labels = ax.get_legend_handles_labels()
    for (label, values), (marker, colour) in zip(measured.items(), styles):
        for row, name in enumerate(names):
            if name in values:
                ax.plot(values[name], row, marker=marker, markersize=24 if marker == "|" else 11, markeredgewidth=3,
                        color=colour, linestyle="")
        handles.append(Line2D([], [], marker=marker, markersize=11, markeredgewidth=3, color=colour, linestyle=""))
        labels.append(label)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -0.6)
    ax.set(title=title, xlabel=f"memory ({unit})")
    ax.set_xlim(0, widest * 1.05)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.22 - 0.1 / len(names)), ncol=3,
              frameon=False, fontsize=10)
    return ax


def draw_lora_layer(ax=None, scaling: str = r"$\alpha / r$"):
    """A diagram of a LoRA layer: the frozen W beside the trainable path A then B, times the scaling.

    ``h = W x + scaling * B A x``: the input x goes through the frozen weight W (d x k) and,
    beside it, through A (r x k, trained, random at the start) and B (d x r, trained, zero
    at the start); the two results add up.

    Args:
        scaling: the label of the scaling node (``r"$\\alpha / \\sqrt{r}$"`` for rsLoRA).

    Returns:
        The matplotlib Axes.

    Taught in chapter 6, section 6.1.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    frozen, trained = ("#d9d9d9", "#555555"), ("#f4a261", "#6b2e00")

    def box(x, y, w, h, text, colours, size=12):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", facecolor=colours[0],
                                    edgecolor=colours[1], linewidth=1.5))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, color="black")

    def arrow(start, end):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.4,
                                     color="#333333", shrinkA=2, shrinkB=2))

    def node(x, y, text, size=13):
        ax.text(x, y, text, ha="center", va="center", fontsize=size,
                bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "edgecolor": "#333333"})

    ax.text(0.5, 3.0, "$x$", ha="center", va="center", fontsize=15)
    box(2.0, 3.7, 3.4, 1.7, "$W$  ($d \\times k$)\nfrozen", frozen, size=15)
    box(1.9, 0.5, 1.6, 1.9, "$A$\n($r \\times k$)\nrandom", trained, size=12)
    box(4.1, 0.5, 1.6, 1.9, "$B$\n($d \\times r$)\nzero", trained, size=12)
    node(6.75, 1.45, scaling, size=12)
    node(7.9, 3.0, "$+$", size=14)
    ax.text(9.5, 3.0, "$h$", ha="center", va="center", fontsize=15)
    arrow((0.8, 3.2), (2.0, 4.5))
    arrow((0.8, 2.8), (1.85, 1.5))
    arrow((3.55, 1.45), (4.05, 1.45))
    arrow((5.75, 1.45), (6.25, 1.45))
    arrow((5.45, 4.55), (7.7, 3.3))
    arrow((7.05, 1.8), (7.7, 2.7))
    arrow((8.2, 3.0), (9.2, 3.0))
    ax.text(3.8, -0.05, "trained: only $r(d + k)$ numbers", ha="center", va="center", fontsize=12, color=trained[1])
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.45, 5.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("A LoRA layer: $h = Wx$ + " + scaling + " $BAx$", fontsize=14)
    return ax


PEFT_FAMILY_COLOURS = {"input": "#1f77b4", "activations": "#2ca02c", "weights": "#d95f02"}


def draw_peft_block(ax=None):
    """Where each PEFT method of chapter 8 acts in a Llama-style model, one block drawn out.

    The model reads upwards: embeddings, then L blocks (norm, attention, residual sum, norm, MLP,
    residual sum), then the final norm and the output layer. Beside each part, the methods that
    train something there, coloured by family: on the input (soft prompts), on the activations
    (scales and norms), on the weights or beside them (additive).

    Returns:
        The matplotlib Axes.

    Taught in chapter 8, section 8.2.
    """
    from matplotlib.patches import FancyBboxPatch, Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(9.6, 7.2))
    parts = [  # (part, [(method note, family)])
        ("token embeddings $Ex$", [("prompt tuning, P-tuning: $n$ vectors put before $Ex$", "input")]),
        ("RMSNorm", [("LayerNorm tuning: its weight $\\gamma$", "activations")]),
        ("attention: $q, k, v$ projections", [
            ("prefix tuning: $n$ extra keys and values per layer", "input"),
            ("IA3: $l_k \\odot k$, $l_v \\odot v$", "activations"),
            ("LoRA, LoHa: $W + \\Delta W$ on $q, k, v, o$", "weights")]),
        ("$o$ projection", [("bottleneck adapter after it", "weights")]),
        ("$+$ residual", []),
        ("RMSNorm", [("LayerNorm tuning: its weight $\\gamma$", "activations")]),
        ("MLP: gate, up, SiLU", [("LoRA, LoHa: $W + \\Delta W$ on gate, up, down", "weights"),
                                 ("IA3: $l_{ff} \\odot$ the input of down", "activations")]),
        ("down projection", [("bottleneck adapter after it", "weights")]),
        ("$+$ residual", []),
        ("final RMSNorm", [("LayerNorm tuning: its weight $\\gamma$", "activations")]),
        ("output layer (tied to $E$)", []),
    ]  # fmt: skip
    height, gap = 0.62, 0.28
    for i, (part, notes) in enumerate(parts):
        y = i * (height + gap)
        ax.add_patch(FancyBboxPatch((0, y), 3.4, height, boxstyle="round,pad=0.02", facecolor="#eeeeee",
                                    edgecolor="#555555", linewidth=1.2))
        ax.text(1.7, y + height / 2, part, ha="center", va="center", fontsize=10)
        if i:
            ax.annotate("", (1.7, y), (1.7, y - gap), arrowprops={"arrowstyle": "-|>", "color": "#555555"})
        for j, (note, family) in enumerate(notes):
            offset = (j - (len(notes) - 1) / 2) * 0.3
            ax.text(3.7, y + height / 2 + offset, note, ha="left", va="center", fontsize=9.5,
                    color=PEFT_FAMILY_COLOURS[family])
    top = 8 * (height + gap) + height
    ax.add_patch(Rectangle((-0.25, 1 * (height + gap) - 0.12), 0.1, top - (height + gap) + 0.24, color="#999999"))
    ax.text(-0.35, (top + height + gap) / 2, "$\\times L$ blocks", rotation=90, ha="right", va="center", fontsize=11)
    for k, (family, colour) in enumerate(PEFT_FAMILY_COLOURS.items()):
        label = {"input": "on the input", "activations": "on the activations", "weights": "on or beside the weights"}
        ax.text(3.7 + 2.7 * k, len(parts) * (height + gap) + 0.1, label[family], color=colour, fontsize=10,
                fontweight="bold", ha="left")
    ax.set_xlim(-0.9, 12.0)
    ax.set_ylim(-0.3, len(parts) * (height + gap) + 0.5)
    ax.axis("off")
    ax.set_title("Where each method trains something (the base model stays frozen)", fontsize=12)
    return ax


_PHASE_COLOURS = {"forward": "#cfe8f3", "backward": "#fde2c8", "optimizer": "#e3d7f4"}


def plot_memory_timeline(
    samples: Sequence[tuple[float, int, int | None]],
    events: Sequence[tuple[float, str]] = (),
    levels: dict[str, float] | None = None,
    title: str = "Memory during training steps",
    ax=None,
):
    """Memory over time, above its value at the start, with the phases of each step shaded.

    Args:
        samples: ``(time, resident bytes, allocated bytes or None)`` as ``PeakMemory(record=True)``
            keeps them; drawn in GiB above the first sample, allocated as a line and resident
            memory as a thinner one.
        events: ``(time, phase)`` as ``TrainingPhases`` records them; each phase ("forward",
            "backward", "optimizer") is shaded until the next event.
        levels: named levels in GiB (a prediction), drawn as dashed horizontal lines.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for fewer than two samples.

    Taught in chapter 4, section 4.7.
    """
    from matplotlib.patches import Patch

    if len(samples) < 2:
        raise ValueError("need at least two samples (PeakMemory(record=True) keeps them)")
    start = samples[0][0]
    t = np.array([s[0] - start for s in samples])
    rss = np.array([s[1] - samples[0][1] for s in samples]) / 2**30
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.8))
    for (t0, phase), (t1, _) in zip(events, list(events[1:]) + [(samples[-1][0], "")]):
        if phase in _PHASE_COLOURS:
            ax.axvspan(t0 - start, t1 - start, color=_PHASE_COLOURS[phase], lw=0)
    if samples[0][2] is not None:
        allocated = np.array([(s[2] or 0) - samples[0][2] for s in samples]) / 2**30
        ax.plot(t, allocated, color="black", lw=1.6, label="allocated (in use)")
    ax.plot(t, rss, color="#555555", lw=0.9, ls=":", label="resident (RSS)")
    for i, (name, value) in enumerate((levels or {}).items()):
        ax.axhline(value, color=f"C{i}", ls="--", lw=1.2, label=name)
    handles, labels = ax.get_legend_handles_labels()
    shown = [p for p in _PHASE_COLOURS if any(phase == p for _, phase in events)]
    handles += [Patch(color=_PHASE_COLOURS[p]) for p in shown]
    labels += shown
    ax.set(title=title, xlabel="time (s)", ylabel="memory above the start (GiB)")
    ax.set_xlim(0, t[-1])
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False,
              fontsize=9)
    return ax
