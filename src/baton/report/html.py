"""The report page: sections built from a :class:`baton.report.run.RunData`, rendered from the Jinja2
templates in ``templates/`` (``page.html.j2``, its pieces as macros in ``parts.html.j2``, the style in
``report.css``) with autoescaping on, so that a prompt, a model's name or a path is always text.

The functions here turn a run's data into plain values (rows, cells, images as base64 PNG); the
templates decide the markup.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from baton import __version__
from baton.audio import load_audio
from baton.evaluation.records import clip_file
from baton.report import plots
from baton.report.config import ReportConfig
from baton.stats import difference_excludes_zero

AUDIO_RATE = 16000
REFERENCE = "reference"
TEMPLATES = Path(__file__).parent / "templates"

SECTION_TITLES = {
    "results": "Results",
    "charts": "Figures with 95% intervals",
    "rewards": "Reward distributions",
    "training": "Training curves",
    "reliability": "Reward model reliability",
    "label_efficiency": "Label efficiency: random against active selection",
    "examples": "Matched examples",
    "settings": "Settings and timings",
}


def number(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def signed(value: float) -> str:
    text = number(value)
    return text if text.startswith("-") else f"+{text}"


@cache
def environment() -> Environment:
    """The report's Jinja2 environment: autoescaped HTML, and a name a template reads that is not
    given is an error rather than a blank."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    env.filters["signed"] = signed
    return env


def parts() -> Any:
    """The macros of ``parts.html.j2``: each returns safe markup."""
    return environment().get_template("parts.html.j2").module


def png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str) -> dict[str, str]:
    return {"png": png_base64(png), "alt": alt}


def audio_data_uri(path: Path) -> str:
    """A clip as a data URI at 16 kHz: OGG Vorbis, else FLAC, else WAV (whatever libsndfile writes)."""
    audio, _ = load_audio(path, sample_rate=AUDIO_RATE)
    audio = np.clip(audio, -1.0, 1.0)
    for fmt, subtype, mime in (
        ("OGG", "VORBIS", "audio/ogg"),
        ("FLAC", "PCM_16", "audio/flac"),
        ("WAV", "PCM_16", "audio/wav"),
    ):
        buffer = io.BytesIO()
        try:
            sf.write(buffer, audio, AUDIO_RATE, format=fmt, subtype=subtype)
        except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
            continue
        return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
    raise RuntimeError("libsndfile could not write the clip as OGG, FLAC or WAV")


# --- results -------------------------------------------------------------------------------------------


def _columns(summary: dict[str, Any]) -> list[tuple[str, str]]:
    columns: list[tuple[str, str]] = []
    for model in summary.get("order", list(summary["metrics"])):
        for metric, tasks in summary["metrics"].get(model, {}).items():
            for task in tasks:
                if (metric, task) not in columns:
                    columns.append((metric, task))
    info = summary.get("metric_info", {})
    metric_order = list(info) + sorted({m for m, _ in columns} - set(info))
    return sorted(columns, key=lambda c: (metric_order.index(c[0]), c[1] == "all"))


def _label(summary: dict[str, Any], metric: str) -> str:
    return summary.get("metric_info", {}).get(metric, {}).get("label", metric)


def _model_label(summary: dict[str, Any], model: str) -> str:
    info = summary.get("models", {}).get(model, {})
    role = info.get("role")
    if role == "reference":
        return f"{model} (real clips)" if info.get("backend") == "world" else f"{model} clips"
    return f"{model} (base)" if role == "base" and model != "base" else model


def figure_cell(
    figure: dict[str, Any] | None, diff: dict[str, Any] | None, higher_is_better: bool
) -> dict | None:
    """A table cell's figures: the value and its interval, and a tuned model's difference from the
    base (``css``: better or worse where that difference's interval excludes zero)."""
    if figure is None:
        return None
    cell = {
        "value": figure["value"],
        "low": figure.get("ci_low"),
        "high": figure.get("ci_high"),
        "css": "",
        "delta": None,
    }
    if diff is not None:
        if difference_excludes_zero(diff):
            cell["css"] = "better" if (diff["value"] > 0) == higher_is_better else "worse"
        cell.update(delta=diff["value"], delta_low=diff["ci_low"], delta_high=diff["ci_high"])
    return cell


def results_tables(summary: dict[str, Any]) -> str:
    """One row per metric and task, one column per model; a tuned model's cell adds its Δ from the base."""
    columns = _columns(summary)
    order = summary.get("order", list(summary["metrics"]))
    info = summary.get("metric_info", {})
    differences = summary.get("differences", {})
    rows = []
    for metric, task in columns:
        first = next(t for m, t in columns if m == metric) == task
        higher = info.get(metric, {}).get("higher_is_better", True)
        rows.append(
            {
                "span": sum(1 for m, _ in columns if m == metric) if first else 0,
                "label": _label(summary, metric),
                "task": task,
                "higher": higher,
                "cells": [
                    figure_cell(
                        summary["metrics"].get(model, {}).get(metric, {}).get(task),
                        differences.get(model, {}).get(metric, {}).get(task),
                        higher,
                    )
                    for model in order
                ],
            }
        )
    glossary = [
        {"label": v.get("label", k), "what": v.get("what", ""), "higher": v.get("higher_is_better", True)}
        for k, v in info.items()
    ]
    models = [_model_label(summary, m) for m in order]
    return parts().results_tables(models, rows, summary.get("base"), glossary, summary.get("notes") or [])


def charts(summary: dict[str, Any]) -> str:
    order = summary.get("order", list(summary["metrics"]))
    images = []
    for metric in dict.fromkeys(m for m, _ in _columns(summary)):
        figures = {model: summary["metrics"].get(model, {}).get(metric, {}) for model in order}
        tasks = list(dict.fromkeys(t for f in figures.values() for t in f))
        models = [m for m in order if figures[m]]
        png = plots.metric_bars(_label(summary, metric), tasks, figures, models)
        images.append(image(png, f"{_label(summary, metric)} per task and model"))
    body = parts().figures(images)
    panels = difference_panels(summary)
    if panels:
        tuned = [m for m in order if m in summary.get("differences", {})]
        tuned += [m for m in summary.get("differences", {}) if m not in tuned]
        body += parts().differences(png_base64(plots.difference_forest(list(panels.values()), tuned, order)))
    return body


def difference_panels(summary: dict[str, Any]) -> dict[str, tuple[str, bool, list[tuple[str, str, Any]]]]:
    """Per metric (in table order): its label, whether higher is better, and its (task, model, Δ) rows."""
    info = summary.get("metric_info", {})
    panels: dict[str, tuple[str, bool, list[tuple[str, str, Any]]]] = {}
    for metric, task in _columns(summary):
        for model, diffs in summary.get("differences", {}).items():
            diff = diffs.get(metric, {}).get(task)
            if diff is not None and diff.get("ci_low") is not None:
                higher = info.get(metric, {}).get("higher_is_better", True)
                panels.setdefault(metric, (_label(summary, metric), higher, []))[2].append(
                    (task, model, diff)
                )
    return panels


# --- rewards, training, reliability ------------------------------------------------------------------


def reward_distributions(data: Any) -> str | None:
    order = data.summary.get("order", []) if data.summary else []
    series = {
        model: np.array([j.reward for j in records if j.reward is not None], dtype=float)
        for model, records in data.judgements.items()
    }
    series = {m: v for m, v in series.items() if v.size}
    images = []
    if series:
        models = [m for m in order if m in series] + [m for m in series if m not in order]
        png = plots.histograms("reward of the evaluated clips", series, models)
        images.append(image(png, "reward distribution per model"))
    if data.rd_rewards:
        by_task: dict[str, list[float]] = {}
        for record in data.rd_rewards:
            by_task.setdefault(record.task or "untyped", []).append(record.probability)
        rd = {task: np.array(values) for task, values in by_task.items()}
        png = plots.histograms("reward-labelled training set (reward/rewards.jsonl)", rd, list(rd))
        images.append(image(png, "reward distribution of the reward-labelled set"))
    return parts().figures(images) if images else None


def training(data: Any) -> str:
    images = []
    for method, rows in data.train_logs.items():
        keys = [
            k
            for k in dict.fromkeys(k for row in rows for k in row)
            if k not in ("step", "global_step", "epoch")
        ]
        steps, values = {}, {}
        for key in keys:
            points = [(row["step"], row[key]) for row in rows if key in row]
            steps[key] = np.array([p[0] for p in points])
            values[key] = np.array([p[1] for p in points])
        images.append(image(plots.training_curves(method, steps, values), f"training curves of {method}"))
    return parts().figures(images)


def reliability(data: Any) -> str:
    png = png_base64(plots.reliability(data.reliability))
    return parts().reliability(
        png, data.ece or {}, reward_figures(data.reward_eval or {}), data.reward_eval_path
    )


def label_efficiency(document: dict[str, Any]) -> str:
    """The learning curves, and per rule the budget from which it stays at random's full-budget AUC."""
    reaches = document.get("reaches_random_full_budget", {})
    rows = [
        {"rule": rule, "last": curve[-1], "reached": reaches.get(rule, {}).get("labels")}
        for rule, curve in document["curves"].items()
    ]
    return parts().label_efficiency(
        png_base64(plots.label_efficiency(document)),
        rows,
        document["budgets"][-1],
        document["random_full_budget_auc"],
        document.get("settings", {}),
    )


def reward_figures(document: dict[str, Any]) -> str:
    """How the reward model was judged, and its accuracy and ROC AUC per task beside the base rate."""

    def cell(figure: Any) -> dict | None:
        return figure_cell(figure if isinstance(figure, dict) else None, None, higher_is_better=True)

    rows = []
    for task, figures in (document.get("tasks") or {}).items():
        if not isinstance(figures, dict) or not figures.get("clips"):
            continue
        ones, clips = figures.get("ones", 0), figures["clips"]
        rows.append(
            {
                "task": task,
                "clips": clips,
                "share": ones / clips,
                "accuracy": cell(figures.get("accuracy")),
                "roc_auc": cell(figures.get("roc_auc")),
            }
        )
    if not rows:
        return Markup("")
    return parts().reward_figures(rows, document.get("method") == "cross-validation", document.get("folds"))


# --- matched examples -----------------------------------------------------------------------------------


def choose_examples(
    judgements: dict[str, list[Any]], models: list[str], per_task: int, seed: int
) -> list[str]:
    """Sample ids to play: per task, first clips the models are judged differently on, then others.

    Within each kind the order is a seeded shuffle, so the page shows no hand-picked clips.
    """
    by_model = {m: {j.sample_id: j for j in judgements[m]} for m in models}
    common = [j.sample_id for j in judgements[models[0]] if all(j.sample_id in by_model[m] for m in models)]
    tasks: dict[str, list[str]] = {}
    for sample_id in common:
        tasks.setdefault(by_model[models[0]][sample_id].task or "untyped", []).append(sample_id)
    chosen = []
    for task, ids in tasks.items():
        rng = random.Random(f"{seed}:{task}")
        ids = ids[:]
        rng.shuffle(ids)
        differ = [i for i in ids if len({by_model[m][i].correct for m in models}) > 1]
        chosen += (differ + [i for i in ids if i not in differ])[:per_task]
    return chosen


def examples(data: Any, config: ReportConfig) -> str | None:
    summary = data.summary or {}
    order = [
        m for m in summary.get("order", list(data.judgements)) if m in data.judgements and m != REFERENCE
    ]
    if not order or config.examples == 0:
        return None
    ids = choose_examples(data.judgements, order, config.examples, config.seed)
    if not ids:
        return None
    reference = {j.sample_id: j for j in data.judgements.get(REFERENCE, [])}
    columns = order + ([REFERENCE] if reference else [])
    by_model = {m: {j.sample_id: j for j in data.judgements[m]} for m in order}
    rows = []
    for sample_id in ids:
        first = by_model[order[0]][sample_id]
        clips = []
        for model in columns:
            if model == REFERENCE:
                judgement = reference.get(first.reference_id or sample_id)
            else:
                judgement = by_model[model][sample_id]
            clips.append(_clip(data, model, judgement))
        events = " → ".join(first.events) if first.task == "temporal" else ", ".join(first.events)
        rows.append(
            {
                "text": first.text,
                "task": first.task or "untyped",
                "events": events,
                "sample_id": sample_id,
                "seed": first.seed,
                "clips": clips,
            }
        )
    models = [_model_label(summary, m) if summary else m for m in columns]
    return parts().examples(models, rows, config.seed)


def _clip(data: Any, model: str, judgement: Any) -> dict[str, Any]:
    """What a player cell shows: the clip as a data URI, or why there is none, and its judgement."""
    clip: dict[str, Any] = {"judgement": judgement, "audio": None, "missing": None}
    if judgement is None:
        return clip
    # The judgements file data.evaluation/<model>/judgements.jsonl names its clips from its folder.
    path = clip_file(judgement, data.evaluation / model)
    if path is not None and not path.is_file():
        clip["missing"] = path.name
    elif path is not None:
        clip["audio"] = audio_data_uri(path)
    return clip


# --- settings --------------------------------------------------------------------------------------------


def model_legend(data: Any) -> str:
    """What each model of the table is, when the run says so (run.json's "models": name -> text)."""
    described = (data.run_info or {}).get("models")
    if not isinstance(described, dict) or not described:
        return Markup("")
    return parts().model_legend(described)


def settings(data: Any) -> str | None:
    shown = []
    if data.run_info is not None:
        shown.append(
            {"title": f"The run ({data.root / 'run.json'})", "text": json.dumps(data.run_info, indent=2)}
        )
    if data.summary is not None:
        keys = ("prompts", "reference", "scorers", "judges", "models", "settings", "seconds")
        picked = {k: data.summary[k] for k in keys if k in data.summary}
        shown.append(
            {
                "title": f"The evaluation ({data.evaluation / 'metrics.json'})",
                "text": json.dumps(picked, indent=2),
            }
        )
    return parts().settings(shown) if shown else None


# --- the page --------------------------------------------------------------------------------------------


def render_report(data: Any, config: ReportConfig) -> str:
    """The whole page as one HTML string."""
    summary = data.summary
    bodies: dict[str, Any] = {}
    if summary is not None:
        bodies["results"] = results_tables(summary) + model_legend(data)
        bodies["charts"] = charts(summary)
    bodies["rewards"] = reward_distributions(data)
    if bodies["rewards"] is None:
        data.absent.setdefault(
            "rewards", "not in this run (no rewards in the judgements, no reward/rewards.jsonl)"
        )
    bodies["training"] = training(data) if data.train_logs else None
    bodies["reliability"] = reliability(data) if data.reliability else None
    # Shown only when the run measured it (benchmarks/bench_label_efficiency.py): no note otherwise.
    shown = dict(SECTION_TITLES)
    if data.label_efficiency is None:
        del shown["label_efficiency"]
    else:
        bodies["label_efficiency"] = label_efficiency(data.label_efficiency)
    bodies["examples"] = examples(data, config) if data.judgements else None
    if bodies["examples"] is None:
        data.absent.setdefault("examples", "no clips to play")
    bodies["settings"] = settings(data)
    if bodies["settings"] is None:
        data.absent.setdefault("settings", "not in this run (no run.json, no evaluation settings)")
    sections = [
        {
            "key": key,
            "title": title,
            "body": bodies.get(key),
            # A section that is there names a part of it that could not be read under its heading.
            "note": data.absent.get(key, "not in this run")
            if bodies.get(key) is None
            else data.absent.get(key),
        }
        for key, title in shown.items()
    ]

    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    models = ", ".join(summary.get("order", [])) if summary else "–"
    meta = f"Run {data.root.resolve().name} · models: {models} · baton {__version__} · written {created}"
    if summary and summary.get("prompts"):
        p = summary["prompts"]
        meta += f" · {p.get('count')} prompts × {p.get('per_prompt')} clips per model"
    page = environment().get_template("page.html.j2").render(title=config.title, meta=meta, sections=sections)
    return relative_paths(page, data.root)


_DATA_URI = re.compile(r'((?:src|href)="data:[^"]*")')


def relative_paths(page: str, root: Path) -> str:
    """The page with absolute paths inside the run folder written relative to it (``/home/me/run/x``
    -> ``x``, the folder itself -> ``.``), so that a shared report shows no more of the author's file
    system than it must; paths outside the folder (the world cache, say) stay absolute. Data URIs are
    left alone."""
    prefixes = sorted({str(root.absolute()), str(root.resolve())}, key=len, reverse=True)
    prefixes = [p for p in prefixes if p != "/"]
    if not prefixes:
        return page
    pattern = re.compile(r"(?<![\w.\-/])(?:" + "|".join(re.escape(p) for p in prefixes) + r")(/|(?![\w.\-]))")

    def replace(match: re.Match[str]) -> str:
        return "" if match.group(1) == "/" else "."

    parts = _DATA_URI.split(page)
    return "".join(part if i % 2 else pattern.sub(replace, part) for i, part in enumerate(parts))
