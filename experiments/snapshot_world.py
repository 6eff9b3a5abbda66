"""A whole world from a v2 pretraining still under way: its moving average at a checkpoint as the T2A model.

    python experiments/snapshot_world.py --world CACHE/world --out runs/snapshot [--step N] [--eval-prompts 100]

``--world`` is a world folder whose ``t2a-run/`` holds a v2 pretraining's checkpoints (and whose corpus,
CLAP and detectors are built). ``--out`` becomes a complete world folder: those steps copied, the
checkpoint's moving average (the newest, or ``--step``) as ``t2a/``, and ``base_eval/`` measured on it
(``--eval-prompts`` per task). It can then be shipped to a folder of its own and tried in the demo
through the same install path a shipped world takes::

    baton world ship --world runs/snapshot --to runs/snapshot-shipped
    BATON_SHIPPED_WORLD=runs/snapshot-shipped baton demo --cache runs/snapshot-cache --out runs/demo-snapshot
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from baton.artifacts import read_json, write_json
from baton.world.build import apply_sampling_defaults, run_step
from baton.world.manifest import CODE_VERSIONS, STEPS, WorldPaths, fingerprints
from baton.world.pretrain import STATE_FILE, checkpoint_dirs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--step", type=int, default=None, help="Checkpoint step (default: the newest).")
    parser.add_argument("--eval-prompts", type=int, default=None, help="Base evaluation prompts per task.")
    args = parser.parse_args()

    manifest = read_json(args.world / "manifest.json")
    found = {int(p.name.split("-")[1]): p for p in checkpoint_dirs(args.world / "t2a-run")}
    step = max(found) if args.step is None else args.step
    if step not in found:
        raise SystemExit(
            f"no checkpoint at step {step} in {args.world / 't2a-run'} (there are {sorted(found)})"
        )
    checkpoint = found[step]
    state = read_json(checkpoint / STATE_FILE)

    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    for name in ("corpus", "clap", "annotator", "evaluator"):
        shutil.copytree(args.world / name, out / name)
    average = checkpoint / "ema"  # the moving average, or the weights of a run that keeps none
    shutil.copytree(average if average.is_dir() else checkpoint / "model", out / "t2a")
    settings = manifest["settings"]
    apply_sampling_defaults(out / "t2a", settings["t2a"])
    if args.eval_prompts is not None:
        settings["base_eval"]["prompts_per_task"] = args.eval_prompts
    prints = fingerprints(settings)
    manifest["steps"]["t2a"] = {
        "fingerprint": prints["t2a"],
        "code_version": CODE_VERSIONS["t2a"],
        "seconds": state["seconds"],
        "figures": {
            "steps": step,
            "snapshot_of": f"{settings['t2a']['steps']} steps",
            "assessments": state["assessments"],
        },
    }
    figures = run_step(str(out), "base_eval", settings, 1, True)
    manifest["steps"]["base_eval"] = {
        "fingerprint": prints["base_eval"],
        "code_version": CODE_VERSIONS["base_eval"],
        "seconds": 0.0,
        "figures": figures,
    }
    manifest["steps"] = {name: manifest["steps"][name] for name in STEPS}
    manifest["settings"] = settings
    manifest["snapshot"] = {"of": str(args.world.resolve()), "step": step}
    write_json(WorldPaths(out).manifest, manifest)
    shown = {k: round(figures[f"{k}_accuracy"]["value"], 3) for k in ("single", "integrity", "temporal")}
    print(f"snapshot of step {step} in {out}: {shown}, FAD {figures['fad']:.3f}")


if __name__ == "__main__":
    main()
