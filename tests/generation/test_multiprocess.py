"""``accelerate launch --multi_gpu --num_processes 2 -m baton generate`` on CPU workers: the same clips
as one process, none made twice, none missing, and a killed run resumes with only the missing clips.

The workers are real subprocesses, so the test backends reach them through BATON_EXTRA_BACKENDS
(the plug-in hook for users' own backends), not through a monkeypatched registry.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from baton.artifacts import PromptRecord, SampleRecord, read_records, write_records
from baton.generation.run import GenerateConfig, run

from .mp_backend import LoggedToneBackend

REPO = Path(__file__).resolve().parents[2]
PLUGINS = "logged-tone=tests.generation.mp_backend:LoggedToneBackend"
CLIPS = 15  # 5 prompts x 3


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    texts = ["a beep, then a knock", "rain falls", "a bell rings twice", "wind while a dog barks", "a siren"]
    write_records(path, [PromptRecord(id=f"p{i}", text=t) for i, t in enumerate(texts)])
    return path


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.setenv("BATON_EXTRA_BACKENDS", PLUGINS)
    monkeypatch.delenv("BATON_TEST_DIE_AFTER", raising=False)
    monkeypatch.delenv("BATON_TEST_CALL_LOG", raising=False)
    LoggedToneBackend.made = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    prompts: Path,
    out: Path,
    processes: int = 2,
    backend: str = "logged-tone",
    extra: list | None = None,
    **env: str,
) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "BATON_EXTRA_BACKENDS": PLUGINS,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        # accelerate's torchrun launcher; its --cpu launcher starts one process unless MPI is set up
        "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "baton", "generate",
        "--prompts", str(prompts), "--out", str(out), "--backend", backend,
        "--per-prompt", "3", "--batch-size", "2", "--no-progress", *(extra or []),
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def one_process(prompts: Path, out: Path, per_prompt: int = 3) -> list[SampleRecord]:
    config = GenerateConfig(
        prompts=prompts, out=out, backend="logged-tone", per_prompt=per_prompt, batch_size=2, progress=False
    )
    return run(config)


def made_seeds(log: Path) -> list[int]:
    return [seed for line in log.read_text().splitlines() for seed in json.loads(line)["seeds"]]


def assert_same_run(
    folder: Path, expected: list[SampleRecord], reference: Path, *, same_order: bool = True
) -> None:
    got = read_records(folder / "samples.jsonl", SampleRecord)  # (read_records refuses a repeated id)
    if not same_order:  # a resumed run lists the clips of its first attempt first
        got, expected = sorted(got, key=lambda r: r.id), sorted(expected, key=lambda r: r.id)
    assert [r.model_dump() for r in got] == [r.model_dump() for r in expected]
    for record in expected:  # the samples (a float WAV's PEAK chunk carries a write time)
        ours = sf.read(folder / record.path, dtype="float32")[0]
        assert np.array_equal(ours, sf.read(reference / record.path, dtype="float32")[0]), record.id
    assert not list(folder.glob("samples.part*"))


def test_two_processes_make_the_clips_one_process_makes(tmp_path, prompts_file, plugins):
    one = one_process(prompts_file, tmp_path / "one")
    assert len(one) == CLIPS
    log = tmp_path / "calls.jsonl"
    result = launch(prompts_file, tmp_path / "two", BATON_TEST_CALL_LOG=str(log))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_run(tmp_path / "two", one, tmp_path / "one")
    assert sorted(made_seeds(log)) == sorted(r.seed for r in one)  # each clip made exactly once
    assert {json.loads(line)["rank"] for line in log.read_text().splitlines()} == {0, 1}
    # Run again, with fewer clips per prompt: nothing to make, the samples file is left as it is.
    before = (tmp_path / "two" / "samples.jsonl").read_bytes()
    LoggedToneBackend.made = 0
    assert len(one_process(prompts_file, tmp_path / "two", per_prompt=2)) == CLIPS
    assert LoggedToneBackend.made == 0 and (tmp_path / "two" / "samples.jsonl").read_bytes() == before


def test_a_killed_run_resumes_with_only_the_missing_clips(tmp_path, prompts_file, plugins):
    reference = one_process(prompts_file, tmp_path / "one")
    out = tmp_path / "two"
    killed = launch(prompts_file, out, BATON_TEST_DIE_AFTER="4")
    assert killed.returncode != 0
    parts = sorted(out.glob("samples.part*-of-2.jsonl"))
    assert len(parts) == 2 and not (out / "samples.jsonl").exists()
    recorded = {r.id for part in parts for r in read_records(part, SampleRecord)}
    assert 0 < len(recorded) < CLIPS

    log = tmp_path / "resumed.jsonl"
    resumed = launch(prompts_file, out, BATON_TEST_CALL_LOG=str(log))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    missing = sorted(r.seed for r in reference if r.id not in recorded)
    assert sorted(made_seeds(log)) == missing
    assert_same_run(out, reference, tmp_path / "one", same_order=False)


def test_a_killed_two_process_run_resumes_in_one_process(tmp_path, prompts_file, plugins, monkeypatch):
    reference = one_process(prompts_file, tmp_path / "one")
    out = tmp_path / "two"
    assert launch(prompts_file, out, BATON_TEST_DIE_AFTER="2").returncode != 0
    recorded = {r.id for part in out.glob("samples.part*") for r in read_records(part, SampleRecord)}
    # tear the last line of one part, as a kill in the middle of a write would
    part = sorted(out.glob("samples.part*"))[0]
    part.write_text(part.read_text() + '{"schema": "sample/1", "id": "p4-')
    log = tmp_path / "resumed.jsonl"
    monkeypatch.setenv("BATON_TEST_CALL_LOG", str(log))
    LoggedToneBackend.made = 0
    resumed = one_process(prompts_file, out)
    assert sorted(made_seeds(log)) == sorted(r.seed for r in reference if r.id not in recorded)
    assert_same_run(out, reference, tmp_path / "one", same_order=False)
    assert sorted(r.id for r in resumed) == sorted(r.id for r in reference)


def test_unknown_plugin_module_is_a_clear_error(monkeypatch):
    from baton.backends import load_backend
    from baton.errors import InputError

    monkeypatch.setenv("BATON_EXTRA_BACKENDS", "mine=no_such_package.t2a:Mine")
    with pytest.raises(
        InputError, match="backend 'mine' = 'no_such_package.t2a:Mine' cannot be loaded"
    ) as caught:
        load_backend("mine")
    assert caught.value.field == "BATON_EXTRA_BACKENDS"
    monkeypatch.setenv("BATON_EXTRA_BACKENDS", "broken")
    with pytest.raises(InputError, match="'broken' is not name=module:Class"):
        load_backend("world")


@pytest.mark.slow
def test_two_processes_with_a_tiny_tango(tmp_path, prompts_file, plugins):
    """A real backend across processes: the same clips (to float rounding) as in one process."""
    import torch

    from baton.backends.tiny import tiny_tango

    model = tmp_path / "tiny-tango"
    tiny_tango(seed=0).save(model)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = run(
            GenerateConfig(
                prompts=prompts_file,
                out=tmp_path / "one",
                backend="tango",
                model=str(model),
                per_prompt=3,
                batch_size=2,
                progress=False,
            )
        )
    finally:
        torch.set_num_threads(before)
    result = launch(prompts_file, tmp_path / "two", backend="tango", extra=["--model", str(model)])
    assert result.returncode == 0, result.stderr[-3000:]
    two = read_records(tmp_path / "two" / "samples.jsonl", SampleRecord)
    assert [(r.id, r.seed, r.path) for r in two] == [(r.id, r.seed, r.path) for r in one]
    for record in one:
        a = sf.read(tmp_path / "one" / record.path, dtype="float32")[0]
        b = sf.read(tmp_path / "two" / record.path, dtype="float32")[0]
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * np.abs(a).max())
