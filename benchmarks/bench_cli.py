"""Start-up time of the command line: ``baton --help`` and each command's ``--help``, in fresh processes.

The aim is under 0.5 s for ``baton --help``: the command modules import only typer and their
config dataclasses (see CONTRIBUTING.md). Each figure is the median wall time of ``repeats`` runs of
``python -m baton ... --help``; ``slowest_imports`` lists the modules whose import took longest in one
``python -X importtime`` run, to show what to make lazy when the figure grows.

    python -m benchmarks.run --only cli [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = [[], ["prompts"], ["generate"], ["annotate"], ["reward"], ["finetune"], ["evaluate"],
            ["report"], ["demo"], ["world"], ["data"]]  # fmt: skip
TARGET_SECONDS = 0.5


def _seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "baton", *argv, "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def slowest_imports(count: int = 8) -> list[tuple[str, float]]:
    """(module, cumulative milliseconds) of the top-level imports of ``baton --help``, slowest first."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "baton", "--help"], capture_output=True, text=True
    )
    rows = []
    for line in result.stderr.splitlines():
        parts = line.split("|")
        # "import time: self | cumulative | name": a name without indentation is a top-level import.
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            rows.append((parts[2].strip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda row: -row[1])[:count]


def run(quick: bool = False) -> dict:
    repeats = 3 if quick else 9
    _seconds([])  # the first run compiles the bytecode
    figures = {}
    for argv in COMMANDS[:2] if quick else COMMANDS:
        figures[" ".join(["baton", *argv, "--help"])] = round(
            statistics.median(_seconds(argv) for _ in range(repeats)), 3
        )
    return {
        "median_seconds": figures,
        "target_seconds": TARGET_SECONDS,
        "within_target": figures["baton --help"] < TARGET_SECONDS,
        "slowest_imports_ms": slowest_imports(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
