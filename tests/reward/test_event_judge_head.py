"""A reward model blended with the event judge (``--event-judge``): the blend, training, saving, scoring."""

import json

import numpy as np
import pytest
import torch

from baton.artifacts import LabelRecord, RewardRecord, SampleRecord, read_records, write_records
from baton.audio import load_audio
from baton.cli import main
from baton.errors import InputError
from baton.evaluation.reward_score import RewardModelScorer, reward_probabilities
from baton.reward.blend import blend_logits, fit_blend, fit_task_blend, out_of_fold_choice
from baton.reward.judged import JudgeScores, vocabulary_for
from baton.reward.model import RewardModel

# Events of the world's vocabulary (12 events): the judge's softmax runs over all of them.
TWO, THREE = ["bell", "rain"], ["beep", "siren", "bell"]


def _with_events(label_set):
    """The label set with the events each prompt names (2 for integrity, 3 for temporal prompts)."""
    records = [
        r.model_copy(update={"events": TWO if r.task == "integrity" else THREE})
        for r in read_records(label_set, LabelRecord)
    ]
    write_records(label_set, records)
    return records


def _scores(seed, n=200):
    """Labels, a score that ranks them well and one that is noise."""
    rng = np.random.default_rng(seed)
    labels = torch.tensor(rng.random(n) < 0.4, dtype=torch.float32)
    good = torch.tensor(labels.numpy() * 2 + rng.normal(size=n), dtype=torch.float32)
    noise = torch.tensor(rng.normal(size=n), dtype=torch.float32)
    return labels, good, noise


def test_the_blend_leans_on_whichever_score_ranks_the_task_better():
    labels, good, noise = _scores(0)
    assert fit_task_blend(good, noise, labels).weight == 1.0  # the head ranks, the judge does not
    judged = fit_task_blend(noise, good, labels)
    assert judged.weight == 0.0
    # Platt-calibrated: the mean probability is near the share of ones, and a higher judge score is likelier.
    probabilities = torch.sigmoid(judged.logits(noise, good))
    assert float(probabilities.mean()) == pytest.approx(float(labels.mean()), abs=0.03)
    assert float(probabilities[labels == 1].mean()) > float(probabilities[labels == 0].mean()) + 0.3
    # Per task: each task gets its own weight.
    tasks = ["integrity"] * 200 + ["temporal"] * 200
    blends = fit_blend(torch.cat([good, noise]), torch.cat([noise, good]), torch.cat([labels, labels]), tasks)
    assert (blends["integrity"].weight, blends["temporal"].weight) == (1.0, 0.0)
    with pytest.raises(InputError, match="'single'"):
        blend_logits(blends, good[:1], noise[:1], ["single"])


def test_a_folds_blend_is_chosen_without_its_own_labels():
    labels, good, noise = _scores(1, n=120)
    tasks = ["temporal"] * 120
    folds = [list(range(k, 120, 4)) for k in range(4)]
    before = out_of_fold_choice(good, noise, labels, tasks, folds)
    flipped = labels.clone()
    flipped[folds[0]] = 1 - flipped[folds[0]]  # fold 0's labels alone change
    after = out_of_fold_choice(good, noise, flipped, tasks, folds)
    assert np.allclose(before[folds[0]], after[folds[0]])
    assert not np.allclose(before[folds[1]], after[folds[1]])


def test_train_save_and_score_with_the_judge(label_set, tiny_clap_dir, tmp_path):
    records = _with_events(label_set)
    out, cache = tmp_path / "reward", tmp_path / "cache"
    args = ["reward", "train", "--labels", str(label_set), "--out", str(out), "--encoder",
            f"clap:{tiny_clap_dir}", "--event-judge", "--epochs", "3", "--cache", str(cache), "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    settings = json.loads((out / "config.json").read_text())["head_settings"]["event_judge"]
    assert set(settings["vocabulary"]) >= {*TWO, *THREE} and settings["hop"] == 0.25
    assert set(settings["blend"]) == {"integrity", "temporal"}
    assert all(blend["weight"] in (0.0, 0.25, 0.5, 0.75, 1.0) for blend in settings["blend"].values())
    model = RewardModel.load(out)
    assert model.event_judge is not None and model.blends is not None
    data = label_set.parent
    first = [r for r in records if r.prompt_id in ("p0", "p1")]
    clips = [data / r.path for r in first]
    with pytest.raises(ValueError, match="events="):
        model.score([r.text for r in first], clips)
    events, tasks = [r.events for r in first], [r.task for r in first]
    expected = model.score([r.text for r in first], clips, events=events, tasks=tasks)
    # The judge's score changes the reward: the same clips as naming other events score otherwise.
    other = model.score([r.text for r in first], clips, events=[["rain", "hum"]] * len(first), tasks=tasks)
    assert not torch.allclose(expected, other)

    # `reward score` reads each sample's events and task, through the cache the training filled.
    samples = [
        SampleRecord(id=r.sample_id, prompt_id=r.prompt_id, text=r.text, events=r.events, task=r.task,
                     index=r.index, path=r.path)
        for r in first
    ]  # fmt: skip
    write_records(data / "samples.jsonl", samples)
    rewards = tmp_path / "rewards.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "score", "--reward-model", str(out), "--samples", str(data / "samples.jsonl"),
              "--out", str(rewards), "--cache", str(cache), "--no-progress"])  # fmt: skip
    assert exit_.value.code in (0, None)
    scored = [r.probability for r in read_records(rewards, RewardRecord)]
    assert scored == pytest.approx(expected.tolist(), abs=1e-5)
    judged_entries = list(cache.rglob("event-judge-*/**/*.safetensors"))
    assert len(judged_entries) == len(records)  # one reading per clip, shared by training and scoring

    # `baton evaluate --reward-model` gives the model each clip's events and task (as arrays, in memory).
    arrays = [load_audio(path, sample_rate=16000)[0] for path in clips]
    by_evaluation = reward_probabilities(
        RewardModelScorer(model, "reward"), [r.text for r in first], arrays, 16000, events, tasks
    )
    assert by_evaluation == pytest.approx(expected.tolist(), abs=1e-5)


def test_cross_validation_blends_each_fold_out_of_fold(label_set, tiny_clap_dir, tmp_path):
    _with_events(label_set)
    out = tmp_path / "cv"
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "cross-validate", "--labels", str(label_set), "--out", str(out), "--folds", "3",
              "--encoder", f"clap:{tiny_clap_dir}", "--event-judge", "--epochs", "2", "--no-progress"])  # fmt: skip
    assert exit_.value.code in (0, None)
    figures = json.loads((out / "eval.json").read_text())
    assert figures["event_judge"] is True
    predictions = [json.loads(line) for line in (out / "crossval-predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and all(0 <= p["probability"] <= 1 for p in predictions)


def test_labels_that_name_no_events_are_refused_naming_the_field(label_set, tiny_clap_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "cross-validate", "--labels", str(label_set), "--out", str(tmp_path / "cv"),
              "--encoder", f"clap:{tiny_clap_dir}", "--event-judge", "--no-progress"])  # fmt: skip
    assert exit_.value.code != 0
    err = capsys.readouterr().err
    assert "events" in err and "name none" in err and "Traceback" not in err


def test_an_event_the_saved_vocabulary_lacks_is_named(tiny_clap):
    judge = JudgeScores(tiny_clap, vocabulary_for([TWO, THREE]))
    with pytest.raises(InputError, match="dog_bark"):
        judge.scores([np.zeros(1600, dtype=np.float32)], [["dog_bark", "bell"]], ["integrity"])
