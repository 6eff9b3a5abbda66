"""A reward head that reads the event judge (``--event-judge``): its numbers, training, saving, scoring."""

import json
import math

import numpy as np
import pytest
import torch

from baton.artifacts import LabelRecord, RewardRecord, SampleRecord, read_records, write_records
from baton.audio import load_audio
from baton.cli import main
from baton.errors import InputError
from baton.evaluation.event_judge import WindowReading
from baton.evaluation.reward_score import RewardModelScorer, reward_probabilities
from baton.reward.heads import EVENT_INPUTS, TemporalHead, stack_features
from baton.reward.judged import FEATURES, EventFeatures, vocabulary_for
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


@pytest.fixture
def judge(tiny_clap):
    return EventFeatures(tiny_clap, vocabulary_for([TWO, THREE]))


def test_the_numbers_of_a_known_reading(judge):
    # Window probabilities (0.1 s apart, first window centred at 0.5 s) where beep sounds from 0.2 s,
    # siren from 1.0 s and bell never: presence, onset gaps and the verdict follow from them alone.
    classes = judge.judge.classes
    probs = np.zeros((20, len(classes)))
    probs[2:8, classes.index("beep")] = 0.9
    probs[10:16, classes.index("siren")] = 0.6
    probs[:, classes.index("bell")] = 0.01
    reading = WindowReading(probs, 0.1, 0.5)
    numbers = judge.read(reading, THREE, "temporal")
    assert len(numbers) == len(FEATURES) == EVENT_INPUTS
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert numbers[:3] == pytest.approx([logit(0.9), logit(0.6), logit(0.01)])
    # siren's onset 0.8 s after beep's (in 0.5 s units); bell's half-maximum is reached at window 0.
    assert numbers[3:5] == pytest.approx([1.6, -2.0])
    assert numbers[5:] == [0.0, 1.0]  # bell is not read: no verdict; three events
    two = judge.read(reading, ["siren", "beep"], "integrity")
    assert two[:3] == pytest.approx([logit(0.6), logit(0.9), 0.0])
    assert two[3:5] == pytest.approx([-1.6, 0.0])
    assert two[5:] == [1.0, 0.0]  # both read (order does not count for integrity); two events


def test_a_head_that_reads_the_judge_refuses_a_batch_without_its_numbers():
    head = TemporalHead(8, 8, hidden=4, judged=True)
    assert head.mlp[0].in_features == 9 + 16 + 8 + 8 + EVENT_INPUTS
    audio = [type("A", (), {"pooled": torch.zeros(8), "frames": torch.zeros(5, 8)})()] * 2
    text = [type("T", (), {"pooled": torch.zeros(8), "tokens": torch.zeros(4, 8)})()] * 2
    with pytest.raises(ValueError, match="event judge"):
        head(stack_features(audio, text))
    assert head(stack_features(audio, text, judged=torch.zeros(2, EVENT_INPUTS))).shape == (2,)


def test_train_save_and_score_with_the_judge(label_set, tiny_clap_dir, tmp_path):
    records = _with_events(label_set)
    out, cache = tmp_path / "reward", tmp_path / "cache"
    args = ["reward", "train", "--labels", str(label_set), "--out", str(out), "--encoder",
            f"clap:{tiny_clap_dir}", "--event-judge", "--head", "temporal", "--hidden", "16",
            "--epochs", "3", "--cache", str(cache), "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    settings = json.loads((out / "config.json").read_text())["head_settings"]
    assert set(settings["event_judge"]["vocabulary"]) >= {*TWO, *THREE}
    model = RewardModel.load(out)
    assert model.head.judged and model.event_features is not None
    data = label_set.parent
    first = [r for r in records if r.prompt_id in ("p0", "p1")]
    clips = [data / r.path for r in first]
    with pytest.raises(ValueError, match="events="):
        model.score([r.text for r in first], clips)
    expected = model.score(
        [r.text for r in first], clips, events=[r.events for r in first], tasks=[r.task for r in first]
    )
    # The judge's numbers change the score: the same clips read as naming other events score otherwise.
    other = model.score(
        [r.text for r in first],
        clips,
        events=[["rain", "hum"]] * len(first),
        tasks=["integrity"] * len(first),
    )
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
    scorer = RewardModelScorer(model, "reward")
    arrays = [load_audio(path, sample_rate=16000)[0] for path in clips]
    by_evaluation = reward_probabilities(
        scorer, [r.text for r in first], arrays, 16000, [r.events for r in first], [r.task for r in first]
    )
    assert by_evaluation == pytest.approx(expected.tolist(), abs=1e-5)


def test_labels_that_name_no_events_are_refused_naming_the_field(label_set, tiny_clap_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "cross-validate", "--labels", str(label_set), "--out", str(tmp_path / "cv"),
              "--encoder", f"clap:{tiny_clap_dir}", "--event-judge", "--no-progress"])  # fmt: skip
    assert exit_.value.code != 0
    err = capsys.readouterr().err
    assert "events" in err and "name none" in err and "Traceback" not in err


def test_an_event_the_saved_vocabulary_lacks_is_named(judge):
    with pytest.raises(InputError, match="dog_bark"):
        judge.features([np.zeros(1600, dtype=np.float32)], [["dog_bark", "bell"]], ["integrity"])
