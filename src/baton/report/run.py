"""``baton report``: one self-contained HTML file of a run: figures, plots, audio, settings.

The run folder it reads (every part optional; a missing part leaves its section out with a note)::

    DIR/
      run.json                         settings and timings of the whole run: any JSON object,
                                       shown as it is (``baton demo`` writes it)
      evaluation/                      what ``baton evaluate --out DIR/evaluation`` writes:
        metrics.json                   figures per model, metric and task; paired differences from
                                       the base (format in :mod:`baton.evaluation.run`)
        metrics.jsonl                  the same figures as MetricRecords (not read here)
        <model>/samples.jsonl, audio/  each model's clips
        <model>/judgements.jsonl       each clip's judgement (:mod:`baton.evaluation.records`):
                                       audio players, reward distributions
        reference/judgements.jsonl     the reference clips' judgements (real world clips), if judged
      finetune/<method>/train_log.jsonl
                                       one JSON object per line: ``{"step": 10, "loss": 0.21,
                                       "lr": 1e-4, ...}``; every numeric field is a curve (nested
                                       objects are flattened as ``losses.total``); fields named
                                       ``*loss*`` share a panel, ``lr``/``learning_rate`` another,
                                       any other field (``grad_norm``, ...) has its own; lines
                                       without a ``step`` are numbered in order
      reward/                          the reward model folder, with
        *.json                         its evaluation (``baton reward eval``): any JSON holding a
                                       ``reliability`` entry, either a list of bins or a mapping
                                       of task -> list of bins; a bin is an object with the mean
                                       predicted probability (``confidence``; also read:
                                       ``mean_probability``, ``mean_predicted``, ``predicted``), the
                                       observed share of 1 labels (``accuracy``; also:
                                       ``fraction_positive``, ``observed``, ``frequency``) and
                                       ``count``; an ``ece`` beside it is shown too
        rewards.jsonl                  RewardRecords of the reward-labelled set (RD): its
                                       distribution of rewards

``--run`` may also name an evaluation folder itself (one holding ``metrics.json``).

The page has no external requests: CSS is inline, plots are PNG data URIs (matplotlib, Agg), clips
are OGG Vorbis data URIs at 16 kHz (FLAC, then WAV, if libsndfile cannot write Vorbis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.artifacts import RewardRecord, atomic_write_text, read_json, read_records
from baton.errors import InputError
from baton.evaluation.records import JUDGEMENTS_FILE, JudgementRecord
from baton.report.config import ReportConfig
from baton.report.html import render_report

SUMMARY_FILE = "metrics.json"
TRAIN_LOG = "train_log.jsonl"
REPORT_FILE = "report.html"

# Alternative names of a reliability bin's fields, as different evaluation scripts write them.
_CONFIDENCE_KEYS = ("confidence", "mean_probability", "mean_predicted", "predicted", "avg_confidence")
_ACCURACY_KEYS = ("accuracy", "fraction_positive", "observed", "frequency", "positive_rate")
_COUNT_KEYS = ("count", "n", "size")
_CONTAINER_KEYS = ("tasks", "per_task", "by_task", "metrics", "results")


@dataclass
class RunData:
    """Everything the report shows, as read from a run folder; ``absent`` says why a part is missing."""

    root: Path
    evaluation: Path | None = None
    summary: dict[str, Any] | None = None
    judgements: dict[str, list[Any]] = field(default_factory=dict)
    train_logs: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    reliability: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    ece: dict[str, float] = field(default_factory=dict)
    reward_eval_path: Path | None = None
    reward_eval: dict[str, Any] | None = None  # the document the reliability bins came from
    rd_rewards: list[Any] = field(default_factory=list)
    run_info: dict[str, Any] | None = None
    label_efficiency: dict[str, Any] | None = None  # the benchmark's figures (--label-efficiency)
    absent: dict[str, str] = field(default_factory=dict)


def load_run(root: str | Path) -> RunData:
    """Read a run folder (layout above); parts that are missing or unreadable are noted, not fatal."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("no such run folder", path=root)
    data = RunData(root=root)
    _load_evaluation(data)
    _load_train_logs(data)
    _load_reward(data)
    run_json = root / "run.json"
    if run_json.is_file():
        data.run_info = _try(data, "settings", lambda: _json_object(run_json))
    if data.summary is None and not data.train_logs and not data.reliability and not data.rd_rewards:
        raise InputError(
            "nothing to report: no evaluation/metrics.json, finetune/*/train_log.jsonl or reward/ here",
            path=root,
        )
    return data


def _try(data: RunData, section: str, read: Any) -> Any:
    try:
        return read()
    except InputError as exc:
        data.absent[section] = f"could not be read: {exc}"
        return None


def _json_object(path: Path) -> dict[str, Any]:
    value = read_json(path)
    if not isinstance(value, dict):
        raise InputError("expected a JSON object", path=path)
    return value


def _load_evaluation(data: RunData) -> None:
    for candidate in (data.root / "evaluation", data.root):
        if (candidate / SUMMARY_FILE).is_file():
            data.evaluation = candidate
            break
    if data.evaluation is None:
        why = f"not in this run (no {data.root / 'evaluation' / SUMMARY_FILE})"
        for section in ("results", "charts", "examples"):
            data.absent[section] = why
        return
    summary = _try(data, "results", lambda: _json_object(data.evaluation / SUMMARY_FILE))
    if summary is None or not isinstance(summary.get("metrics"), dict):
        if summary is not None:
            data.absent["results"] = f"{data.evaluation / SUMMARY_FILE} holds no 'metrics'"
        data.absent.setdefault("charts", data.absent["results"])
        data.absent.setdefault("examples", data.absent["results"])
        return
    data.summary = summary
    for model in summary.get("order", list(summary["metrics"])):
        path = data.evaluation / model / JUDGEMENTS_FILE
        if path.is_file():
            records = _try(data, "examples", lambda p=path: read_records(p, JudgementRecord))
            if records is not None:
                data.judgements[model] = records
    if not data.judgements:
        data.absent.setdefault("examples", f"no */{JUDGEMENTS_FILE} in {data.evaluation}")


def flatten_numbers(entry: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric fields of a (nested) JSON object, nested keys joined by '.'; booleans are not numbers."""
    out: dict[str, float] = {}
    for key, value in entry.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def read_train_log(path: Path) -> list[dict[str, float]]:
    """A training log's lines as flat numeric records, each with a ``step``."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", path=path, line=lineno) from None
            if not isinstance(entry, dict):
                raise InputError("a log line must be a JSON object", path=path, line=lineno)
            row = flatten_numbers(entry)
            row.setdefault("step", row.get("global_step", float(len(rows))))
            rows.append(row)
    return rows


def _load_train_logs(data: RunData) -> None:
    logs = (
        sorted((data.root / "finetune").glob(f"*/{TRAIN_LOG}")) if (data.root / "finetune").is_dir() else []
    )
    for path in logs:
        rows = _try(data, "training", lambda p=path: read_train_log(p))
        if rows:
            data.train_logs[path.parent.name] = rows
    if not data.train_logs:
        data.absent.setdefault("training", f"not in this run (no finetune/*/{TRAIN_LOG})")


def _pick(entry: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def parse_bins(value: Any) -> list[dict[str, float]]:
    """Reliability bins from a list of bin objects, ``{"bins": [...]}``, or parallel lists."""
    if isinstance(value, dict) and isinstance(value.get("bins"), list):
        value = value["bins"]
    if isinstance(value, dict):  # parallel lists: {"confidence": [...], "accuracy": [...], "count": [...]}
        conf = next((value[k] for k in _CONFIDENCE_KEYS if isinstance(value.get(k), list)), None)
        acc = next((value[k] for k in _ACCURACY_KEYS if isinstance(value.get(k), list)), None)
        count = next((value[k] for k in _COUNT_KEYS if isinstance(value.get(k), list)), None)
        if conf is None or acc is None:
            return []
        count = count if count is not None else [None] * len(conf)
        value = [
            {"confidence": c, "accuracy": a, "count": n} for c, a, n in zip(conf, acc, count, strict=False)
        ]
    bins = []
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, dict):
            continue
        conf, acc, count = (
            _pick(entry, _CONFIDENCE_KEYS),
            _pick(entry, _ACCURACY_KEYS),
            _pick(entry, _COUNT_KEYS),
        )
        if conf is None or acc is None or count == 0:
            continue
        bins.append({"confidence": conf, "accuracy": acc, "count": count or 0.0})
    return bins


def find_reliability(
    document: Any, name: str = "all"
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float]]:
    """Every ``reliability`` entry in a JSON document (curves by task), and the ``ece`` beside each."""
    curves: dict[str, list[dict[str, float]]] = {}
    ece: dict[str, float] = {}
    if isinstance(document, dict):
        if "reliability" in document:
            value = document["reliability"]
            bins = parse_bins(value)
            if bins:
                curves[name] = bins
            elif isinstance(value, dict):
                for task, sub in value.items():
                    sub_bins = parse_bins(sub)
                    if sub_bins:
                        curves[task if name == "all" else f"{name}/{task}"] = sub_bins
            found = _pick(document, ("ece", "expected_calibration_error"))
            if found is None and isinstance(document.get("ece"), dict):
                found = _pick(document["ece"], ("value",))
            if found is not None:
                ece[name] = found
        for key, value in document.items():
            if key != "reliability" and isinstance(value, (dict, list)):
                # A container of tasks names nothing itself: {"tasks": {"temporal": ...}} -> "temporal".
                sub_name = name if key in _CONTAINER_KEYS else key if name == "all" else f"{name}/{key}"
                sub_curves, sub_ece = find_reliability(value, sub_name)
                curves.update(sub_curves)
                ece.update(sub_ece)
    elif isinstance(document, list):
        for value in document:
            if isinstance(value, dict):
                sub_curves, sub_ece = find_reliability(value, name)
                curves.update(sub_curves)
                ece.update(sub_ece)
    return curves, ece


def _load_reward(data: RunData) -> None:
    folder = data.root / "reward"
    if not folder.is_dir():
        data.absent["reliability"] = "not in this run (no reward/ folder)"
        return
    for path in sorted(folder.glob("*.json")):
        document = _try(data, "reliability", lambda p=path: _json_object(p))
        if document is None:
            continue
        curves, ece = find_reliability(document)
        if curves:
            data.reliability, data.ece, data.reward_eval_path = curves, ece, path
            data.reward_eval = document
            break
    if not data.reliability:
        data.absent.setdefault(
            "reliability", f"not in this run (no JSON with 'reliability' bins in {folder})"
        )
    rewards = folder / "rewards.jsonl"
    if rewards.is_file():
        data.rd_rewards = _try(data, "rewards", lambda: read_records(rewards, RewardRecord)) or []


def read_label_efficiency(path: str | Path) -> dict[str, Any]:
    """The label-efficiency figures of ``benchmarks/bench_label_efficiency.py``: its own JSON, or the
    ``make bench`` results file that holds them."""
    document = _json_object(Path(path))
    if "curves" not in document:
        document = document.get("benchmarks", {}).get("label_efficiency", {}).get("results") or {}
    if not isinstance(document, dict) or not isinstance(document.get("curves"), dict):
        raise InputError(
            "holds no label-efficiency curves (expected label_efficiency.json, or a results file of "
            "`python -m benchmarks.run --only label_efficiency`)",
            path=path,
            field="label_efficiency",
        )
    return document


def run(config: ReportConfig) -> Path:
    """Write the report of ``config.run``; return the path of the HTML file."""
    if config.examples < 0:
        raise InputError("must be 0 or more", field="examples")
    data = load_run(config.run)
    if config.label_efficiency is not None:
        data.label_efficiency = read_label_efficiency(config.label_efficiency)
    out = Path(config.out) if config.out is not None else Path(config.run) / REPORT_FILE
    atomic_write_text(out, render_report(data, config))
    return out
