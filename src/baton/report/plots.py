"""The report's plots: matplotlib (Agg backend) figures returned as PNG bytes, one function per plot."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

# One colour per model, in the order the models are listed (base first); the reference is grey.
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
REFERENCE_COLOUR = "#b0b0b0"


def _pyplot() -> Any:
    matplotlib.use("Agg", force=True)

    return plt


def colours(models: Sequence[str], reference: str = "reference") -> dict[str, str]:
    out, i = {}, 0
    for model in models:
        if model == reference:
            out[model] = REFERENCE_COLOUR
        else:
            out[model] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def to_png(figure: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def metric_bars(
    label: str, tasks: Sequence[str], figures: dict[str, dict[str, dict[str, Any]]], models: Sequence[str]
) -> bytes:
    """Grouped bars: one group per task, one bar per model, error bars = the 95% interval.

    ``figures[model][task]`` is ``{"value", "ci_low", "ci_high"}`` (missing entries leave a gap).
    """
    plt = _pyplot()
    colour = colours(models)
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(3.2, 1.3 * len(tasks) * max(1, len(models)) * 0.55 + 1.5), 2.8))
    for m, model in enumerate(models):
        xs, ys, low, high = [], [], [], []
        for t, task in enumerate(tasks):
            figure = figures.get(model, {}).get(task)
            if figure is None:
                continue
            value = figure["value"]
            xs.append(t + (m - (len(models) - 1) / 2) * width)
            ys.append(value)
            lo, hi = figure.get("ci_low"), figure.get("ci_high")
            low.append(0.0 if lo is None else max(value - lo, 0.0))
            high.append(0.0 if hi is None else max(hi - value, 0.0))
        if xs:
            ax.bar(xs, ys, width * 0.95, yerr=[low, high], capsize=3, color=colour[model], label=model)
    ax.set_xticks(range(len(tasks)), list(tasks))
    ax.set_title(label, fontsize=10)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return to_png(fig)


# A metric's panel of paired differences: its tuned models' rows, one entry per task.
DifferencePanel = tuple[str, bool, Sequence[tuple[str, str, dict[str, Any]]]]

TASK_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def direction_label(higher_is_better: bool) -> str:
    """The x label of a difference panel: which way is better."""
    return "better →" if higher_is_better else "← better"


def difference_figure(
    panels: Sequence[DifferencePanel], models: Sequence[str], all_models: Sequence[str]
) -> Any:
    """Paired differences from the base, one small panel per metric, each on its own x scale.

    ``panels`` holds ``(label, higher_is_better, rows)`` per metric, rows ``(task, model, figure)``
    with ``figure = {"value", "ci_low", "ci_high"}``. The panels share the y axis (one row per tuned
    model; its tasks are offset within the row, one marker per task); each has a dashed zero line
    and says under it which way is better. Returns the matplotlib figure.
    """
    plt = _pyplot()
    colour = colours(all_models)
    tasks = list(dict.fromkeys(task for _, _, rows in panels for task, _, _ in rows))
    marker = {task: TASK_MARKERS[i % len(TASK_MARKERS)] for i, task in enumerate(tasks)}
    row_of = {model: i for i, model in enumerate(models)}
    columns = min(len(panels), 4)
    lines = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        lines,
        columns,
        figsize=(2.5 * columns + 0.6, (0.42 * len(models) + 1.1) * lines + 0.4),
        sharey=True,
        squeeze=False,
    )
    for ax in axes.flat[len(panels) :]:
        fig.delaxes(ax)
    for ax, (label, higher, rows) in zip(axes.flat, panels, strict=False):
        here = list(dict.fromkeys(task for task, _, _ in rows))
        step = 0.7 / max(len(here), 1)
        for task, model, figure in rows:
            y = row_of[model] + (here.index(task) - (len(here) - 1) / 2) * step
            c = colour.get(model, "black")
            ax.plot([figure["ci_low"], figure["ci_high"]], [y, y], color=c, linewidth=1.8)
            ax.plot([figure["value"]], [y], marker[task], color=c, markersize=4.5)
        ax.axvline(0.0, color="black", linewidth=0.8, linestyle="--", zorder=0)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(direction_label(higher), fontsize=8, color="#1a7f37")
        ax.tick_params(axis="x", labelsize=7)
        ax.tick_params(axis="y", labelsize=8)
        ax.locator_params(axis="x", nbins=4)
        ax.spines[["top", "right"]].set_visible(False)
    first = axes[0][0]
    first.set_yticks(range(len(models)), list(models))
    first.set_ylim(len(models) - 0.5, -0.5)  # the first model on top
    if len(tasks) > 1:
        handles = [
            plt.Line2D([], [], linestyle="none", marker=marker[t], color="#444", label=t) for t in tasks
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=len(tasks),
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
            title="task (marker)",
            title_fontsize=7,
        )
    fig.suptitle("tuned − base: dot = difference, bar = 95% interval", fontsize=9)
    fig.tight_layout(rect=(0, 0.05 if len(tasks) > 1 else 0, 1, 1))
    return fig


def difference_forest(
    panels: Sequence[DifferencePanel], models: Sequence[str], all_models: Sequence[str]
) -> bytes:
    """:func:`difference_figure` as PNG bytes."""
    return to_png(difference_figure(panels, models, all_models))


def histogram_figure(
    title: str, series: dict[str, np.ndarray], models: Sequence[str], xlabel: str = "probability"
) -> Any:
    """Histograms of values in [0, 1], one small panel per series on shared axes (so a series with the
    same values as another is not hidden under it); the dashed line is the series' mean. Returns the figure."""
    plt = _pyplot()
    colour = colours(models)
    shown = {}
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        shown[name] = values[np.isfinite(values)]
    shown = {name: values for name, values in shown.items() if values.size}
    columns = min(len(shown), 4) or 1
    lines = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(
        lines,
        columns,
        figsize=(2.3 * columns + 0.4, 1.9 * lines + 0.5),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax in axes.flat[len(shown) :]:
        fig.delaxes(ax)
    bins = np.linspace(0.0, 1.0, 21)
    for ax, (name, values) in zip(axes.flat, shown.items(), strict=False):
        c = colour.get(name, "black")
        ax.hist(values, bins=bins, color=c, alpha=0.35)
        ax.hist(values, bins=bins, histtype="step", linewidth=1.4, color=c)
        ax.axvline(values.mean(), color=c, linestyle="--", linewidth=1.0)
        ax.set_title(f"{name}\nmean {values.mean():.3f}, n={values.size}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for i, ax in enumerate(axes.flat[: len(shown)]):
        if i + columns >= len(shown):  # nothing below it: the bottom of its column
            ax.tick_params(labelbottom=True)
            ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("clips", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def histograms(
    title: str, series: dict[str, np.ndarray], models: Sequence[str], xlabel: str = "probability"
) -> bytes:
    """:func:`histogram_figure` as PNG bytes."""
    return to_png(histogram_figure(title, series, models, xlabel))


# Line styles of the series on one panel, in draw order: the first is the widest, so a later
# series drawn over it (often with the same values: baton's ``loss`` and ``pretrain_loss``) still
# shows it at both edges.
LINE_STYLES = (("-", 3.2), ("--", 1.8), (":", 2.0), ("-.", 1.4), ((0, (6, 2, 1, 2, 1, 2)), 1.2))


def curve_groups(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The panels of a training log: loss-like series together, learning rates together, and every
    other series (gradient norm, implicit accuracy, ...) on a panel of its own, as (title, keys)."""
    keys = list(keys)
    rates = [k for k in keys if _is_rate(k)]
    losses = [k for k in keys if k not in rates and _is_loss(k)]
    # the total loss first: it gets the widest line, the parts go over it
    losses.sort(key=lambda k: (k.split(".")[-1] != "loss", k.startswith("val")))
    groups = [("losses", losses)] if losses else []
    groups += [(k, [k]) for k in keys if k not in rates and k not in losses]
    if rates:
        groups.append(("learning rate", rates))
    return groups


def _is_loss(key: str) -> bool:
    return "loss" in key.lower()


def training_figure(method: str, steps: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> Any:
    """One panel per group of :func:`curve_groups`, each series against step; returns the figure."""
    plt = _pyplot()
    groups = curve_groups(list(values))
    columns = min(len(groups), 3) or 1
    lines = max(1, -(-len(groups) // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.6 * lines), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        fig.delaxes(ax)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, keys) in zip(axes.flat, groups, strict=False):
        for i, key in enumerate(keys):
            style, width = LINE_STYLES[i % len(LINE_STYLES)]
            few = len(steps[key]) <= 20
            ax.plot(
                steps[key],
                values[key],
                linestyle=style,
                linewidth=width,
                marker="o" if few else None,
                markersize=max(2.0, 5.0 - i),
                color=cycle[i % len(cycle)],
                zorder=2 + i,  # later (thinner) lines on top
                label=key,
            )
        ax.set_xlabel("step", fontsize=8)
        ax.set_title(f"{method}: {title}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        if len(keys) > 1 or title != keys[0]:
            ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def training_curves(method: str, steps: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> bytes:
    """:func:`training_figure` as PNG bytes."""
    return to_png(training_figure(method, steps, values))


def _is_rate(key: str) -> bool:
    last = key.split(".")[-1].lower()
    return last in ("lr", "learning_rate") or last.startswith("lr_") or last.endswith("_lr")


def label_efficiency_figure(document: dict[str, Any]) -> Any:
    """Held-out ROC AUC against labelled clips, one line per selection rule with its 95% band, from the
    figures of ``benchmarks/bench_label_efficiency.py``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (rule, rows) in enumerate(document["curves"].items()):
        colour = PALETTE[i % len(PALETTE)]
        x = [r["labelled"] for r in rows]
        ax.plot(x, [r["auc"] for r in rows], marker="o", markersize=3, color=colour, label=rule)
        ax.fill_between(x, [r["ci"][0] for r in rows], [r["ci"][1] for r in rows], color=colour, alpha=0.15)
    ax.axhline(document["random_full_budget_auc"], color="grey", linestyle=":", linewidth=1,
               label="random at the full budget")  # fmt: skip
    if document.get("cosine_auc") is not None:
        ax.axhline(document["cosine_auc"], color="black", linestyle="--", linewidth=0.8,
                   label="encoder cosine, no labels")  # fmt: skip
    votes = document.get("settings", {}).get("votes_per_clip")
    ax.set_xlabel("labelled clips" + (f" ({votes} votes each)" if votes else ""), fontsize=9)
    ax.set_ylabel("held-out ROC AUC", fontsize=9)
    ax.set_title("Label efficiency (mean and 95% interval over seeds)", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    return fig


def label_efficiency(document: dict[str, Any]) -> bytes:
    return to_png(label_efficiency_figure(document))


def reliability(curves: dict[str, list[dict[str, float]]]) -> bytes:
    """Reliability diagram: observed share of matches against mean predicted probability, per bin."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8, label="perfect calibration")
    for i, (name, bins) in enumerate(curves.items()):
        xs = [b["confidence"] for b in bins]
        ys = [b["accuracy"] for b in bins]
        sizes = [
            12 + 60 * (b.get("count") or 0) / max(1, max((c.get("count") or 0) for c in bins)) for b in bins
        ]
        ax.plot(xs, ys, "-", color=PALETTE[i % len(PALETTE)], linewidth=1.2)
        ax.scatter(xs, ys, s=sizes, color=PALETTE[i % len(PALETTE)], label=name, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability", fontsize=9)
    ax.set_ylabel("observed share labelled 1", fontsize=9)
    ax.set_title("reward model reliability", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return to_png(fig)
