import json
from pathlib import Path

import numpy as np
import pytest

from baton.cli import main
from baton.errors import InputError
from baton.interchange.labels import read_labels
from baton.report.run import find_reliability
from baton.reward.config import RewardTrainConfig
from baton.reward.crossval import PREDICTIONS_FILE, cross_validate
from baton.reward.data import LabelledClip, labelled_clips, prompt_folds
from baton.reward.evaluate import task_figures


def _clips(per_task: dict[str, int], clips_per_prompt=(1, 2, 3)) -> list[LabelledClip]:
    """Prompts of each task with an uneven number of clips each, interleaved as a labels file may be."""
    clips = []
    for task, prompts in per_task.items():
        for p in range(prompts):
            for k in range(clips_per_prompt[p % len(clips_per_prompt)]):
                clips.append(
                    LabelledClip(
                        sample_id=f"{task}-{p}-{k}",
                        prompt_id=f"{task}-{p}",
                        text="t",
                        task=task,
                        audio=Path("a.wav"),
                        target=float(k % 2),
                        label=k % 2,
                    )
                )
    return clips[::2] + clips[1::2]


def test_folds_hold_whole_prompts_cover_every_clip_once_and_spread_every_task():
    clips = _clips({"integrity": 7, "temporal": 11})
    folds = prompt_folds(clips, 3, seed=0)

    rows = [row for fold in folds for row in fold]
    assert sorted(rows) == list(range(len(clips)))  # every clip once: disjoint and covering
    fold_of_prompt: dict[str, set[int]] = {}
    for k, fold in enumerate(folds):
        for row in fold:
            fold_of_prompt.setdefault(clips[row].prompt_id, set()).add(k)
    assert all(len(ks) == 1 for ks in fold_of_prompt.values())  # a prompt's clips stay together
    for k, fold in enumerate(folds):
        assert {clips[row].task for row in fold} == {"integrity", "temporal"}, k
    # 18 prompts dealt round-robin over 3 folds: 6 each; per task 7 -> (3, 2, 2) in some order.
    prompts = [{clips[row].prompt_id for row in fold} for fold in folds]
    assert [len(p) for p in prompts] == [6, 6, 6]
    assert sorted(sum(p.startswith("integrity") for p in fold) for fold in prompts) == [2, 2, 3]


def test_folds_are_deterministic_for_a_seed_and_change_with_it():
    clips = _clips({"integrity": 5, "temporal": 9})
    assert prompt_folds(clips, 4, seed=3) == prompt_folds(list(clips), 4, seed=3)
    assert any(prompt_folds(clips, 4, seed=s) != prompt_folds(clips, 4, seed=3) for s in range(4))


def test_too_few_prompts_or_folds_is_an_input_error(label_set):
    clips = _clips({"integrity": 2, "temporal": 1})
    with pytest.raises(InputError, match="field 'folds': the labels hold 3 prompt"):
        prompt_folds(clips, 4, seed=0)
    with pytest.raises(InputError, match="field 'folds': must be at least 2"):
        prompt_folds(clips, 1, seed=0)
    # The labels are checked before any encoder is loaded (this encoder does not exist).
    config = RewardTrainConfig(labels=label_set, encoder="clap:/nonexistent", progress=False)
    with pytest.raises(InputError, match="6 prompt"):
        cross_validate(config, folds=7, out=label_set.parent / "cv")


def test_out_of_fold_figures_are_the_evaluation_figures_of_the_predictions(
    label_set, tiny_clap_dir, tmp_path
):
    out = tmp_path / "cv"
    config = RewardTrainConfig(
        labels=label_set,
        encoder=f"clap:{tiny_clap_dir}",
        epochs=6,
        patience=3,
        cache=tmp_path / "cache",
        progress=False,
    )
    result = cross_validate(config, folds=3, out=out, resamples=100)

    assert json.loads((out / "eval.json").read_text()) == json.loads(json.dumps(result))
    assert (result["method"], result["folds"]) == ("cross-validation", 3)
    assert (out / result["plot"]).stat().st_size > 1000
    clips = labelled_clips(read_labels(label_set), label_set)
    predictions = [json.loads(line) for line in (out / PREDICTIONS_FILE).read_text().splitlines()]
    assert [p["sample_id"] for p in predictions] == [c.sample_id for c in clips]
    folds = prompt_folds(clips, 3, seed=config.seed)
    assert [p["fold"] for p in predictions] == [
        next(k for k, fold in enumerate(folds) if i in fold) for i in range(len(clips))
    ]
    assert [p["label"] for p in predictions] == [c.label for c in clips]
    # Each head learned the other folds' clips only (some as its validation prompts).
    for fold in result["per_fold"]:
        assert fold["clips"] == len(folds[fold["fold"]])
        assert fold["train_clips"] + fold["validation_clips"] + fold["clips"] == len(clips)

    for task, figures in result["tasks"].items():
        rows = [i for i, c in enumerate(clips) if c.task == task and c.label is not None]
        expected = task_figures(
            np.array([predictions[i]["probability"] for i in rows]),
            np.array([clips[i].label for i in rows]),
            [c.votes for c in clips if c.task == task],
            resamples=100,
            seed=config.seed,
        )
        assert figures["clips"] == expected["clips"] == len(rows)
        for key in ("accuracy", "roc_auc", "ece", "human_agreement"):
            assert figures[key] == pytest.approx(expected[key], abs=1e-5), (task, key)
        assert [b["count"] for b in figures["reliability"]] == [b["count"] for b in expected["reliability"]]
    curves, _ = find_reliability(result)
    assert set(curves) == {"all", "integrity", "temporal"}


def test_cross_validate_command(label_set, tiny_clap_dir, tmp_path, capsys):
    out = tmp_path / "cv"
    with pytest.raises(SystemExit) as exit_:
        main(
            ["reward", "cross-validate", "--labels", str(label_set), "--folds", "2", "--out", str(out),
             "--encoder", f"clap:{tiny_clap_dir}", "--epochs", "2", "--resamples", "50",
             "--cache", str(tmp_path / "cache"), "--no-progress"]
        )  # fmt: skip
    assert exit_.value.code in (0, None)
    figures = json.loads((out / "eval.json").read_text())
    assert (figures["folds"], figures["clips"] + figures["tied_clips_left_out"]) == (2, 24)
    assert len((out / PREDICTIONS_FILE).read_text().splitlines()) == 24
    assert not (out / "config.json").exists()  # no model: `reward train` makes the final one
    err = capsys.readouterr().err.replace("\n", "")
    assert "integrity: accuracy" in err and "(out-of-fold)" in err
