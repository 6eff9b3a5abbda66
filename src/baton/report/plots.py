"""The report's plots: matplotlib (Agg backend) figures returned as PNG bytes, one function per plot."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

# One colour per model, in the order the models are listed (base first); the reference is grey.
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
REFERENCE_COLOUR = "#b0b0b0"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

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


def difference_forest(
    rows: Sequence[tuple[str, str, dict[str, Any]]], models: Sequence[str], all_models: Sequence[str]
) -> bytes:
    """Paired differences from the base: one line per (metric label, model), dot = Δ, bar = 95% interval."""
    plt = _pyplot()
    colour = colours(all_models)
    fig, ax = plt.subplots(figsize=(6.0, 0.32 * len(rows) + 0.9))
    labels = []
    for y, (label, model, figure) in enumerate(rows):
        lo, hi = figure["ci_low"], figure["ci_high"]
        ax.plot([lo, hi], [y, y], color=colour.get(model, "black"), linewidth=2)
        ax.plot([figure["value"]], [y], "o", color=colour.get(model, "black"), markersize=4)
        labels.append(f"{label}  ({model})")
    ax.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("tuned − base (95% interval)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return to_png(fig)


def histograms(
    title: str, series: dict[str, np.ndarray], models: Sequence[str], xlabel: str = "probability"
) -> bytes:
    """Overlaid step histograms of values in [0, 1], one per series."""
    plt = _pyplot()
    colour = colours(models)
    fig, ax = plt.subplots(figsize=(5.0, 2.8))
    bins = np.linspace(0.0, 1.0, 21)
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                linewidth=1.6,
                color=colour.get(name, "black"),
                label=f"{name} (mean {values.mean():.3f}, n={values.size})",
            )
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("clips", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    return to_png(fig)


def training_curves(method: str, steps: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> bytes:
    """Loss-like series against step (left), learning-rate series on their own axis (right panel)."""
    plt = _pyplot()
    rates = [k for k in values if _is_rate(k)]
    losses = [k for k in values if k not in rates]
    panels = 1 + bool(rates)
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 2.8), squeeze=False)
    ax = axes[0][0]
    for key in losses:
        style = "-" if len(steps[key]) > 20 else "-o"
        ax.plot(steps[key], values[key], style, linewidth=1.2, markersize=3, label=key)
    ax.set_xlabel("step", fontsize=9)
    ax.set_title(f"{method}: losses", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if losses:
        ax.legend(fontsize=7, frameon=False)
    if rates:
        ax = axes[0][1]
        for key in rates:
            ax.plot(steps[key], values[key], linewidth=1.2, label=key)
        ax.set_xlabel("step", fontsize=9)
        ax.set_title(f"{method}: learning rate", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7, frameon=False)
    return to_png(fig)


def _is_rate(key: str) -> bool:
    last = key.split(".")[-1].lower()
    return last in ("lr", "learning_rate") or last.startswith("lr_") or last.endswith("_lr")


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
