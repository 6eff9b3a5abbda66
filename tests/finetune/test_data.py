"""Reading and checking the fine-tuner's data: rewards, pairs, splits, pretraining sets, batch order."""

import json

import numpy as np
import pytest

from baton.errors import InputError
from baton.finetune import FinetuneConfig, finetune
from baton.finetune.data import (
    Clip,
    Stream,
    preference_pairs,
    read_feedback,
    read_pretrain,
    split_by_prompt,
)
from baton.finetune.run import plan_data


def _clip(sample_id, prompt_id, reward):
    return Clip(sample_id, prompt_id, "text", reward, "human", load=lambda: (np.zeros(1), 16000))


def _lines(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_soft_and_hard_rewards(feedback):
    labels, rewards = feedback
    soft = read_feedback(FinetuneConfig(labels=labels, rewards=rewards))
    by_id = {c.sample_id: c for c in soft.clips}
    assert soft.counts()["human"] == 12 and soft.counts()["reward"] == 12
    assert by_id["h0-0"].reward == 1.0 and by_id["h0-1"].reward == 0.0
    assert by_id["r0-0"].reward == 0.9 and by_id["r0-1"].reward == 0.2 and by_id["r0-2"].reward == 0.6
    hard = {
        c.sample_id: c.reward
        for c in read_feedback(FinetuneConfig(rewards=rewards, reward_mode="hard")).clips
    }
    assert (hard["r0-0"], hard["r0-1"], hard["r0-2"]) == (1.0, 0.0, 1.0)
    assert all(c.path.is_file() for c in soft.clips)


def test_a_tie_is_dropped_from_hard_rewards_and_a_clip_in_both_files_keeps_its_human_label(tmp_path):
    base = {"prompt_id": "p", "text": "a beep", "path": "a.wav"}
    labels = _lines(
        tmp_path / "labels.jsonl",
        [
            {"sample_id": "s1", **base, "votes": [], "label": None, "mean": 0.5},
            {"sample_id": "s2", **base, "votes": [], "label": 1, "mean": 1.0},
        ],
    )
    rewards = _lines(
        tmp_path / "rewards.jsonl", [{"sample_id": "s2", **base, "score": -3.0, "probability": 0.05}]
    )
    out = read_feedback(FinetuneConfig(labels=labels, rewards=rewards, reward_mode="hard"))
    assert [(c.sample_id, c.reward, c.source) for c in out.clips] == [("s2", 1.0, "human")]
    assert out.dropped_ties == 1 and out.duplicates == 1


def test_a_reward_outside_zero_one_is_a_clear_error(tmp_path):
    rewards = _lines(
        tmp_path / "rewards.jsonl",
        [
            {
                "sample_id": "a",
                "prompt_id": "p",
                "text": "t",
                "path": "a.wav",
                "score": 1.0,
                "probability": 0.7,
            },
            {
                "sample_id": "b",
                "prompt_id": "p",
                "text": "t",
                "path": "b.wav",
                "score": 2.0,
                "probability": 1.3,
            },
        ],
    )
    with pytest.raises(InputError, match=r"a reward must be in \[0, 1\]") as caught:
        finetune(FinetuneConfig(rewards=rewards, out=tmp_path / "out", model=str(tmp_path / "no-model")))
    assert caught.value.line == 2 and caught.value.field == "probability"
    labels = _lines(
        tmp_path / "labels.jsonl",
        [{"sample_id": "a", "prompt_id": "p", "text": "t", "path": "a.wav", "mean": -0.5}],
    )
    with pytest.raises(InputError, match=r"a reward must be in \[0, 1\]") as caught:
        read_feedback(FinetuneConfig(labels=labels))
    assert caught.value.line == 1 and caught.value.field == "mean"
    assert not (tmp_path / "out").exists()


def test_no_pairs_for_dpo_is_an_error_before_any_model_loads(tmp_path, corpus_clips):
    from tests.finetune.conftest import write_feedback

    audio, captions = corpus_clips
    labels, _ = write_feedback(tmp_path / "fb", audio, captions, prompts=3, per_prompt=1)  # one clip a prompt
    config = FinetuneConfig(method="dpo", labels=labels, out=tmp_path / "out", model=str(tmp_path / "none"))
    with pytest.raises(InputError, match="no preference pairs for DPO"):
        finetune(config)
    assert not (tmp_path / "out").exists()


def test_an_empty_or_missing_pretraining_set_is_an_error(tmp_path, feedback):
    labels, _ = feedback
    empty = tmp_path / "pretrain.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="the pretraining set is empty"):
        finetune(FinetuneConfig(labels=labels, pretrain=empty, out=tmp_path / "out", model="nowhere"))
    with pytest.raises(InputError, match="needs a pretraining set"):
        plan_data(FinetuneConfig(labels=labels, backend="tango", out=tmp_path / "out"))
    plan = plan_data(FinetuneConfig(labels=labels, backend="tango", beta=0.0))  # beta 0: none needed
    assert "pretrain" not in plan.train
    with pytest.raises(InputError, match="no such pretraining file"):
        read_pretrain(tmp_path / "missing.jsonl")


def test_missing_audio_is_named_before_training(tmp_path):
    labels = _lines(
        tmp_path / "labels.jsonl",
        [{"sample_id": "a", "prompt_id": "p", "text": "t", "path": "gone.wav", "label": 1, "mean": 1.0}],
    )
    with pytest.raises(InputError, match="1 audio file.* missing") as caught:
        plan_data(FinetuneConfig(labels=labels, method="sft"))
    assert caught.value.path == str(tmp_path / "gone.wav")
    no_path = _lines(
        tmp_path / "nopath.jsonl", [{"sample_id": "a", "prompt_id": "p", "text": "t", "mean": 1.0}]
    )
    with pytest.raises(InputError, match="clip 'a' has no audio path"):
        read_feedback(FinetuneConfig(labels=no_path))


def _scored_by(tmp_path, rewards, models, name="rewards.jsonl", version=2):
    """``rewards`` rewritten with row i scored by ``models[i]`` (model name, fingerprint or None), audio
    paths made absolute; ``version=1`` writes old rows, without the ``model_fingerprint`` field."""
    rows = [json.loads(line) for line in rewards.read_text().splitlines()]
    assert len(rows) == len(models)
    for row, (model, fingerprint) in zip(rows, models, strict=True):
        row["path"] = str(rewards.parent / row["path"])
        row["model"], row["model_fingerprint"] = model, fingerprint
        if version == 1:
            row["schema"] = "reward/1"
            del row["model_fingerprint"]
    return _lines(tmp_path / name, rows)


def test_a_rewards_file_of_two_reward_models_is_refused_before_any_model_loads(tmp_path, feedback):
    labels, rewards = feedback
    mixed = _scored_by(tmp_path, rewards, [("reward-a", "f-one")] * 8 + [("reward-b", "f-two")] * 4)
    config = FinetuneConfig(labels=labels, rewards=mixed, out=tmp_path / "out", model="nowhere")
    with pytest.raises(InputError) as caught:
        finetune(config)
    error = caught.value
    assert error.path == str(mixed) and error.field == "rewards"
    assert "2 reward models" in error.reason
    assert "'reward-a' (fingerprint f-one): 8 rows" in error.reason
    assert "'reward-b' (fingerprint f-two): 4 rows" in error.reason
    assert not (tmp_path / "out").exists()
    # One model under two folder names is still one model.
    renamed = _scored_by(
        tmp_path, rewards, [("reward-a", "f-one")] * 6 + [("copy", "f-one")] * 6, name="renamed.jsonl"
    )
    assert read_feedback(FinetuneConfig(rewards=renamed)).reward_model == {
        "fingerprint": "f-one",
        "names": ["reward-a", "copy"],
        "rows": 12,
    }


def test_rows_without_a_fingerprint_among_rows_with_one_are_refused(tmp_path, feedback):
    _, rewards = feedback
    mixed = _scored_by(tmp_path, rewards, [("reward-a", "f-one")] * 11 + [("old", None)])
    with pytest.raises(InputError) as caught:
        plan_data(FinetuneConfig(rewards=mixed, beta=0.0))
    error = caught.value
    assert error.path == str(mixed) and error.field == "rewards"
    assert "do not say which model made them" in error.reason
    assert "'reward-a' (fingerprint f-one): 11 rows" in error.reason
    assert "'old' (no fingerprint): 1 row" in error.reason


def test_the_run_records_the_reward_model_and_accepts_an_old_file_without_fingerprints(tmp_path, feedback):
    labels, rewards = feedback
    one = _scored_by(tmp_path, rewards, [("reward-a", "f-one")] * 12)
    plan = plan_data(FinetuneConfig(labels=labels, rewards=one, beta=0.0))
    assert plan.counts["reward_model"] == {"fingerprint": "f-one", "names": ["reward-a"], "rows": 12}
    # reward/1 rows (written before records named their model) have no fingerprint: accepted, unknown.
    old = _scored_by(tmp_path, rewards, [("reward-a", None)] * 12, name="old.jsonl", version=1)
    assert '"reward/1"' in old.read_text() and "model_fingerprint" not in old.read_text()
    plan = plan_data(FinetuneConfig(labels=labels, rewards=old, beta=0.0))
    assert plan.counts["reward_model"] == {"fingerprint": None, "names": ["reward-a"], "rows": 12}
    assert plan.counts["feedback"]["reward"] == 12
    assert plan_data(FinetuneConfig(labels=labels, beta=0.0)).counts["reward_model"] is None


def test_sft_needs_a_clip_labelled_one(tmp_path, feedback):
    _, rewards = feedback
    with pytest.raises(InputError, match="no training clip is labelled 1"):
        plan_data(FinetuneConfig(method="sft", rewards=rewards, reward_threshold=0.95))


def test_control_keeps_every_clip_and_sft_only_those_labelled_one(feedback):
    labels, rewards = feedback
    # 12 human clips, labelled 1 where (prompt + index) is even: 6; 12 reward clips at p = 0.9, 0.2, 0.6
    # per prompt, so 8 of them at or above the 0.5 threshold.
    counts = {}
    for method in ("sft", "control"):
        plan = plan_data(FinetuneConfig(method=method, labels=labels, rewards=rewards, beta=0.0))
        counts[method] = len(plan.train["sft"]) + len(plan.val["sft"])
        assert len(plan.val["sft"]) > 0
    assert counts == {"sft": 6 + 8, "control": 24}


def test_pretraining_lines_in_baton_tango_and_audiofolder_fields(tmp_path):
    rows = [
        {"text": "a beep", "path": "a.wav"},
        {"dataset": "audiocaps", "captions": "a knock", "location": "/abs/b.wav"},
        {"file_name": "c.wav", "caption": "rain falls"},
    ]
    clips = read_pretrain(_lines(tmp_path / "pd.jsonl", rows))
    assert [c.text for c in clips] == ["a beep", "a knock", "rain falls"]
    assert [str(c.path) for c in clips] == [str(tmp_path / "a.wav"), "/abs/b.wav", str(tmp_path / "c.wav")]
    with pytest.raises(InputError, match="no caption") as caught:
        read_pretrain(_lines(tmp_path / "bad.jsonl", [{"text": "x", "path": "a.wav"}, {"path": "b.wav"}]))
    assert caught.value.line == 2


def test_the_world_corpus_is_a_pretraining_set(tiny_world):
    clips = read_pretrain(tiny_world / "corpus" / "corpus.npz")
    audio, rate = clips[0].load()
    assert len(clips) > 0 and rate == 16000 and audio.ndim == 1
    # the world backend's default: the corpus beside the model folder
    plan = plan_data(
        FinetuneConfig(labels=_labels_of(tiny_world), model=str(tiny_world / "t2a"), val_fraction=0.0)
    )
    assert plan.counts["pretrain"]["train"] == len(clips)


def _labels_of(tiny_world):
    from baton.artifacts import LabelRecord, Vote, write_records
    from baton.audio import save_audio

    folder = tiny_world.parent / "world-labels"
    folder.mkdir(exist_ok=True)
    save_audio(folder / "a.wav", np.zeros(1600, np.float32), 16000)
    record = LabelRecord.from_votes(
        [Vote(annotator="x", value=1.0)], sample_id="a", prompt_id="p", text="t", path="a.wav"
    )
    write_records(folder / "labels.jsonl", [record])
    return folder / "labels.jsonl"


def test_split_holds_out_whole_prompts_whatever_the_order():
    clips = [_clip(f"s{i}", f"p{i // 3}", 1.0) for i in range(30)]  # 10 prompts x 3
    train, val = split_by_prompt(clips, 0.2, seed=0)
    val_prompts = {clips[i].prompt_id for i in val}
    assert len(val_prompts) == 2 and len(val) == 6 and len(train) == 24
    assert not val_prompts & {clips[i].prompt_id for i in train}
    reordered = clips[::-1]
    _, val_again = split_by_prompt(reordered, 0.2, seed=0)
    assert {reordered[i].prompt_id for i in val_again} == val_prompts
    assert split_by_prompt(clips[:3], 0.5, seed=0) == ([0, 1, 2], [])  # one prompt: never split
    assert split_by_prompt(clips, 0.0, seed=0)[1] == []


def test_preference_pairs_within_a_prompt_by_margin():
    clips = [_clip("a", "p", 1.0), _clip("b", "p", 0.0), _clip("c", "p", 0.7), _clip("d", "q", 0.0)]
    assert sorted(preference_pairs(clips, [0, 1, 2, 3], margin=0.5)) == [(0, 1), (2, 1)]
    assert sorted(preference_pairs(clips, [0, 1, 2, 3], margin=0.3)) == [(0, 1), (0, 2), (2, 1)]
    assert preference_pairs(clips, [0, 3], margin=0.5) == []  # another prompt's clip is no partner


def test_stream_is_a_permutation_per_epoch_and_addressable_anywhere():
    stream = Stream(5, seed=3, name="x")
    first, second = stream.take(0, 5), stream.take(5, 5)
    assert sorted(first) == sorted(second) == list(range(5)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(stream.take(3, 4), np.concatenate([first, second])[3:7])
    np.testing.assert_array_equal(Stream(5, seed=3, name="x").take(7, 3), second[2:5])  # no replay needed
    assert not np.array_equal(Stream(5, seed=4, name="x").take(0, 5), first) or not np.array_equal(
        Stream(5, seed=3, name="y").take(0, 5), first
    )


def test_config_checks():
    with pytest.raises(InputError, match="give --labels, --rewards or both"):
        FinetuneConfig()
    with pytest.raises(InputError) as caught:
        FinetuneConfig(labels="x", human_share=1.5)
    assert caught.value.field == "human_share"
    with pytest.raises(InputError) as caught:
        FinetuneConfig(labels="x", steps=0)
    assert caught.value.field == "steps"


def test_human_share_sets_each_batchs_mix_and_processes_take_equal_slices():
    from types import SimpleNamespace

    from baton.finetune.objectives import BatonObjective, Processes

    denoising = SimpleNamespace(num_timesteps=1000, sample_shape=(2,))
    config = FinetuneConfig(labels="x", batch_size=4, human_share=0.75, beta=0.0, seed=1)
    human, reward = np.arange(0, 4), np.arange(10, 14)
    objective = BatonObjective(
        denoising, config, Processes(), human=human, reward=reward, pretrain=np.zeros(0, np.int64),
        val_feedback=np.zeros(0, np.int64), val_pretrain=np.zeros(0, np.int64),
    )  # fmt: skip
    drawn = [objective._global_rows(micro)[0] for micro in range(4)]
    assert all(sum(r < 10 for r in rows) == 3 for rows in drawn)  # 3 of 4 rows from the human labels
    counts = np.bincount(np.concatenate(drawn))
    assert counts[:4].tolist() == [3, 3, 3, 3] and counts[10:14].tolist() == [1, 1, 1, 1]  # whole epochs
    assert [Processes(rank, 2).share(8) for rank in (0, 1)] == [slice(0, 4), slice(4, 8)]


def test_dpo_trains_on_peoples_pairs_beside_the_labels_pairs(tmp_path, feedback):
    """Decided pairs become (chosen, rejected) rows, on the side of the split their prompt is on;
    a clip the labels name too is one clip; undecided pairs are left out."""
    from baton.artifacts import PairRecord, write_records

    labels, _ = feedback
    folder = labels.parent
    records = [
        PairRecord.from_votes(
            (f"h{p}-0", f"{folder}/audio/h{p}-0.wav"), (f"h{p}-1", f"audio/h{p}-1.wav"),
            [("ann", choice, None, None)], id=f"h{p}", prompt_id=f"hp{p}", text="t",
        )
        for p, choice in enumerate(["second", "first", "tie", "second"])
    ]  # fmt: skip
    pairs_path = folder / "pairs.jsonl"
    write_records(pairs_path, records)
    plan = plan_data(FinetuneConfig(method="dpo", labels=labels, pairs=pairs_path, val_fraction=0.25))
    counts = plan.counts["pairs"]["from_people"]
    assert counts["decided"] == 3 and counts["undecided_left_out"] == 1
    assert counts["train"] + counts["val"] == 3
    assert len(plan.clips) == 12  # every clip of the pairs is a labelled one already
    people = [tuple(p) for p in plan.train["pairs"]] + [tuple(p) for p in plan.val["pairs"]]
    ids = [(plan.clips[w].sample_id, plan.clips[lose].sample_id) for w, lose in people]
    assert ("h0-1", "h0-0") in ids and ("h1-0", "h1-1") in ids
    # Pairs alone: their clips are the whole feedback.
    alone = plan_data(FinetuneConfig(method="dpo", pairs=pairs_path, val_fraction=0.0))
    assert len(alone.clips) == 6 and len(alone.train["pairs"]) == 3
    assert {c.source for c in alone.clips} == {"pairs"}
    with pytest.raises(InputError, match="people's pairs train DPO"):
        FinetuneConfig(method="baton", pairs=pairs_path)
