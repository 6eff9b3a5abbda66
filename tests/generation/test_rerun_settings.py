"""A rerun into a folder of clips resumes it only with the settings its clips were made with."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from baton.artifacts import PromptRecord, SampleRecord, read_records, write_records
from baton.backends import BACKENDS
from baton.errors import InputError
from baton.generation.run import GenerateConfig, run

from .fake_backend import ToneBackend


class FileToneBackend(ToneBackend):
    """The tone stand-in with weights: its model file holds a gain (and optionally a sample rate), kept
    in a one-parameter 'denoiser', so that a model rewritten at the same path has other weights."""

    name = "file-tone"

    def __init__(self, gain: float, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.net = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.net.weight.fill_(gain)

    @classmethod
    def load(cls, path=None, *, device="cpu"):
        gain, _, rate = Path(path).read_text().partition(" ")
        return cls(float(gain), int(rate or 8000))

    @property
    def denoiser(self):
        return self.net

    def generate(self, texts, seeds, settings=None):
        gain = float(self.net.weight.item())
        return [clip * np.float32(gain) for clip in super().generate(texts, seeds, settings)]


@pytest.fixture
def tones(monkeypatch, tone_backend):
    monkeypatch.setitem(BACKENDS, "tone2", "tests.generation.fake_backend:ToneBackend")
    monkeypatch.setitem(BACKENDS, "file-tone", "tests.generation.test_rerun_settings:FileToneBackend")
    return tone_backend


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    write_records(
        path, [PromptRecord(id="a", text="a beep, then a knock"), PromptRecord(id="b", text="rain falls")]
    )
    return path


def settings(prompts, out, **changes) -> GenerateConfig:
    base = {"prompts": prompts, "out": out, "backend": "tone", "per_prompt": 2, "progress": False}
    return GenerateConfig(**{**base, **changes})


def folder_state(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_settings_resume_and_more_clips_per_prompt_are_added(tmp_path, prompts_file, tones):
    out = tmp_path / "gen"
    first = run(settings(prompts_file, out, steps=4, guidance_scale=2.0, model="m"))
    tones.calls = []
    assert run(settings(prompts_file, out, steps=4, guidance_scale=2.0, model="m")) == first
    assert tones.calls == []
    more = run(settings(prompts_file, out, steps=4, guidance_scale=2.0, model="m", per_prompt=3))
    assert [s.id for s in more] == ["a-0", "a-1", "b-0", "b-1", "a-2", "b-2"]
    assert more[:4] == first and len(tones.calls) == 1
    # A setting left to the backend's default resumes clips made with that default given explicitly.
    again = run(settings(prompts_file, out, steps=None, guidance_scale=None, model="m", per_prompt=3))
    assert again == more
    assert {s.settings["seed"] for s in more} == {0}


@pytest.mark.parametrize(
    ("change", "field", "named"),
    [
        ({"model": "other-model"}, "model", "'other-model'"),
        ({"backend": "tone2"}, "backend", "'tone2'"),
        ({"seed": 1}, "seed", "seed 0 (asked: 1)"),
        ({"steps": 7}, "steps", "steps 3 (asked: 7)"),
        ({"guidance_scale": 2.5}, "guidance_scale", "guidance_scale 1.0 (asked: 2.5)"),
        ({"duration": 0.5}, "duration", "duration 0.25 (asked: 0.5)"),
        ({"audio_format": "flac"}, "audio_format", "audio_format 'wav' (asked: 'flac')"),
    ],
)
@pytest.mark.parametrize("per_prompt", [2, 3])
def test_other_settings_are_refused_and_nothing_is_lost(
    tmp_path, prompts_file, tones, change, field, named, per_prompt
):
    out = tmp_path / "gen"
    first = run(settings(prompts_file, out, steps=3, guidance_scale=1.0, duration=0.25))
    before = folder_state(out)
    tones.calls = []
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out, per_prompt=per_prompt, **change))
    assert error.value.path == str(out) and error.value.field == field
    assert "other settings" in str(error.value) and named in str(error.value)
    assert tones.calls == []
    assert folder_state(out) == before
    assert read_records(out / "samples.jsonl", SampleRecord) == first


def test_every_differing_setting_is_named(tmp_path, prompts_file, tones):
    out = tmp_path / "gen"
    run(settings(prompts_file, out))
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out, seed=5, steps=9, model="x"))
    message = str(error.value)
    assert all(name in message for name in ("model", "seed", "steps"))


def test_a_backend_default_other_than_the_recorded_setting_is_refused(tmp_path, prompts_file, tones):
    out = tmp_path / "gen"
    run(settings(prompts_file, out, steps=5))  # the tone backend's default is 3
    before = folder_state(out)
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out, per_prompt=3))
    assert error.value.field == "steps" and "steps 5 (this run: 3" in str(error.value)
    assert folder_state(out) == before


def test_a_model_rewritten_at_the_same_path_is_refused(tmp_path, prompts_file, tones):
    out, model = tmp_path / "gen", tmp_path / "model.txt"
    model.write_text("1.0")
    first = run(settings(prompts_file, out, backend="file-tone", model=str(model)))
    assert first[0].settings["fingerprint"]
    # Another spelling of the same model file resumes.
    spelled = os.path.relpath(model) if model.is_absolute() else str(model)
    assert run(settings(prompts_file, out, backend="file-tone", model=spelled)) == first

    model.write_text("0.5")  # fine-tuned or rebuilt in place
    before = folder_state(out)
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out, backend="file-tone", model=str(model), per_prompt=3))
    assert error.value.field == "model" and "fingerprint" in str(error.value)
    assert folder_state(out) == before

    model.write_text("1.0 16000")  # the same weights at another sample rate
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out, backend="file-tone", model=str(model), per_prompt=3))
    assert error.value.field == "sample_rate"
    assert folder_state(out) == before


def test_a_relative_model_path_resumes_from_another_working_folder(
    tmp_path, prompts_file, tones, monkeypatch
):
    """A clip's record names a local model folder absolutely (a hub id as it is): the same model named
    from another working folder, through another relative path, resumes the run."""
    (tmp_path / "model.txt").write_text("1.0")
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = run(settings(prompts_file, Path("../gen"), backend="file-tone", model="../model.txt"))
    assert first[0].settings["model"] == str((tmp_path / "model.txt").resolve())
    monkeypatch.chdir(tmp_path)
    tones.calls = []
    assert run(settings(prompts_file, Path("gen"), backend="file-tone", model="model.txt")) == first
    assert tones.calls == []  # nothing made again
    assert run(settings(prompts_file, tmp_path / "hub", model="org/some-model"))[0].settings["model"] == (
        "org/some-model"
    )


def test_a_prompt_whose_text_changed_is_refused(tmp_path, prompts_file, tones):
    out = tmp_path / "gen"
    run(settings(prompts_file, out))
    write_records(
        prompts_file, [PromptRecord(id="a", text="a bell"), PromptRecord(id="b", text="rain falls")]
    )
    with pytest.raises(InputError) as error:
        run(settings(prompts_file, out))
    assert error.value.field == "prompts" and "'a'" in str(error.value)


def test_clips_of_other_prompts_are_kept(tmp_path, prompts_file, tones):
    out = tmp_path / "gen"
    run(settings(prompts_file, out))
    other = tmp_path / "other.jsonl"
    write_records(other, [PromptRecord(id="c", text="a siren")])
    samples = run(settings(other, out))
    assert [s.id for s in samples] == ["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]


def test_command_line_refuses_other_settings(tmp_path, prompts_file, tones, capsys):
    from baton.cli import main

    out = tmp_path / "gen"
    common = ["generate", "--prompts", str(prompts_file), "--out", str(out), "--backend", "tone",
              "--per-prompt", "1", "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(common)
    assert exit_.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*common, "--seed", "3"])
    assert exit_.value.code == 1  # the folder holds clips of other settings: bad input
    err = capsys.readouterr().err
    assert str(out) in err.replace("\n", "") and "seed" in err and "Traceback" not in err
    assert len(read_records(out / "samples.jsonl", SampleRecord)) == 2
