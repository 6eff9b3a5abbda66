"""`make bench`: run every ``benchmarks/bench_*.py`` module's ``run()`` and write one JSON file.

Each benchmark returns a dict of figures (ratios where a comparison is asked for, measured side by side
in one run). The results file also describes the machine, since this one is shared and noisy.

    python -m benchmarks.run [--only NAME ...] [--out bench-results/results.json] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from baton.workers import cpu_model

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE.parent, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    return info


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/results.json"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)

    names = args.only or discover()
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "benchmarks": {},
    }
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            accepts_quick = "quick" in inspect.signature(module.run).parameters
            figures = module.run(quick=args.quick) if accepts_quick else module.run()
            status = "ok"
        except Exception:  # a failing benchmark is reported, the others still run
            figures = {"error": traceback.format_exc()}
            status = "error"
            failed += 1
        results["benchmarks"][name] = {
            "status": status,
            "seconds": round(time.perf_counter() - start, 2),
            "results": figures,
        }
        print(json.dumps(results["benchmarks"][name], indent=2, default=str), flush=True)
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
