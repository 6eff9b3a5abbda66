import numpy as np
import pytest
import soundfile as sf

from baton.artifacts import PromptRecord, SampleRecord, read_records, write_records
from baton.errors import InputError
from baton.generation.run import GenerateConfig, clip_seed, plan_clips, run


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    write_records(
        path,
        [
            PromptRecord(id="a", text="a beep, then a knock", events=["beep", "knock"], task="integrity"),
            PromptRecord(id="b", text="a hum while rain falls", events=["hum", "rain"], task="integrity"),
            PromptRecord(
                id="c",
                text="first a chirp, then a bell, and finally a click",
                events=["chirp", "bell", "click"],
                task="temporal",
            ),
        ],
    )
    return path


def test_clip_seed_is_stable_and_distinct():
    assert clip_seed(0, "a", 0) == clip_seed(0, "a", 0)
    seeds = {clip_seed(s, p, k) for s in (0, 1) for p in ("a", "b") for k in range(5)}
    assert len(seeds) == 20
    assert all(0 <= s < 2**31 for s in seeds)


def test_generate_writes_audio_and_samples(tmp_path, prompts_file, tone_backend):
    config = GenerateConfig(
        prompts=prompts_file, out=tmp_path / "gen", backend="tone", per_prompt=2, batch_size=4, progress=False
    )
    samples = run(config)
    assert [s.id for s in samples] == ["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]
    first = samples[0]
    assert (first.prompt_id, first.index, first.task, first.events) == (
        "a",
        0,
        "integrity",
        ["beep", "knock"],
    )
    assert first.seed == clip_seed(0, "a", 0) and first.backend == "tone"
    assert first.sample_rate == 8000 and first.duration == pytest.approx(0.25)
    audio, sr = sf.read(tmp_path / "gen" / first.path)
    assert sr == 8000 and audio.shape == (2000,)
    assert [len(c) for c in tone_backend.calls] == [4, 2]


def test_rerun_skips_finished_clips_and_resumes_missing_ones(tmp_path, prompts_file, tone_backend):
    config = GenerateConfig(
        prompts=prompts_file, out=tmp_path / "gen", backend="tone", per_prompt=2, batch_size=4, progress=False
    )
    full = run(config)
    tone_backend.calls = []
    assert run(config) == full
    assert tone_backend.calls == []

    # Simulate a run killed after three clips: the last line torn in half.
    samples_path = tmp_path / "gen" / "samples.jsonl"
    lines = samples_path.read_text().splitlines(keepends=True)
    samples_path.write_text("".join(lines[:3]) + lines[3][:15])
    resumed = run(config)
    assert [s.id for s in resumed] == [s.id for s in full]
    assert sorted(tone_backend.calls[0]) == sorted(s.seed for s in full[3:])


def test_clip_does_not_depend_on_batching(tmp_path, prompts_file, tone_backend):
    one = run(
        GenerateConfig(
            prompts=prompts_file,
            out=tmp_path / "one",
            backend="tone",
            per_prompt=2,
            batch_size=1,
            progress=False,
        )
    )
    many = run(
        GenerateConfig(
            prompts=prompts_file,
            out=tmp_path / "many",
            backend="tone",
            per_prompt=2,
            batch_size=5,
            progress=False,
        )
    )
    for a, b in zip(one, many, strict=True):
        assert np.array_equal(sf.read(tmp_path / "one" / a.path)[0], sf.read(tmp_path / "many" / b.path)[0])


def test_plan_covers_every_clip_once():
    prompts = [PromptRecord(id=str(i), text="t") for i in range(4)]
    jobs = plan_clips(prompts, 3, 7)
    assert len({j.sample_id for j in jobs}) == 12


def test_bad_input(tmp_path, prompts_file, tone_backend):
    with pytest.raises(InputError, match="no such prompt file"):
        run(GenerateConfig(prompts=tmp_path / "missing.jsonl", out=tmp_path / "o", backend="tone"))
    with pytest.raises(InputError, match="unknown backend 'nope'"):
        run(GenerateConfig(prompts=prompts_file, out=tmp_path / "o", backend="nope"))
    with pytest.raises(InputError) as err:
        run(GenerateConfig(prompts=prompts_file, out=tmp_path / "o", backend="tone", per_prompt=0))
    assert err.value.field == "per_prompt"


def test_cli_reports_missing_prompts_without_traceback(tmp_path, capsys):
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--prompts", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "none.jsonl" in err and "Traceback" not in err


def test_samples_file_validates(tmp_path, prompts_file, tone_backend):
    run(
        GenerateConfig(
            prompts=prompts_file, out=tmp_path / "gen", backend="tone", per_prompt=1, progress=False
        )
    )
    assert len(read_records(tmp_path / "gen" / "samples.jsonl", SampleRecord)) == 3


@pytest.mark.parametrize(
    ("device", "says"), [("cuda", "torch finds no cuda device"), ("potato", "not a device")]
)
def test_cli_refuses_a_device_this_machine_lacks_before_any_work(
    tmp_path, prompts_file, tone_backend, capsys, device, says
):
    from baton.cli import main

    out = tmp_path / "gen"
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--prompts", str(prompts_file), "--out", str(out), "--backend", "tone",
              "--device", device, "--no-progress"])  # fmt: skip
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "field 'device'" in err and says in err and "this machine has cpu" in err
    assert "Traceback" not in err
    assert tone_backend.calls == [] and not (out / "samples.jsonl").exists()


def test_cli_counts_one_clip_as_one_clip(tmp_path, tone_backend, capsys):
    from baton.cli import main

    prompts = tmp_path / "one.jsonl"
    write_records(prompts, [PromptRecord(id="a", text="a beep", events=["beep"], task="integrity")])
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--prompts", str(prompts), "--out", str(tmp_path / "gen"), "--backend", "tone",
              "--per-prompt", "1", "--no-progress"])  # fmt: skip
    assert exit_.value.code in (0, None)
    assert "1 clip in" in " ".join(capsys.readouterr().err.split())


def test_ctrl_c_says_how_far_the_run_got_and_a_rerun_goes_on(
    tmp_path, prompts_file, tone_backend, monkeypatch, capsys
):
    from baton.cli import main

    def interrupted_on_the_third_batch(self, texts, seeds, settings=None):
        if len(tone_backend.calls) == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a batch
        return real_generate(self, texts, seeds, settings)

    real_generate = tone_backend.generate
    monkeypatch.setattr(tone_backend, "generate", interrupted_on_the_third_batch)
    command = ["generate", "--prompts", str(prompts_file), "--out", str(tmp_path / "gen"), "--backend", "tone",
               "--per-prompt", "2", "--batch-size", "2", "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 130
    said = " ".join(capsys.readouterr().err.split())
    assert said == "interrupted after 4 of 6 clips; rerun the same command to go on"

    monkeypatch.setattr(tone_backend, "generate", real_generate)
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 0
    assert [s.id for s in read_records(tmp_path / "gen" / "samples.jsonl", SampleRecord)] == [
        "a-0", "a-1", "b-0", "b-1", "c-0", "c-1"
    ]  # fmt: skip
    assert tone_backend.calls[-1] == [clip_seed(0, "c", 0), clip_seed(0, "c", 1)]  # only the clips missing
