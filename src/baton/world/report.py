"""Showing a world: its manifest as a table, and example sounds to listen to."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rich.table import Table

from baton.world.manifest import SHIPPED_FORMAT, world_origin


def _figure(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        low, high = value.get("ci_low"), value.get("ci_high")
        interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
        return f"{value['value']:.3f}{interval}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# The figures worth a row, per step; the rest stays in `baton world info --json`.
SHOWN = {
    "corpus": ("clips",),
    "t2a": ("steps", "final_loss", "parameters"),
    "clap": ("recall_at_1", "recall_at_5", "batch_size"),
    "annotator": ("macro_f1", "min_class_f1", "order_accuracy"),
    "evaluator": ("macro_f1", "min_class_f1", "order_accuracy"),
    "base_eval": (
        "single_accuracy",
        "integrity_accuracy",
        "temporal_accuracy",
        "single_real_accuracy",
        "integrity_real_accuracy",
        "temporal_real_accuracy",
        "fad",
        "fad_real_vs_real",
        "clap_score",
    ),
}


def duration(seconds: float) -> str:
    """A training's time for people: hours once it is an hour or more, else minutes or seconds."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def origin_text(manifest: dict[str, Any]) -> str:
    """Where a world came from, in a few words: ``shipped (recipe v2, trained 11.2 h on <cpu>, commit
    abc1234)`` or ``built here (recipe v1)``. Takes a world's manifest or a shipped world's."""
    if manifest.get("format") == SHIPPED_FORMAT:
        origin = {"kind": "shipped", **manifest}
    else:
        origin = world_origin(manifest)
    recipe = origin.get("recipe") or "v1"
    if origin.get("kind") != "shipped":
        return f"built here (recipe {recipe})"
    commit = origin.get("git_commit")
    hours = origin.get("hours")
    trained = f"trained {duration(float(hours) * 3600)}" if hours is not None else "trained"
    cpu = origin.get("cpu") or "an unknown CPU"
    text = f"shipped (recipe {recipe}, {trained} on {cpu}, commit {commit[:7] if commit else 'unknown'})"
    if origin.get("trained_here"):
        text += f"; trained here since: {', '.join(origin['trained_here'])}"
    return text


def manifest_table(manifest: dict[str, Any], root: Path, title: str | None = None) -> Table:
    table = Table(
        title=title
        or f"world at {root} (baton {manifest.get('baton')}, seed {manifest.get('seed')}"
        f"{', quick' if manifest.get('quick') else ''}"
        f"{', built on ' + manifest['cpu'] if manifest.get('cpu') else ''})"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for step, record in manifest.get("steps", {}).items():
        figures = record.get("figures", {})
        names = [k for k in SHOWN.get(step, ()) if k in figures] or ["-"]
        for i, name in enumerate(names):
            table.add_row(
                step if i == 0 else "",
                f"{record['seconds']:.0f}" if i == 0 else "",
                name,
                _figure(figures.get(name, "")),
            )
    captions = [f"origin: {origin_text(manifest)}"]
    last = manifest.get("last_build")
    if last:
        captions.append(
            f"last build: {', '.join(last['steps'])} in {last['wall_seconds']:.0f} s"
            f" ({last['jobs']} at a time, {last['threads']} torch thread(s) each)"
        )
    table.caption = "\n".join(captions)
    return table


def write_examples(out: Path, seed: int = 0) -> list[Path]:
    """One WAV per class, plus a sequence and an overlap, with a captions.txt naming each file."""
    # torch and the synthesizer: `baton world info` imports this module and reads a manifest only
    import numpy as np

    from baton.audio import save_audio
    from baton.world.captions import caption
    from baton.world.corpus import render
    from baton.world.spec import CLASSES, SAMPLE_RATE
    from baton.world.synth import synthesize

    out = Path(out)
    rng = np.random.default_rng(seed)
    text_rng = random.Random(seed)
    written: list[Path] = []
    lines = []
    for name in CLASSES:
        path = out / f"class-{name}.wav"
        save_audio(path, synthesize(name, rng), SAMPLE_RATE)
        written.append(path)
        lines.append(f"{path.name}\t{name}")
    for i, (labels, relation) in enumerate(
        [
            (["beep", "knock", "rain"], "sequence"),
            (["hum", "whistle"], "overlap"),
            (["siren", "click_train"], "sequence"),
        ]
    ):
        clip = render(labels, relation, seed + i)
        path = out / f"clip-{i}-{relation}-{'-'.join(labels)}.wav"
        save_audio(path, clip.audio, SAMPLE_RATE)
        written.append(path)
        lines.append(f"{path.name}\t{caption(labels, relation, text_rng)}")
    (out / "captions.txt").write_text("\n".join(lines) + "\n")
    return written
