"""`baton demo` end to end: the time of every stage and the headline figures it printed.

The world is built (or taken from the user's cache) first and timed apart, so the figures give both
targets of the demo: the whole run on a fresh machine (world build + loop) and the loop with the
world cached. quick=True runs the tiny demo (a smoke run; its figures mean nothing).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def run(quick: bool = False) -> dict:
    from baton.demo.run import DemoConfig
    from baton.demo.run import run as run_demo
    from baton.world.build import WorldBuildConfig, build, full_build_seconds

    start = time.perf_counter()
    manifest = build(WorldBuildConfig(quick=quick, progress=False))
    world_seconds = time.perf_counter() - start
    built = {name: step["seconds"] for name, step in manifest["steps"].items()}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        summary = run_demo(DemoConfig(out=Path(folder) / "run", quick=quick, progress=False))
    loop_seconds = summary["seconds"]["total"] - summary["seconds"].get("world", 0.0)
    return {
        "quick": quick,
        "world_seconds_this_run": round(world_seconds, 1),
        "world_build_seconds_when_built": built,
        # Wall time of the build that made every step (steps run side by side), else their sum.
        "world_build_total_when_built": full_build_seconds(manifest) or manifest.get("total_build_seconds"),
        "loop_seconds_world_cached": round(loop_seconds, 1),
        "stage_seconds": summary["seconds"],
        "clips": summary["clips"],
        "headline": summary["headline"],
        "skipped_methods": summary.get("skipped", {}),
    }
