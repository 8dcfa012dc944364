"""Plots for reports: the paper's Figure 1 (direct vs CoT accuracy) and training curves.

matplotlib is imported inside the functions, and figures are drawn on the Agg canvas directly (no pyplot),
so importing this module is cheap and plotting never touches a user's interactive backend. Each function
returns the `Figure`, so tests and notebooks can read the plotted data back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

# Colours that stay distinct for colour-blind readers (Okabe-Ito).
_HELPS = "#0072B2"
_HURTS = "#D55E00"
_RUN_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

# Training metrics, in panel order, with the y-axis label (units) of each.
TRAINING_METRICS: dict[str, str] = {
    "loss": "total (weighted) loss (nats)",
    "loss/pref": "DPO loss (nats)",
    "loss/quality": "BCO loss (nats)",
    "loss/gen": "NLL (nats per token)",
    "rewards/chosen": "β·log-ratio (nats)",
    "rewards/rejected": "β·log-ratio (nats)",
    "rewards/margins": "chosen − rejected (nats)",
    "rewards/accuracies": "fraction of pairs",
    "bco/delta": "reward shift δ (nats)",
    "logps/chosen": "sum log-prob (nats)",
    "logps/rejected": "sum log-prob (nats)",
}


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_path: str | os.PathLike | None) -> None:
    if out_path is None:
        return
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, bbox_inches="tight")


def direct_vs_cot(points: Sequence[tuple[str, float, float]], out_path: str | os.PathLike | None = None, *,
                  title: str = "Direct answers vs chain-of-thought") :
    """Figure 1 of the paper: one point per model at (direct accuracy, CoT accuracy), in percent.

    `points` holds (name, direct_accuracy, cot_accuracy) with accuracies as fractions in [0, 1].
    Points under the 45-degree line are models for which reasoning first lowers accuracy ("CoT hurts");
    they get a different marker and colour, and the region under the line is shaded.
    """
    if not points:
        raise ValueError("no models to plot")
    names = [str(p[0]) for p in points]
    xs = [100.0 * float(p[1]) for p in points]
    ys = [100.0 * float(p[2]) for p in points]
    for name, x, y in zip(names, xs, ys):
        if not (0.0 <= x <= 100.0 and 0.0 <= y <= 100.0):
            raise ValueError(f"accuracy of {name!r} is not a fraction in [0, 1]")

    fig = _new_figure(6.4, 6.4)
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = min(xs + ys), max(xs + ys)
    pad = max(5.0, 0.12 * (hi - lo))
    lo, hi = max(0.0, math.floor((lo - pad) / 5) * 5), min(100.0, math.ceil((hi + pad) / 5) * 5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.fill_between([lo, hi], [lo, lo], [lo, hi], color=_HURTS, alpha=0.07, linewidth=0,
                    label="region where CoT < direct")
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="0.4", linewidth=1.2, label="CoT = direct (45° line)")

    helps = [i for i in range(len(xs)) if ys[i] >= xs[i]]
    hurts = [i for i in range(len(xs)) if ys[i] < xs[i]]
    if helps:
        ax.plot([xs[i] for i in helps], [ys[i] for i in helps], linestyle="none", marker="o", markersize=9,
                color=_HELPS, markeredgecolor="white", label="CoT ≥ direct", gid="cot-helps", zorder=3,
                clip_on=False)
    if hurts:
        ax.plot([xs[i] for i in hurts], [ys[i] for i in hurts], linestyle="none", marker="v", markersize=10,
                color=_HURTS, markeredgecolor="white", label="CoT < direct (CoT hurts)", gid="cot-hurts",
                zorder=3, clip_on=False)
    fig.subplots_adjust(bottom=0.2)
    _label_points(ax, names, xs, ys, span=hi - lo)

    ax.set_xlabel("direct-answer accuracy (%)")
    ax.set_ylabel("chain-of-thought accuracy (%)")
    ax.set_title(title)
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    # Legend below the axes, so it can never cover a point.
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, 0.0))
    _save(fig, out_path)
    return fig


def _label_points(ax, names, xs, ys, *, span: float) -> None:
    """Name each point, choosing per label the offset whose box overlaps the fewest points and labels.

    Works in typographic points: one data unit is about (axis width in points) / span.
    """
    bbox = ax.get_position()
    per_unit = bbox.width * ax.figure.get_figwidth() * 72.0 / span
    pts = [(x * per_unit, y * per_unit) for x, y in zip(xs, ys)]
    limit = (ax.get_xlim()[0] * per_unit, ax.get_xlim()[1] * per_unit)  # x and y limits are equal
    offsets = [(8, 10), (8, -10), (-8, 10), (-8, -10), (10, 0), (-10, 0), (8, -22), (-8, -22), (8, 22), (-8, 22)]
    # Farther places, joined to their point by a thin line, for clusters of close models.
    offsets += [(dx, dy) for r in (40, 70, 100) for dx, dy in ((r, 0), (r, r / 2), (r, -r / 2), (-r, 0),
                                                                 (-r, r / 2), (-r, -r / 2), (r / 3, r), (r / 3, -r))]
    boxes: list[tuple[float, float, float, float]] = [(px - 6, py - 6, px + 6, py + 6) for px, py in pts]

    def overlap(a, b):
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return max(0.0, w) * max(0.0, h)

    for name, x, y, (px, py) in zip(names, xs, ys, pts):
        text = f"{name}\n({x:.1f}, {y:.1f})"
        width = 5.2 * max(len(line) for line in text.split("\n")) + 4
        height = 26.0
        best = None
        for dx, dy in offsets:
            left = px + dx if dx > 0 else px + dx - width
            box = (left, py + dy - height / 2, left + width, py + dy + height / 2)
            cost = sum(overlap(box, other) for other in boxes)
            # Leaving the axes costs as much as covering a label.
            if box[0] < limit[0] or box[2] > limit[1] or box[1] < limit[0] or box[3] > limit[1]:
                cost += width * height
            if best is None or cost < best[0] - 1e-9:
                best = (cost, dx, dy, box)
        _, dx, dy, box = best
        boxes.append(box)
        far = abs(dx) > 25 or abs(dy) > 25
        ax.annotate(text, xy=(x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8.5,
                    ha="left" if dx > 0 else "right", va="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.7} if far else None)


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for i, entry in enumerate(log_history):
        v = entry.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            steps.append(float(entry.get("step", i)))
            values.append(float(v))
    return steps, values


def present_metrics(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The known training metrics that appear (train or eval_) in any run's log_history."""
    found = []
    for metric in TRAINING_METRICS:
        if any(_series(h, metric)[0] or _series(h, "eval_" + metric)[0] for h in runs.values()):
            found.append(metric)
    return found


def training_curves(runs: Mapping[str, Sequence[Mapping[str, Any]]], out_path: str | os.PathLike | None = None,
                    *, title: str | None = None):
    """One panel per metric present (loss terms, rewards, accuracies, bco/delta), train and eval lines.

    `runs` maps a run name to its `trainer_state.json` `log_history`. Lines carry gid "RUN:METRIC" (train)
    and "RUN:eval_METRIC" (eval), so their data can be read back.
    """
    metrics = present_metrics(runs)
    if not metrics:
        raise ValueError(f"no known training metric in the logs (looked for {', '.join(TRAINING_METRICS)})")
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = _new_figure(4.6 * ncols, 3.2 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    from matplotlib.ticker import MaxNLocator

    several = len(runs) > 1
    any_eval = False
    for k, metric in enumerate(metrics):
        ax = axes[k // ncols][k % ncols]
        for j, (run, history) in enumerate(runs.items()):
            colour = _RUN_COLOURS[j % len(_RUN_COLOURS)]
            steps, values = _series(history, metric)
            if steps:
                ax.plot(steps, values, color=colour, linewidth=1.4, gid=f"{run}:{metric}",
                        marker="o" if len(steps) < 3 else None, markersize=3)
            steps, values = _series(history, "eval_" + metric)
            if steps:
                any_eval = True
                ax.plot(steps, values, color=colour, linewidth=1.2, linestyle="--", marker="s", markersize=4,
                        gid=f"{run}:eval_{metric}")
        if metric == "rewards/accuracies":
            ax.set_ylim(-0.02, 1.02)
        if metric.startswith("rewards/") and metric != "rewards/accuracies" or metric == "bco/delta":
            ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
        ax.set_title(metric, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_xlabel("optimizer step", fontsize=9)
        ax.set_ylabel(TRAINING_METRICS[metric], fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="0.92", linewidth=0.8)
    for k in range(len(metrics), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)

    from matplotlib.lines import Line2D

    handles = []
    if several:
        handles += [Line2D([], [], color=_RUN_COLOURS[j % len(_RUN_COLOURS)], linewidth=2, label=str(run))
                    for j, run in enumerate(runs)]
    handles.append(Line2D([], [], color="0.3", linewidth=1.4, label="train"))
    if any_eval:
        handles.append(Line2D([], [], color="0.3", linewidth=1.2, linestyle="--", marker="s", markersize=4,
                              label="eval"))
    fig.suptitle(title or ("Training curves: " + ", ".join(str(r) for r in runs)), fontsize=12)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.35 / (3.2 * nrows + 0.5), 1, 0.97))
    _save(fig, out_path)
    return fig
