"""The report page: sections built from a :class:`baton.report.run.RunData`, each a piece of HTML."""

from __future__ import annotations

import base64
import html
import io
import json
import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from baton import __version__
from baton.report.config import ReportConfig
from baton.stats import difference_excludes_zero

AUDIO_RATE = 16000
REFERENCE = "reference"

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5em 2em 4em; background: white; }
@media (max-width: 600px) { main { padding: 1em .8em 3em; } }
p, dd, h1, h2, h3 { overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; box-sizing: border-box; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em;
     margin-top: 2em; } h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.meta, .absent, .note { color: #666; } .absent { font-style: italic; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .3em .55em; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
.ci { color: #777; font-size: .85em; display: block; }
.delta { display: block; margin-top: .25em; font-weight: 600; }
.better { background: #e3f4e3; } .worse { background: #fbe3e3; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figures img { max-width: 100%; border: 1px solid #eee; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #c0392b; font-weight: 600; }
#examples-table td:first-child { min-width: 12em; }
audio { width: 180px; height: 32px; display: block; margin-bottom: .2em; }
.small { font-size: .85em; color: #555; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; max-height: 32em; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 .4em 1.5em; color: #444; }
"""

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


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def signed(value: float) -> str:
    text = number(value)
    return text if text.startswith("-") else f"+{text}"


def png_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{e(alt)}">'


def audio_data_uri(path: Path) -> str:
    """A clip as a data URI at 16 kHz: OGG Vorbis, else FLAC, else WAV (whatever libsndfile writes)."""
    import soundfile as sf

    from baton.audio import load_audio

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


def absent(section: str, data: Any) -> str:
    why = data.absent.get(section, "not in this run")
    return f'<p class="absent">{e(SECTION_TITLES[section])}: {e(why)}.</p>'


def section(key: str, body: str, data: Any = None) -> str:
    """A section; a part of it that could not be read is named in a note under the heading."""
    note = absent(key, data) if data is not None and key in data.absent else ""
    return f'<section id="{key}"><h2>{e(SECTION_TITLES[key])}</h2>\n{note}{body}\n</section>'


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


def _figure_cell(figure: dict[str, Any] | None, diff: dict[str, Any] | None, higher_is_better: bool) -> str:
    if figure is None:
        return '<td class="num">–</td>'
    text = number(figure["value"])
    if figure.get("ci_low") is not None:
        text += f'<span class="ci">[{number(figure["ci_low"])}, {number(figure["ci_high"])}]</span>'
    css = ""
    if diff is not None:
        if difference_excludes_zero(diff):
            css = "better" if (diff["value"] > 0) == higher_is_better else "worse"
        text += (
            f'<span class="delta">Δ {signed(diff["value"])}</span>'
            f'<span class="ci">[{signed(diff["ci_low"])}, {signed(diff["ci_high"])}]</span>'
        )
    return f'<td class="num {css}">{text}</td>'


def results_tables(summary: dict[str, Any]) -> str:
    """One row per metric and task, one column per model; a tuned model's cell adds its Δ from the base."""
    columns = _columns(summary)
    order = summary.get("order", list(summary["metrics"]))
    info = summary.get("metric_info", {})
    differences = summary.get("differences", {})
    head = "".join(f"<th>{e(_model_label(summary, m))}</th>" for m in order)
    rows = []
    for metric, task in columns:
        span = sum(1 for m, _ in columns if m == metric)
        first = next(t for m, t in columns if m == metric) == task
        label = f'<th rowspan="{span}">{e(_label(summary, metric))}</th>' if first else ""
        higher = info.get(metric, {}).get("higher_is_better", True)
        cells = "".join(
            _figure_cell(
                summary["metrics"].get(model, {}).get(metric, {}).get(task),
                differences.get(model, {}).get(metric, {}).get(task),
                higher,
            )
            for model in order
        )
        arrow = "↑" if higher else "↓"
        rows.append(
            f'<tr class="metric-row">{label}<td>{e(task)} <span class="small">{arrow}</span></td>{cells}</tr>'
        )
    out = [
        f'<div class="scroll"><table id="results-table"><thead><tr><th>metric</th><th>task</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>",
        f'<p class="note">Each figure with its bootstrap 95% interval (prompts resampled). Δ: a tuned '
        f"model's paired difference from the base ({e(summary.get('base'))}) on the same prompts and "
        "seeds, with its interval; green: better than the base with an interval that excludes zero, "
        "red: worse, likewise; ↑/↓: higher/lower is better.</p>",
    ]
    glossary = "".join(
        f"<dt>{e(v.get('label', k))}</dt><dd>{e(v.get('what', ''))}; "
        f"{'higher' if v.get('higher_is_better', True) else 'lower'} is better.</dd>"
        for k, v in summary.get("metric_info", {}).items()
    )
    if glossary:
        out.append(f'<dl class="glossary">{glossary}</dl>')
    notes = summary.get("notes") or []
    if notes:
        out.append('<ul class="note">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


def charts(summary: dict[str, Any]) -> str:
    from baton.report import plots

    order = summary.get("order", list(summary["metrics"]))
    images = []
    for metric in dict.fromkeys(m for m, _ in _columns(summary)):
        figures = {model: summary["metrics"].get(model, {}).get(metric, {}) for model in order}
        tasks = list(dict.fromkeys(t for f in figures.values() for t in f))
        models = [m for m in order if figures[m]]
        png = plots.metric_bars(_label(summary, metric), tasks, figures, models)
        images.append(png_tag(png, f"{_label(summary, metric)} per task and model"))
    body = f'<div class="figures">{"".join(images)}</div>'
    panels = difference_panels(summary)
    if panels:
        tuned = [m for m in order if m in summary.get("differences", {})]
        tuned += [m for m in summary.get("differences", {}) if m not in tuned]
        png = plots.difference_forest(list(panels.values()), tuned, order)
        body += (
            "<h3>Paired differences from the base</h3>"
            + png_tag(png, "paired differences from the base, one panel per metric")
            + '<p class="note">One panel per metric, each on its own scale; the dashed line is no '
            "difference, and the label under each panel points the way that is better.</p>"
        )
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
    from baton.report import plots

    order = data.summary.get("order", []) if data.summary else []
    series = {
        model: np.array([j.reward for j in records if j.reward is not None], dtype=float)
        for model, records in data.judgements.items()
    }
    series = {m: v for m, v in series.items() if v.size}
    parts = []
    if series:
        models = [m for m in order if m in series] + [m for m in series if m not in order]
        png = plots.histograms("reward of the evaluated clips", series, models)
        parts.append(png_tag(png, "reward distribution per model"))
    if data.rd_rewards:
        by_task: dict[str, list[float]] = {}
        for record in data.rd_rewards:
            by_task.setdefault(record.task or "untyped", []).append(record.probability)
        rd = {task: np.array(values) for task, values in by_task.items()}
        png = plots.histograms("reward-labelled training set (reward/rewards.jsonl)", rd, list(rd))
        parts.append(png_tag(png, "reward distribution of the reward-labelled set"))
    if not parts:
        return None
    return f'<div class="figures">{"".join(parts)}</div>'


def training(data: Any) -> str:
    from baton.report import plots

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
        images.append(png_tag(plots.training_curves(method, steps, values), f"training curves of {method}"))
    return f'<div class="figures">{"".join(images)}</div>'


def reliability(data: Any) -> str:
    from baton.report import plots

    body = png_tag(plots.reliability(data.reliability), "reward model reliability diagram")
    if data.ece:
        body += (
            "<p>Expected calibration error: "
            + ", ".join(f"{e(k)} {number(v)}" for k, v in data.ece.items())
            + "</p>"
        )
    body += reward_figures(data.reward_eval or {})
    body += f'<p class="small">From {e(data.reward_eval_path)}.</p>'
    return body


def label_efficiency(document: dict[str, Any]) -> str:
    """The learning curves, and per rule the budget from which it stays at random's full-budget AUC."""
    from baton.report import plots

    budget = document["budgets"][-1]
    rows = []
    for rule, curve in document["curves"].items():
        reached = document.get("reaches_random_full_budget", {}).get(rule, {}).get("labels")
        last = curve[-1]
        rows.append(
            f"<tr><td>{e(rule)}</td><td>{number(last['auc'])} [{number(last['ci'][0])}, "
            f"{number(last['ci'][1])}]</td><td>{'not within the budget' if reached is None else e(reached)}</td></tr>"
        )
    table = (
        f"<table><tr><th>rule</th><th>held-out ROC AUC at {e(budget)} labelled clips</th>"
        f"<th>labelled clips from which it stays at random's {number(document['random_full_budget_auc'])}"
        "</th></tr>" + "".join(rows) + "</table>"
    )
    settings = document.get("settings", {})
    note = (
        f'<p class="small">{e(settings.get("seeds"))} seeds, 95% t-intervals; '
        f"{e(settings.get('votes_per_clip'))} simulated votes a clip; "
        f"{e(settings.get('random_share'))} of each active round at random "
        "(benchmarks/bench_label_efficiency.py).</p>"
    )
    return png_tag(plots.label_efficiency(document), "label-efficiency learning curves") + table + note


def reward_figures(document: dict[str, Any]) -> str:
    """How the reward model was judged, and its accuracy and ROC AUC per task beside the base rate."""

    def cell(figure: Any) -> str:
        return _figure_cell(figure if isinstance(figure, dict) else None, None, higher_is_better=True)

    rows = []
    for task, figures in (document.get("tasks") or {}).items():
        if not isinstance(figures, dict) or not figures.get("clips"):
            continue
        ones, clips = figures.get("ones", 0), figures["clips"]
        rows.append(
            f"<tr><td>{e(task)}</td><td>{clips}</td><td>{number(ones / clips)}</td>"
            f"{cell(figures.get('accuracy'))}{cell(figures.get('roc_auc'))}</tr>"
        )
    if not rows:
        return ""
    if document.get("method") == "cross-validation":
        how = (
            f"Out-of-fold predictions of a {e(document.get('folds'))}-fold cross-validation over the"
            " labelled prompts: each clip judged by a model that never saw its prompt."
        )
    else:
        how = "Held-out labelled clips."
    head = "<tr><th>task</th><th>clips</th><th>share labelled 1</th><th>accuracy</th><th>ROC AUC</th></tr>"
    return f'<p>{how}</p><div class="scroll"><table>{head}{"".join(rows)}</table></div>'


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


def _verdict(judgement: Any) -> str:
    if judgement.correct is None:
        verdict = '<span class="small">not judged</span>'
    elif judgement.correct:
        verdict = '<span class="ok">✓ right</span>'
    else:
        verdict = '<span class="bad">✗ wrong</span>'
    details = []
    if judgement.detected is not None:
        details.append("heard: " + (", ".join(judgement.detected) or "nothing"))
    if judgement.clap_score is not None:
        details.append(f"CLAP {judgement.clap_score:.3f}")
    if judgement.reward is not None:
        details.append(f"reward {judgement.reward:.3f}")
    return verdict + "".join(f'<div class="small">{e(d)}</div>' for d in details)


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
    head = "".join(f"<th>{e(_model_label(summary, m) if summary else m)}</th>" for m in columns)
    rows = []
    for sample_id in ids:
        first = by_model[order[0]][sample_id]
        cells = []
        for model in columns:
            if model == REFERENCE:
                judgement = reference.get(first.reference_id or sample_id)
            else:
                judgement = by_model[model][sample_id]
            cells.append(f"<td>{_player(data, model, judgement)}</td>")
        prompt = (
            f'<td><b>{e(first.text)}</b><div class="small">{e(first.task or "untyped")} · '
            f"{e(' → '.join(first.events) if first.task == 'temporal' else ', '.join(first.events))}"
            f'</div><div class="small">clip {e(sample_id)} · seed {e(first.seed)}</div></td>'
        )
        rows.append(f'<tr class="example-row">{prompt}{"".join(cells)}</tr>')
    return (
        '<p class="note">Each row is one prompt and seed, heard from every model. Chosen per task by a '
        f"seeded shuffle (seed {config.seed}), clips the models are judged differently on first.</p>"
        f'<div class="scroll"><table id="examples-table"><thead><tr><th>prompt</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _player(data: Any, model: str, judgement: Any) -> str:
    if judgement is None:
        return '<span class="small">no clip</span>'
    from baton.evaluation.records import clip_file

    # The judgements file data.evaluation/<model>/judgements.jsonl names its clips from its folder.
    path = clip_file(judgement, data.evaluation / model)
    if path is None:
        return '<span class="small">no audio path</span>' + _verdict(judgement)
    if not path.is_file():
        return f'<span class="small">audio missing: {e(path.name)}</span>' + _verdict(judgement)
    return f'<audio controls preload="auto" src="{audio_data_uri(path)}"></audio>' + _verdict(judgement)


# --- settings --------------------------------------------------------------------------------------------


def model_legend(data: Any) -> str:
    """What each model of the table is, when the run says so (run.json's "models": name -> text)."""
    described = (data.run_info or {}).get("models")
    if not isinstance(described, dict) or not described:
        return ""
    items = "".join(f"<dt>{e(name)}</dt><dd>{e(text)}</dd>" for name, text in described.items())
    return f'<h3>The models</h3><dl class="glossary" id="models">{items}</dl>'


def settings(data: Any) -> str | None:
    parts = []
    if data.run_info is not None:
        parts.append(
            f"<h3>The run ({e(data.root / 'run.json')})</h3><pre>{e(json.dumps(data.run_info, indent=2))}</pre>"
        )
    if data.summary is not None:
        keys = ("prompts", "reference", "scorers", "judges", "models", "settings", "seconds")
        shown = {k: data.summary[k] for k in keys if k in data.summary}
        parts.append(
            f"<h3>The evaluation ({e(data.evaluation / 'metrics.json')})</h3><pre>{e(json.dumps(shown, indent=2))}</pre>"
        )
    return "\n".join(parts) or None


# --- the page --------------------------------------------------------------------------------------------


def render_report(data: Any, config: ReportConfig) -> str:
    """The whole page as one HTML string."""
    summary = data.summary
    body: list[str] = []
    if summary is not None:
        body.append(section("results", results_tables(summary) + model_legend(data), data))
        body.append(section("charts", charts(summary), data))
    else:
        body += [absent("results", data), absent("charts", data)]
    rewards = reward_distributions(data)
    if rewards:
        body.append(section("rewards", rewards, data))
    else:
        data.absent.setdefault(
            "rewards", "not in this run (no rewards in the judgements, no reward/rewards.jsonl)"
        )
        body.append(absent("rewards", data))
    body.append(section("training", training(data), data) if data.train_logs else absent("training", data))
    body.append(
        section("reliability", reliability(data), data) if data.reliability else absent("reliability", data)
    )
    if data.label_efficiency is not None:
        body.append(section("label_efficiency", label_efficiency(data.label_efficiency), data))
    matched = examples(data, config) if data.judgements else None
    if matched:
        body.append(section("examples", matched, data))
    else:
        data.absent.setdefault("examples", "no clips to play")
        body.append(absent("examples", data))
    settings_html = settings(data)
    if settings_html:
        body.append(section("settings", settings_html, data))
    else:
        data.absent.setdefault("settings", "not in this run (no run.json, no evaluation settings)")
        body.append(absent("settings", data))

    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    models = ", ".join(summary.get("order", [])) if summary else "–"
    meta = f"Run {e(data.root.resolve().name)} · models: {e(models)} · baton {e(__version__)} · written {e(created)}"
    if summary and summary.get("prompts"):
        p = summary["prompts"]
        meta += f" · {e(p.get('count'))} prompts × {e(p.get('per_prompt'))} clips per model"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(config.title)}</title><style>{CSS}</style></head>\n"
        f'<body><main><h1>{e(config.title)}</h1><p class="meta">{meta}</p>\n'
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )
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
