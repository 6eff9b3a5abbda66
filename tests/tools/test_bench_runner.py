"""`make bench`'s runner: every benchmark's figures in one JSON file, a failing one reported, not fatal."""

import json
import sys
import types
from pathlib import Path

import pytest
from benchmarks import run as runner

REPO = Path(__file__).resolve().parents[2]


def _fake_benchmark(monkeypatch: pytest.MonkeyPatch, name: str, run) -> None:
    module = types.ModuleType(f"benchmarks.bench_{name}")
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)


def test_every_benchmark_file_of_the_repository_is_found() -> None:
    on_disk = sorted(p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*.py"))
    assert runner.discover() == on_disk
    assert {"annotation", "backends", "demo", "finetune", "reward", "world"} <= set(on_disk)


def test_results_file_holds_each_benchmark_and_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}

    def sized(quick: bool = False) -> dict:
        seen["quick"] = quick
        return {"clips_per_second": 12.5}

    def broken(quick: bool = False) -> dict:
        raise RuntimeError("the database did not start")

    _fake_benchmark(monkeypatch, "sized", sized)
    _fake_benchmark(monkeypatch, "broken", broken)
    _fake_benchmark(monkeypatch, "plain", lambda: {"ratio": 0.97})  # no quick parameter
    out = tmp_path / "nested" / "results.json"

    code = runner.main(["--only", "sized", "broken", "plain", "--quick", "--out", str(out)])

    assert code == 1  # one benchmark failed
    assert seen == {"quick": True}
    results = json.loads(out.read_text())
    assert list(results["benchmarks"]) == ["sized", "broken", "plain"]
    sized_entry = results["benchmarks"]["sized"]
    assert sized_entry["status"] == "ok"
    assert sized_entry["results"] == {"clips_per_second": 12.5}
    assert sized_entry["seconds"] >= 0
    broken_entry = results["benchmarks"]["broken"]
    assert broken_entry["status"] == "error"
    assert "RuntimeError: the database did not start" in broken_entry["results"]["error"]
    plain_entry = results["benchmarks"]["plain"]
    assert (plain_entry["status"], plain_entry["results"]) == ("ok", {"ratio": 0.97})
    machine = results["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["torch"].startswith("2.")
    assert results["started"] <= results["finished"]


def test_all_benchmarks_passing_exits_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_benchmark(monkeypatch, "fine", lambda quick=False: {"quick": quick})
    out = tmp_path / "results.json"
    assert runner.main(["--only", "fine", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["benchmarks"]["fine"]["results"] == {"quick": False}
