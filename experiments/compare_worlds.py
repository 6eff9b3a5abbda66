"""World T2A models side by side on the same held-out prompts and seeds, judged by one evaluator and CLAP.

    python experiments/compare_worlds.py --judges CACHE/world --out runs/compare.json \
        --model v1=CACHE-v1/world/t2a --model v2=CACHE/world/t2a [--prompts 200] [--clips 2]

Each model is judged as the base evaluation of a v2 world judges it (:func:`assess_world_model`:
``--prompts`` single, integrity and temporal prompts per task, ``--clips`` clips each, integrity
repeating the world's 66 pairs in rounds; intervals over prompts), all with the evaluator detector and
the CLAP of ``--judges``, so that their FAD and CLAP scores are comparable. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from baton.world.assess import assess_world_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--judges", type=Path, required=True, help="A world whose evaluator and CLAP judge.")
    parser.add_argument("--model", action="append", required=True, help="NAME=T2A model folder; repeat.")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=2000, help="Prompts and clip seeds (2000: the base evaluation's)."
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    results = {}
    for spec in args.model:
        name, _, folder = spec.partition("=")
        results[name] = assess_world_model(
            folder,
            args.judges / "evaluator",
            args.judges / "clap",
            prompts_per_task=args.prompts,
            seed=args.seed,
            clips_per_prompt=args.clips,
            progress=False,
        )
        results[name]["model"] = str(Path(folder).resolve())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))

    def cell(figure: dict) -> str:
        return f"{figure['value']:.3f} [{figure['ci_low']:.2f}, {figure['ci_high']:.2f}]"

    print("| model | single | integrity | temporal (all three present) | FAD | CLAP score |")
    print("|---|---|---|---|---|---|")
    for name, f in results.items():
        print(
            f"| {name} | {cell(f['single_accuracy'])} | {cell(f['integrity_accuracy'])} | "
            f"{cell(f['temporal_accuracy'])} ({f['temporal_presence']['value']:.3f}) | {f['fad']:.3f} | "
            f"{f['clap_score']['value']:.3f} |"
        )


if __name__ == "__main__":
    main()
