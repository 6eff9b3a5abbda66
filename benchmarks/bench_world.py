"""The built-in sound world against the targets of issue 3.

* build time per step (target: full world <= 10 min, ``--quick`` < 1 min on the 2-core machine);
* detectors: per-class F1 on held-out clean clips (the minimum over classes, target >= 0.95) and the
  accuracy of the event order they read (target >= 0.95);
* the base world T2A model judged by the evaluator detector on held-out prompts: single-event,
  2-event integrity and 3-event temporal accuracy with 95% intervals (target: single >= 0.90,
  the other two clearly lower but not zero), FAD of generated against real clips;
* world CLAP text-to-audio recall@1;
* generation speed of the world backend with its default settings (clips per second).

quick=False reads the world built in the default cache (``baton world build``), building or
finishing it first if needed (so the build times are those of the build that made it);
quick=True builds a quick world in a temporary folder (its figures are not meaningful, only its time).

    python -m benchmarks.run --only world [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any


def _estimate(figure: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(figure, dict):
        return None
    return {
        "value": round(figure["value"], 4),
        "ci95": [round(figure["ci_low"], 4), round(figure["ci_high"], 4)],
        "n": figure["n"],
    }


def figures_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The issue-3 figures from a world manifest."""
    from baton.world.build import full_build_seconds

    steps = manifest["steps"]
    # Steps run side by side: the build's time is its wall time, known when one run built them all
    # (otherwise the sum of the steps' times stands in, an upper bound).
    out: dict[str, Any] = {
        "build_seconds": {name: step["seconds"] for name, step in steps.items()},
        "build_step_seconds_sum": round(sum(step["seconds"] for step in steps.values()), 1),
        "build_wall_seconds": full_build_seconds(manifest),
        "build_jobs": (manifest.get("last_build") or {}).get("jobs"),
    }
    out["build_total_seconds"] = out["build_wall_seconds"] or out["build_step_seconds_sum"]
    for role in ("annotator", "evaluator"):
        figures = steps[role]["figures"]
        out[role] = {
            "min_class_f1": figures["min_class_f1"],
            "macro_f1": figures["macro_f1"],
            "order_accuracy": figures["order_accuracy"],
        }
    base = steps["base_eval"]["figures"]
    out["base_model"] = {
        task: {
            "generated": _estimate(base.get(f"{task}_accuracy")),
            "real_clips": _estimate(base.get(f"{task}_real_accuracy")),
        }
        for task in ("single", "integrity", "temporal")
    }
    out["base_model"]["fad"] = round(base["fad"], 4)
    out["base_model"]["fad_real_vs_real"] = round(base["fad_real_vs_real"], 4)
    out["clap_recall_at_1"] = steps["clap"]["figures"].get("recall_at_1")
    out["t2a_training"] = {
        key: steps["t2a"]["figures"].get(key) for key in ("steps", "seconds", "final_loss", "parameters")
    }
    return out


def generation_speed(model_dir: Path, clips: int) -> dict[str, Any]:
    """Clips per second of the world backend with its default settings (denoising + Griffin-Lim)."""
    from baton.backends.world import WorldBackend

    backend = WorldBackend.load(model_dir)
    texts = ["A beep sounds, then a bell rings."] * clips
    seeds = list(range(clips))
    backend.generate(texts[:2], seeds[:2])  # warm-up
    start = time.perf_counter()
    backend.generate(texts, seeds)
    seconds = time.perf_counter() - start
    return {
        "clips": clips,
        "seconds": round(seconds, 2),
        "clips_per_second": round(clips / seconds, 2),
        "steps": backend.default_settings.steps,
        "griffin_lim_iters": backend.model.config.griffin_lim_iters,
    }


def run(quick: bool = False) -> dict[str, Any]:
    from baton.world.build import WorldBuildConfig, build
    from baton.world.manifest import world_dir

    if quick:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            manifest = build(WorldBuildConfig(quick=True, cache=Path(cache), progress=False, eval_prompts=4))
            wall = time.perf_counter() - start
            out = figures_of(manifest)
            out["quick_build_wall_seconds"] = round(wall, 1)
            out["quick_build_under_60s"] = wall < 60.0
            out["generation"] = generation_speed(world_dir(Path(cache), quick=True) / "t2a", clips=4)
        return out

    manifest = build(WorldBuildConfig(progress=False))
    out = figures_of(manifest)
    base = out["base_model"]
    out["targets"] = {
        # Unknown (None) when no one run built every step: the steps' times, run side by side, do not
        # add up to a wall time (`baton world build --force` measures it).
        "build_under_10_min": None if out["build_wall_seconds"] is None else out["build_wall_seconds"] <= 600,
        "detectors_min_class_f1_at_least_0.95": all(
            out[role]["min_class_f1"] >= 0.95 for role in ("annotator", "evaluator")
        ),
        "detectors_order_accuracy_at_least_0.95": all(
            out[role]["order_accuracy"] >= 0.95 for role in ("annotator", "evaluator")
        ),
        "single_at_least_0.90": base["single"]["generated"]["value"] >= 0.90,
        "integrity_and_temporal_clearly_lower": max(
            base["integrity"]["generated"]["ci95"][1], base["temporal"]["generated"]["ci95"][1]
        )
        < base["single"]["generated"]["ci95"][0],
    }
    out["generation"] = generation_speed(world_dir() / "t2a", clips=64)
    return out
