import json
import math

import numpy as np
import pytest

from baton.artifacts import MetricRecord, PromptRecord, SampleRecord, read_records, write_records
from baton.backends import BACKENDS
from baton.cli import main
from baton.errors import InputError
from baton.evaluation.config import EvaluateConfig
from baton.evaluation.records import JudgementRecord
from baton.evaluation.run import parse_model_spec, parse_models, run
from baton.evaluation.scorers import Scorers, WorldClapEmbedder, WorldDetectorScorer, world_scorers
from baton.stats import group_means
from tests.generation.fake_backend import ToneBackend

from .backends import LoudnessReward

MEAN_ABS_SINE = 2 / math.pi  # mean |sin| over whole periods


@pytest.fixture
def tones(monkeypatch):
    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")
    monkeypatch.setitem(BACKENDS, "loudtone", "tests.evaluation.backends:LoudToneBackend")
    ToneBackend.calls = []
    return ToneBackend


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """A world folder with an untrained evaluator detector and CLAP: real code paths, no training."""
    from baton.world.clap import WorldClap, clap_config, world_texts
    from baton.world.detectors import EventDetector, evaluator_config
    from baton.world.model import WordTokenizer

    folder = tmp_path_factory.mktemp("tiny-world")
    EventDetector(evaluator_config(0, quick=True)).save(folder / "evaluator")
    WorldClap(clap_config(0, quick=True), WordTokenizer.build(world_texts())).save(folder / "clap")
    return folder


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "test.jsonl"
    write_records(
        path,
        [
            PromptRecord(
                id="i0",
                text="A beep, then a knock.",
                events=["beep", "knock"],
                task="integrity",
                relation="sequence",
            ),
            PromptRecord(
                id="i1",
                text="A hum with rain behind it.",
                events=["hum", "rain"],
                task="integrity",
                relation="overlap",
            ),
            PromptRecord(
                id="t0",
                text="A chirp, then a bell, then clicks.",
                events=["chirp", "bell", "click_train"],
                task="temporal",
                relation="sequence",
            ),
            PromptRecord(
                id="t1",
                text="A siren, then a whistle.",
                events=["siren", "whistle"],
                task="temporal",
                relation="sequence",
            ),
        ],
    )
    return path


def scorers_of(world) -> Scorers:
    scorers = world_scorers(world)
    scorers.reward = LoudnessReward()
    return scorers


def config(prompts, out, models, **overrides) -> EvaluateConfig:
    settings = dict(
        models=models,
        prompts=prompts,
        out=out,
        per_prompt=2,
        reference="real",
        progress=False,
        set_resamples=40,
    )
    settings.update(overrides)
    return EvaluateConfig(**settings)


def test_models_side_by_side(tmp_path, tones, tiny_world, prompts_file):
    out = tmp_path / "eval"
    summary = run(
        config(prompts_file, out, ["base=tone", "copy=tone", "loud=loudtone"]), scorers_of(tiny_world)
    )

    assert summary["order"] == ["base", "copy", "loud", "reference"]
    assert [summary["models"][m]["role"] for m in summary["order"]] == ["base", "tuned", "tuned", "reference"]
    base = summary["metrics"]["base"]
    assert set(base["accuracy"]) == {"integrity", "temporal", "all"} and set(base["presence"]) == {"temporal"}
    for metric in ("clap_score", "reward", "kl_softmax", "kl_sigmoid", "fad", "inception_score"):
        assert metric in base, metric
    assert base["accuracy"]["all"]["n"] == 8 and base["accuracy"]["all"]["prompts"] == 4

    # The same model twice: every paired difference is exactly zero.
    for metric, tasks in summary["differences"]["copy"].items():
        for task, diff in tasks.items():
            assert (diff["value"], diff["ci_low"], diff["ci_high"]) == (0.0, 0.0, 0.0), (metric, task)
            assert diff["excludes_zero"] is False

    # Reward = mean |sample|: 0.5 * 2/pi for the tones, 0.75 * 2/pi for the louder ones.
    assert base["reward"]["all"]["value"] == pytest.approx(0.5 * MEAN_ABS_SINE, abs=0.01)
    gain = summary["differences"]["loud"]["reward"]["all"]
    assert gain["value"] == pytest.approx(0.25 * MEAN_ABS_SINE, abs=0.01)
    assert gain["excludes_zero"] and gain["ci_low"] > 0

    # The reference row: real clips judged like a model, FAD's floor, no KL against itself.
    reference = summary["metrics"]["reference"]
    assert {"accuracy", "clap_score", "fad", "inception_score"} <= set(reference)
    assert "kl_softmax" not in reference
    assert summary["reference"] == {
        "kind": "world",
        "source": "world synthesizer renders",
        "clips": 8,
        "paired": 8,
    }


def test_files_agree_with_each_other(tmp_path, tones, tiny_world, prompts_file):
    out = tmp_path / "eval"
    summary = run(config(prompts_file, out, ["base=tone", "loud=loudtone"]), scorers_of(tiny_world))

    records = read_records(out / "metrics.jsonl", MetricRecord)
    assert {r.id for r in records} == {
        f"{m}/{metric}/{task}"
        for m, metrics in summary["metrics"].items()
        for metric, tasks in metrics.items()
        for task in tasks
    }
    for r in records:
        figure = summary["metrics"][r.model][r.metric][r.task]
        assert (r.value, r.ci_low, r.ci_high, r.n) == (
            figure["value"],
            figure["ci_low"],
            figure["ci_high"],
            figure["n"],
        )
    assert json.loads((out / "metrics.json").read_text())["base"] == "base"

    base = read_records(out / "base" / "judgements.jsonl", JudgementRecord)
    loud = read_records(out / "loud" / "judgements.jsonl", JudgementRecord)
    samples = read_records(out / "base" / "samples.jsonl", SampleRecord)
    assert [j.sample_id for j in base] == [s.id for s in samples] == [j.sample_id for j in loud]
    assert [j.seed for j in base] == [j.seed for j in loud] == [s.seed for s in samples]
    assert all(j.reference_id == j.sample_id for j in base)
    assert all(isinstance(j.correct, bool) and isinstance(j.kl_softmax, float) for j in base)
    assert all((out / "base" / j.path).is_file() for j in base)

    # accuracy = mean over prompts of each prompt's share of right clips, recomputed from the file.
    temporal = [j for j in base if j.task == "temporal"]
    means = group_means(np.array([float(j.correct) for j in temporal]), [j.prompt_id for j in temporal])
    assert summary["metrics"]["base"]["accuracy"]["temporal"]["value"] == pytest.approx(
        np.mean(list(means.values()))
    )
    kl = [j.kl_softmax for j in base]
    assert summary["metrics"]["base"]["kl_softmax"]["all"]["value"] == pytest.approx(np.mean(kl))

    real = read_records(out / "reference" / "samples.jsonl", SampleRecord)
    assert len(real) == 8 and all((out / "reference" / r.path).suffix == ".flac" for r in real)
    assert [r.seed for r in real] == [s.seed for s in samples]


def test_rerun_uses_the_cached_clips(tmp_path, tones, tiny_world, prompts_file):
    settings = config(prompts_file, tmp_path / "eval", ["base=tone", "loud=loudtone"])
    first = run(settings, scorers_of(tiny_world))
    assert len(ToneBackend.calls) > 0
    ToneBackend.calls = []
    second = run(settings, scorers_of(tiny_world))
    assert ToneBackend.calls == []
    assert second["metrics"] == first["metrics"] and second["differences"] == first["differences"]


def test_clips_of_another_model_are_not_reused(tmp_path, tones, tiny_world, prompts_file):
    out = tmp_path / "eval"
    run(config(prompts_file, out, ["base=tone"]), scorers_of(tiny_world))
    with pytest.raises(InputError, match="other settings.*model") as error:
        run(config(prompts_file, out, ["base=tone:elsewhere"]), scorers_of(tiny_world))
    assert error.value.path == str(out / "base" / "samples.jsonl")


def test_clips_of_another_seed_are_not_reused(tmp_path, tones, tiny_world, prompts_file):
    out = tmp_path / "eval"
    run(config(prompts_file, out, ["base=tone"]), scorers_of(tiny_world))
    with pytest.raises(InputError, match="other settings.*seed") as error:
        run(config(prompts_file, out, ["base=tone"], seed=1), scorers_of(tiny_world))
    assert error.value.path == str(out / "base" / "samples.jsonl")


def test_command_line_with_a_world_folder_and_an_audio_folder_reference(
    tmp_path, tones, tiny_world, prompts_file
):
    from baton.audio import save_audio

    real = tmp_path / "real"
    t = np.arange(4000) / 16000
    for i, prompt_id in enumerate(["i0", "i1", "t0", "t1"]):  # named by prompt: pairs with its clips
        save_audio(
            real / f"{prompt_id}.wav",
            (0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype(np.float32),
            16000,
        )
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exit_:
        main(
            ["evaluate", "--model", "base=tone", "--model", "loud=loudtone", "--prompts", str(prompts_file),
             "--out", str(out), "--per-prompt", "1", "--world", str(tiny_world), "--reference", str(real), "--no-progress"]
        )  # fmt: skip
    assert exit_.value.code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["reference"]["kind"] == "folder" and summary["reference"]["paired"] == 4
    assert "kl_softmax" in summary["metrics"]["base"] and "fad" in summary["metrics"]["base"]
    assert "reward" not in summary["metrics"]["base"]
    assert any("reward" in note for note in summary["notes"])
    assert "reference" not in summary["order"]  # clips without prompts are not judged


def test_no_reference_leaves_out_fad_and_kl(tmp_path, tones, tiny_world, prompts_file):
    summary = run(
        config(prompts_file, tmp_path / "eval", ["base=tone"], reference="none"), scorers_of(tiny_world)
    )
    assert not {"fad", "kl_softmax", "kl_sigmoid"} & set(summary["metrics"]["base"])
    assert {"accuracy", "clap_score", "reward", "inception_score"} <= set(summary["metrics"]["base"])
    assert any("no reference" in note for note in summary["notes"])


def test_world_scorers_read_a_world_folder(tiny_world):
    scorers = world_scorers(tiny_world)
    assert isinstance(scorers.classifier, WorldDetectorScorer) and scorers.events is scorers.classifier
    assert isinstance(scorers.embedder, WorldClapEmbedder)
    clip = np.zeros(8000, dtype=np.float32)
    assert scorers.classifier.clip_logits([clip, clip], 16000).shape == (2, 12)
    assert scorers.embedder.embed_audio([clip], 16000).shape == (1, 32)
    assert world_scorers(tiny_world / "nothing-here").empty()


def test_model_specs():
    spec = parse_model_spec("baton=world:runs/x/model")
    assert (spec.name, spec.backend, spec.path) == ("baton", "world", "runs/x/model")
    assert parse_model_spec("base=tango").path is None
    for bad, message in (
        ("world", "NAME=BACKEND"),
        ("a b=world", "must be letters"),
        ("reference=world", "kept for the reference"),
    ):
        with pytest.raises(InputError, match=message):
            parse_model_spec(bad)
    with pytest.raises(InputError, match="given twice"):
        parse_models(["a=world", "a=tango"])
    with pytest.raises(InputError, match="at least one model"):
        parse_models([])


def test_a_samples_file_as_reference_pairs_by_sample_id(tmp_path, tones, tiny_world, prompts_file):
    first = run(config(prompts_file, tmp_path / "a", ["base=tone"]), scorers_of(tiny_world))
    # The real clips the first run rendered, given back as a samples file: the same pairs, the same KL.
    second = run(
        config(
            prompts_file,
            tmp_path / "b",
            ["base=tone"],
            reference=str(tmp_path / "a" / "reference" / "samples.jsonl"),
        ),
        scorers_of(tiny_world),
    )
    assert second["reference"]["kind"] == "samples" and second["reference"]["paired"] == 8
    for metric in ("kl_softmax", "kl_sigmoid", "fad"):
        assert second["metrics"]["base"][metric] == first["metrics"]["base"][metric], metric
    assert second["metrics"]["reference"]["accuracy"] == first["metrics"]["reference"]["accuracy"]
    assert "fad" not in second["metrics"]["reference"]  # the floor needs the world's second set


def test_a_relative_out_plays_every_clip_in_the_report_from_any_working_folder(
    tmp_path, tones, tiny_world, prompts_file, monkeypatch
):
    """A judgements file names its clips from its own folder, never from the folder `baton evaluate`
    ran in: with a relative --out, the report (from that folder or another) once found no clip."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(SystemExit) as exit_:
        main(
            ["evaluate", "--model", "base=tone", "--model", "loud=loudtone", "--prompts", str(prompts_file),
             "--out", "runs/eval", "--per-prompt", "1", "--world", str(tiny_world), "--reference", "real",
             "--no-progress"]
        )  # fmt: skip
    assert exit_.value.code == 0
    out = elsewhere / "runs" / "eval"
    for model in ("base", "loud", "reference"):
        judged = read_records(out / model / "judgements.jsonl", JudgementRecord)
        assert [j.path for j in judged] == [
            f"audio/{j.sample_id}.{'flac' if model == 'reference' else 'wav'}" for j in judged
        ]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["settings"]["out"] == str(out) and summary["prompts"]["file"] == str(prompts_file)

    # 2 matched examples per task (all 4 prompts), each heard from base, loud and the reference.
    for cwd, run_folder in ((elsewhere, "runs/eval"), (tmp_path, "elsewhere/runs/eval")):
        monkeypatch.chdir(cwd)
        with pytest.raises(SystemExit) as exit_:
            main(["report", "--run", run_folder, "--examples", "2"])
        assert exit_.value.code == 0
        page = (out / "report.html").read_text()
        assert page.count('<tr class="example-row">') == 4
        assert "audio missing" not in page and page.count("<audio controls") == 4 * 3


def _evaluate(args, capsys):
    """`baton evaluate ARGS` as the command line runs it: (exit code, stderr on one line)."""
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *args, "--no-progress"])
    return exit_.value.code, " ".join(capsys.readouterr().err.split())


def test_a_run_that_cannot_be_judged_stops_before_any_clip_is_made(
    tmp_path, tones, tiny_world, prompts_file, monkeypatch, capsys
):
    monkeypatch.setenv("BATON_CACHE", str(tmp_path / "empty-cache"))  # no cached world to judge with
    out = tmp_path / "eval"
    common = ["--model", "base=tone", "--model", "tuned=loudtone", "--prompts", str(prompts_file),
              "--out", str(out), "--per-prompt", "1"]  # fmt: skip
    code, err = _evaluate(common, capsys)
    assert code == 1 and "nothing to judge the clips with" in err
    assert tones.calls == [] and not list(out.rglob("samples.jsonl"))
    # Each of these is found before the first model makes a clip, too.
    code, err = _evaluate(
        [*common, "--world", str(tiny_world), "--reward-model", str(tmp_path / "none")], capsys
    )
    assert code == 1 and "no such reward model folder" in err
    code, err = _evaluate(
        [*common, "--world", str(tiny_world), "--reference", str(tmp_path / "none")], capsys
    )
    assert code == 1 and "no such reference file or folder" in err
    code, err = _evaluate(
        ["--model", "base=tone", "--model", "tuned=world:" + str(tmp_path / "no-model"), *common[4:],
         "--world", str(tiny_world), "--reference", "none"],
        capsys,
    )  # fmt: skip
    assert code == 1 and "no world T2A model here" in err and "field 'models'" in err
    code, err = _evaluate(
        ["--model", "base=tone", "--model", "tuned=nope", *common[4:], "--world", str(tiny_world)], capsys
    )
    assert code == 2 and "unknown backend 'nope'" in err
    assert tones.calls == [] and not list(out.rglob("samples.jsonl"))
    assert "Traceback" not in err


@pytest.mark.parametrize("device", ["cuda", "potato"])
def test_a_device_this_machine_lacks_stops_the_run_at_once(
    tmp_path, tones, tiny_world, prompts_file, capsys, device
):
    out = tmp_path / "eval"
    code, err = _evaluate(
        ["--model", "base=tone", "--prompts", str(prompts_file), "--out", str(out), "--world", str(tiny_world),
         "--device", device],
        capsys,
    )  # fmt: skip
    assert code == 2 and "field 'device'" in err and "this machine has cpu" in err
    assert "Traceback" not in err
    assert tones.calls == [] and not out.exists()


def test_one_clip_is_counted_as_one_clip(tmp_path, tones, tiny_world, prompts_file, capsys):
    one = tmp_path / "one.jsonl"
    write_records(one, read_records(prompts_file, PromptRecord)[:1])
    code, err = _evaluate(
        ["--model", "base=tone", "--prompts", str(one), "--out", str(tmp_path / "eval"), "--per-prompt", "1",
         "--world", str(tiny_world), "--reference", "none"],
        capsys,
    )  # fmt: skip
    assert code == 0 and "base: 1 clip from tone" in err


def test_the_table_stars_only_a_difference_whose_interval_excludes_zero_as_printed():
    from rich.console import Console

    from baton.evaluation.cli import summary_table

    def summary(low, high):
        figure = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 4}
        # excludes_zero as an older baton wrote it for float noise: the table judges the interval.
        diff = {"value": (low + high) / 2, "ci_low": low, "ci_high": high, "n": 4, "excludes_zero": True}
        return {"base": "base", "order": ["base", "tuned"],
                "metrics": {"base": {"accuracy": {"all": figure}}, "tuned": {"accuracy": {"all": figure}}},
                "differences": {"tuned": {"accuracy": {"all": diff}}}}  # fmt: skip

    def text(low, high):
        console = Console(width=200, record=True)
        console.print(summary_table(summary(low, high)))
        return console.export_text()

    assert "-0.000 [-0.000, -0.000]" in text(-2e-17, -1e-18)
    assert "*" not in text(-2e-17, -1e-18).split("excludes 0")[1]
    assert "+0.000 [+0.000, +0.000]" in text(0.0, 0.0) and "*" not in text(0.0, 0.0).split("excludes 0")[1]
    assert "+0.100* [+0.050, +0.150]" in text(0.05, 0.15)


def test_a_tuned_models_card_gets_the_figures_and_the_judges(tmp_path, tones, tiny_world, prompts_file):
    from baton.config import config_to_dict
    from baton.finetune import FinetuneConfig
    from baton.finetune.card import EVALUATION_BEGIN, write_model_card

    # A folder as baton finetune leaves it (finetune.json beside model/, the card in it), and a user's edit.
    tuned = tmp_path / "ft" / "model"
    tuned.mkdir(parents=True)
    settings = FinetuneConfig(
        method="dpo", backend="loudtone", labels=tmp_path / "l.jsonl", out=tmp_path / "ft"
    )
    run_file = {"format": "baton-finetune", "status": "done", "processes": 1, "baton": "0.1.0",
                "config": config_to_dict(settings, absolute_paths=True), "model": {"select": "last", "step": 100},
                "data": {"feedback": {"human": 8, "reward": 0}, "reward_model": None, "pairs": {"train": 3, "val": 1}}}  # fmt: skip
    (tmp_path / "ft" / "finetune.json").write_text(json.dumps(run_file))
    write_model_card(tuned, run_file)
    (tuned / "README.md").write_text((tuned / "README.md").read_text() + "\nNotes of my own.\n")
    other = tmp_path / "other"  # any other folder is left alone
    other.mkdir()

    models = ["base=tone:" + str(other), f"loud=loudtone:{tuned}"]
    run(config(prompts_file, tmp_path / "eval", models), scorers_of(tiny_world))
    card = (tuned / "README.md").read_text()
    assert "Notes of my own." in card and "| DPO beta | 2000 |" in card
    section = card[card.index(EVALUATION_BEGIN) :]
    assert "Judged by `baton evaluate` as `loud`, against the base model `base`" in section
    for judge in ("world evaluator detector", "loudness"):
        assert judge in section.lower(), judge
    digest = json.loads((tmp_path / "eval" / "metrics.json").read_text())["judges"]["events"][
        "weights_sha256"
    ]
    assert f"world evaluator detector (weights sha256 {digest[:12]})" in section
    assert str((tmp_path / "eval" / "metrics.json").resolve()) in section
    # the reward gain (1.5 times louder tones) is a difference whose interval excludes zero
    assert any(line.startswith("| reward (higher is better) | all |") and "**better**" in line
               for line in section.splitlines())  # fmt: skip
    assert not list(other.iterdir())

    # A second evaluation replaces the section rather than adding one.
    run(config(prompts_file, tmp_path / "eval2", models, per_prompt=1), scorers_of(tiny_world))
    card = (tuned / "README.md").read_text()
    assert card.count(EVALUATION_BEGIN) == 1 and "eval2" in card and "Notes of my own." in card


def test_compare_to_gives_every_models_paired_difference_from_another(
    tmp_path, tones, tiny_world, prompts_file, capsys
):
    out = tmp_path / "eval"
    models = ["base=tone", "control=tone", "loud=loudtone"]
    summary = run(config(prompts_file, out, models, compare_to=["loud"]), scorers_of(tiny_world))
    from_loud = summary["differences_from"]["loud"]
    assert set(from_loud) == {"base", "control"}
    # The base is as far below the louder tones as they are above it (the difference from the base).
    above = summary["differences"]["loud"]["reward"]["all"]["value"]
    assert from_loud["base"]["reward"]["all"]["value"] == pytest.approx(-above)
    assert from_loud["control"]["reward"]["all"]["ci_high"] < 0
    assert (
        json.loads((out / "metrics.json").read_text())["differences_from"]["loud"]["base"]
        == from_loud["base"]
    )
    # The command line refuses a name that is not one of the models, before any work.
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *[f"--model={m}" for m in models], "--prompts", str(prompts_file), "--out", str(out),
              "--compare-to", "nobody", "--per-prompt", "2"])  # fmt: skip
    assert exit_.value.code != 0
    assert "compare_to" in capsys.readouterr().err
