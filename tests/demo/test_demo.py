"""The whole loop, end to end, on the quick world: every stage writes what the next one reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from baton.artifacts import LabelRecord, PromptRecord, RewardRecord, SampleRecord, read_records
from baton.demo.run import DemoConfig, run, share_prompts
from baton.errors import InputError


def _prompt(i: int, task: str) -> PromptRecord:
    return PromptRecord(id=f"{task}-{i}", text=f"prompt {i}", events=["a", "b"], task=task)


def test_share_prompts_splits_each_task_and_keeps_both_sides():
    prompts = [_prompt(i, "integrity") for i in range(4)] + [_prompt(i, "temporal") for i in range(2)]
    first, rest = share_prompts(prompts, 0.5)
    assert [p.id for p in first] == ["integrity-0", "integrity-1", "temporal-0"]
    assert [p.id for p in rest] == ["integrity-2", "integrity-3", "temporal-1"]
    # A share that would take every prompt still leaves one for the other side.
    first, rest = share_prompts(prompts, 0.99)
    assert len(rest) == 2 and len(first) == 4


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="unknown method"):
        DemoConfig(methods=["ppo"])
    with pytest.raises(InputError, match="between 0 and 1"):
        DemoConfig(human_share=1.0)
    with pytest.raises(InputError, match="field 'reward_folds': must be at least 2"):
        DemoConfig(reward_folds=1)
    with pytest.raises(InputError, match="field 'jobs': must be at least 1"):
        DemoConfig(jobs=0)
    assert DemoConfig(jobs=3).parallel_jobs == 3


def test_methods_are_repeated_or_comma_separated(monkeypatch, tmp_path: Path):
    import baton.demo.run
    from baton.cli import main

    seen = []
    monkeypatch.setattr(baton.demo.run, "run", seen.append)
    for argv in (["--method", "baton, dpo", "--methods", "sft"], []):
        with pytest.raises(SystemExit) as exit_:
            main(["demo", "--out", str(tmp_path), *argv])
        assert exit_.value.code == 0
    assert seen[0].methods == ["baton", "dpo", "sft"]
    assert seen[1].methods == DemoConfig().methods


def test_human_share_is_a_flag_as_the_active_help_says_and_a_bad_share_is_refused(
    monkeypatch, tmp_path: Path, capsys
):
    # --active's help sends people to --human-share: the flag must be there, and a bad share refused.
    import baton.demo.run
    from baton.cli import main

    seen = []
    monkeypatch.setattr(baton.demo.run, "run", seen.append)
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--out", str(tmp_path), "--active", "--human-share", "0.25"])
    assert exit_.value.code == 0
    assert seen[0].human_share == 0.25 and seen[0].active
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--out", str(tmp_path), "--human-share", "1.5"])
    assert exit_.value.code != 0
    assert "human_share" in capsys.readouterr().err


def _demo(out: str, cache: Path, methods: list[str]) -> dict:
    """`baton demo --quick --out OUT` as the command line runs it; its summary (run.json)."""
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--quick", "--out", out, "--cache", str(cache), "--method", ",".join(methods),
              "--no-progress"])  # fmt: skip
    assert exit_.value.code == 0
    return json.loads((Path(out) / "run.json").read_text())


def _plays_every_clip(page: str, players: int) -> None:
    """The report's matched examples play their clips: the judgements name them from their folder."""
    assert "audio missing" not in page and "no audio path" not in page
    assert page.count("<audio controls") == players > 0


def test_quick_demo_runs_every_stage_and_resumes(quick_world_cache: Path, tmp_path: Path, monkeypatch):
    # A relative --out, run from another working folder: every file names paths from its own folder.
    out = tmp_path / "run"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    methods = ["baton", "dpo", "sft", "control"]
    summary = _demo("../run", quick_world_cache, methods)

    assert set(summary["seconds"]) >= {
        "world",
        "prompts",
        "generate",
        "annotate",
        "reward",
        "finetune",
        "evaluate",
        "report",
    }
    train = read_records(out / "prompts" / "train.jsonl", PromptRecord)
    test = read_records(out / "prompts" / "test.jsonl", PromptRecord)
    assert {frozenset(p.events) for p in train}.isdisjoint({frozenset(p.events) for p in test})

    samples = read_records(out / "generated" / "samples.jsonl", SampleRecord)
    labels = read_records(out / "annotation" / "labels.jsonl", LabelRecord)
    rewards = read_records(out / "reward" / "rewards.jsonl", RewardRecord)
    # HD and RD are the train clips, split by prompt, neither empty nor overlapping.
    assert labels and rewards
    assert {r.sample_id for r in labels}.isdisjoint({r.sample_id for r in rewards})
    assert {r.prompt_id for r in labels}.isdisjoint({r.prompt_id for r in rewards})
    assert {r.sample_id for r in labels} | {r.sample_id for r in rewards} == {s.id for s in samples}
    assert all(len(r.votes) >= 1 for r in labels)
    assert all(0.0 <= r.probability <= 1.0 for r in rewards)
    # The reward model is judged out of fold on every HD clip, then trained on all of them.
    judged = json.loads((out / "reward" / "eval.json").read_text())
    assert judged["method"] == "cross-validation" and judged["folds"] >= 2
    assert judged["clips"] + judged["tied_clips_left_out"] == len(labels)
    predictions = (out / "reward" / judged["predictions"]).read_text().splitlines()
    assert sorted(json.loads(line)["sample_id"] for line in predictions) == sorted(
        r.sample_id for r in labels
    )
    assert json.loads((out / "reward" / "training.json").read_text())["clips"] == len(labels)

    # Every method trained: the quick demo's noisy annotators give clips of both labels.
    assert {label.label for label in labels} == {0, 1}
    assert summary["skipped"] == {}
    for method in ("baton", "dpo", "sft", "control"):
        log = out / "finetune" / method / "train_log.jsonl"
        assert json.loads(log.read_text().splitlines()[-1])["step"] >= 1, method
    # BATON ran with the demo's settings and trained every generated clip on the frames it was sampled as.
    baton_run = json.loads((out / "finetune" / "baton" / "finetune.json").read_text())
    demo_settings = DemoConfig()
    assert baton_run["config"]["beta"] == demo_settings.beta
    assert baton_run["config"]["reward_mode"] == demo_settings.reward_mode
    feedback = baton_run["data"]["feedback"]
    assert baton_run["data"]["targets"]["latent"] == feedback["human"] + feedback["reward"] > 0
    # and says which reward model labelled RD
    assert baton_run["data"]["reward_model"] == {
        "fingerprint": rewards[0].model_fingerprint,
        "names": ["reward"],
        "rows": len(rewards),
    }
    assert rewards[0].model_fingerprint

    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    tuned = methods
    assert {"base", *tuned} <= set(metrics["metrics"])
    page = (out / "report.html").read_text()
    for name in tuned:
        assert name in page
    assert list(summary["models"]) == ["base", *tuned, "reference"] and 'id="models"' in page
    assert summary["headline"]["accuracy"]["base"]
    # 3 matched examples per task (of 3 test prompts, 1 clip each), heard from every model and the reference
    _plays_every_clip(page, 2 * 3 * len(summary["models"]))
    assert summary["report"] == "report.html" and summary["settings"]["out"] == str(out)

    # A rerun, from another working folder through another relative path, finds every stage done
    # and changes none of their outputs.
    finished = [out / "finetune" / m / "finetune.json" for m in methods]
    before = {
        p: p.stat().st_mtime_ns
        for p in (out / "annotation" / "labels.jsonl", out / "reward" / "config.json", *finished)
    }
    monkeypatch.chdir(tmp_path)
    again = run(
        DemoConfig(quick=True, out=Path("run"), cache=quick_world_cache, progress=False, methods=methods)
    )
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert again["headline"] == summary["headline"] and again["skipped"] == {}
    _plays_every_clip((out / "report.html").read_text(), 2 * 3 * len(summary["models"]))

    # A copy of the run folder (to try other settings of a later stage) finds its fine-tunings done
    # too: their labels and rewards have other paths now, but the same bytes.
    shutil.copytree(out, tmp_path / "copy")
    finished = [tmp_path / "copy" / "finetune" / m / "model" / "model.safetensors" for m in methods]
    before = {p: p.stat().st_mtime_ns for p in finished}
    copied = run(
        DemoConfig(quick=True, out=Path("copy"), cache=quick_world_cache, progress=False, methods=methods)
    )
    assert copied["skipped"] == {} and copied["headline"] == summary["headline"]
    assert {p: p.stat().st_mtime_ns for p in finished} == before


def _all_zero_feedback(world: Path, folder: Path) -> tuple[Path, Path]:
    """labels.jsonl and rewards.jsonl over world clips, every clip labelled 0 (hard rewards all 0)."""
    from baton.artifacts import Vote, write_records
    from baton.audio import save_audio
    from baton.world.corpus import Corpus

    corpus = Corpus.load(world / "corpus" / "corpus")
    labels, rewards = [], []
    for n in range(8):
        path = f"audio/{n}.wav"
        save_audio(folder / path, corpus.audio[n], corpus.sample_rate)
        common = {"prompt_id": f"p{n // 2}", "text": corpus.captions[n // 2], "path": path}
        if n < 4:
            labels.append(
                LabelRecord.from_votes([Vote(annotator="a", value=0.0)], sample_id=f"h{n}", **common)
            )
        else:
            rewards.append(
                RewardRecord(
                    sample_id=f"r{n}",
                    score=-2.0,
                    probability=0.1,
                    model="reward",
                    model_fingerprint="f1",
                    **common,
                )
            )
    write_records(folder / "labels.jsonl", labels)
    write_records(folder / "rewards.jsonl", rewards)
    return folder / "labels.jsonl", folder / "rewards.jsonl"


def test_a_rerun_of_the_finetune_stage_skips_a_finished_run_before_reading_its_data(
    quick_world: Path, tmp_path: Path, monkeypatch
):
    import baton.finetune.run
    from baton.console import console
    from baton.demo.run import finetune_all

    labels, rewards = _all_zero_feedback(quick_world, tmp_path)
    config = DemoConfig(out=tmp_path / "run", methods=["baton"], steps=2, jobs=1, progress=False)
    with console.capture() as first:
        tuned, skipped = finetune_all(config, config.out, quick_world, labels, rewards)
    assert skipped == {} and tuned == {"baton": config.out / "finetune" / "baton" / "model"}
    assert "every training clip has reward 0" in first.get()  # the data's warning, once
    run_file = config.out / "finetune" / "baton" / "finetune.json"
    trained = json.loads(run_file.read_text())
    assert trained["data"]["reward_model"] == {"fingerprint": "f1", "names": ["reward"], "rows": 4}
    before = {p: p.stat().st_mtime_ns for p in (config.out / "finetune").rglob("*")}

    loads = []
    real = baton.finetune.run.read_feedback
    monkeypatch.setattr(baton.finetune.run, "read_feedback", lambda *a: loads.append(a) or real(*a))
    with console.capture() as again:
        assert finetune_all(config, config.out, quick_world, labels, rewards) == (tuned, skipped)
    said = again.get()
    assert loads == []  # the fine-tuning data were not read again
    assert "warning" not in said and "reward 0" not in said
    # One line, whatever the console's width wraps it into.
    assert "".join(said.split()) == "".join(f"done before: baton in {config.out / 'finetune'}".split())
    assert {p: p.stat().st_mtime_ns for p in (config.out / "finetune").rglob("*")} == before
    assert json.loads(run_file.read_text()) == trained


def test_the_demo_builds_every_world_step_it_uses_but_not_the_base_evaluation(monkeypatch, tmp_path: Path):
    import baton.demo.run as demo_run
    from baton.world.manifest import steps_needed

    asked: list[list[str]] = []
    monkeypatch.setattr(demo_run, "build", lambda config: asked.append(steps_needed(config.only)))
    demo_run.build_world(
        DemoConfig(quick=True, out=tmp_path / "run", cache=tmp_path / "cache", progress=False)
    )
    assert asked == [["corpus", "t2a", "clap", "annotator", "evaluator"]]


def test_the_headline_marks_a_difference_by_evaluates_rule():
    from baton.demo.run import headline

    def difference(low: float, high: float) -> dict:
        return {"value": (low + high) / 2, "ci_low": low, "ci_high": high, "n": 4, "excludes_zero": True}

    metrics = {"differences": {"baton": {"accuracy": {"temporal": difference(-2e-17, -1e-18),
                                                      "integrity": difference(0.05, 0.15)}}}}  # fmt: skip
    marks = headline(metrics)["difference_from_base"]["baton"]
    assert marks["temporal"]["excludes_zero"] is False and marks["integrity"]["excludes_zero"] is True


def test_the_verdict_says_the_tables_in_words():
    from baton.demo.run import headline

    def difference(low: float, high: float) -> dict:
        return {"value": (low + high) / 2, "ci_low": low, "ci_high": high, "n": 4, "excludes_zero": True}

    metrics = {
        "base": "base",
        "differences": {
            "baton": {
                "accuracy": {"integrity": difference(0.02, 0.10), "temporal": difference(-0.10, -0.01)}
            },
            "control": {
                "accuracy": {"integrity": difference(-0.05, 0.05), "temporal": difference(-0.05, 0.05)}
            },
        },
        "differences_from": {
            "control": {
                "base": {"accuracy": {"integrity": difference(-0.05, 0.05)}},
                "baton": {
                    "accuracy": {"integrity": difference(0.01, 0.05), "temporal": difference(0.01, 0.09)}
                },
            }
        },
    }
    assert headline(metrics)["verdict"] == [
        "baton: above the base on integrity, below it on temporal; above the control on integrity and temporal",
        "control: not above the base on any task",
    ]
    no_control = {"differences": {"sft": metrics["differences"]["control"]}}
    assert headline(no_control)["verdict"] == ["sft: not above the base on any task"]


def test_active_demo_labels_as_many_clips_chosen_in_rounds(
    quick_world_cache: Path, quick_world: Path, tmp_path: Path
):
    """--active: the annotators label the budget's clips out of every train clip, in rounds, the
    reward model retrained between them; the clips left are the reward model's (RD)."""
    from baton.annotation.run import open_store
    from baton.demo.run import annotate, generate_train_clips, make_prompts, quick_sizes

    config = quick_sizes(
        DemoConfig(
            out=tmp_path, quick=True, cache=quick_world_cache, active=True, active_rounds=2, progress=False
        )
    )
    prompts = make_prompts(config, tmp_path)
    samples = generate_train_clips(config, tmp_path, quick_world, prompts["train"])
    labels = annotate(config, tmp_path, quick_world, samples, budget=10)
    records = read_records(labels, LabelRecord)
    assert len(records) == 10 < len(samples)
    assert all(len(r.votes) == config.labels_per_clip for r in records)
    store = open_store(f"sqlite:///{tmp_path / 'annotation' / 'annotations.db'}", create=False)
    try:
        chosen = sorted(c.round for c in store.all_clips() if c.round is not None)
        assert chosen == [0] * 5 + [1] * 5
        assert store.campaign_settings()["select"] == "bald"
    finally:
        store.db.dispose()


def test_active_rounds_must_be_at_least_one():
    with pytest.raises(InputError, match="field 'active_rounds': must be at least 1"):
        DemoConfig(active_rounds=0)


def test_another_run_seed_keeps_the_world_and_only_world_seed_changes_it(quick_world_cache: Path):
    from baton.demo.run import build_world
    from baton.world.manifest import world_dir

    # A second run seed loops over the same (shipped, or here quick) world: nothing is built.
    folder = build_world(DemoConfig(quick=True, seed=3, cache=quick_world_cache, progress=False))
    assert folder == world_dir(quick_world_cache, quick=True)
    assert not world_dir(quick_world_cache, quick=True, seed=3).exists()
