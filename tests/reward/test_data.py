import json

import pytest

from baton.artifacts import LabelRecord, Vote, write_records
from baton.errors import InputError
from baton.interchange.labels import read_labels
from baton.reward.data import class_balance, labelled_clips, split_by_prompt


def test_split_keeps_every_prompt_on_one_side(label_set):
    clips = labelled_clips(read_labels(label_set), label_set)
    for seed in range(5):
        train, val = split_by_prompt(clips, 0.34, seed)
        assert sorted(train + val) == list(range(len(clips)))
        train_prompts = {clips[i].prompt_id for i in train}
        val_prompts = {clips[i].prompt_id for i in val}
        assert train_prompts and val_prompts and not train_prompts & val_prompts
        # Both tasks are validated.
        assert {clips[i].task for i in val} == {"integrity", "temporal"}


def test_split_is_seeded(label_set):
    clips = labelled_clips(read_labels(label_set), label_set)
    assert split_by_prompt(clips, 0.34, 3) == split_by_prompt(clips, 0.34, 3)
    assert split_by_prompt(clips, 0.0, 3)[1] == []
    with pytest.raises(InputError, match="val_fraction"):
        split_by_prompt(clips, 1.0, 0)


def test_class_balance_counts_majority_labels_and_ties(tmp_path):
    votes = [[1, 1, 0], [0, 0, 0], [1, 0]]
    records = [
        LabelRecord.from_votes(
            [Vote(annotator=f"a{j}", value=v) for j, v in enumerate(vs)],
            sample_id=f"s{i}",
            prompt_id="p",
            text="a dog barks",
            task="integrity",
            path=f"{i}.wav",
        )
        for i, vs in enumerate(votes)
    ]
    path = tmp_path / "labels.jsonl"
    write_records(path, records)
    clips = labelled_clips(read_labels(path), path, check_audio=False)
    counts = class_balance(clips)["integrity"]
    assert (counts["ones"], counts["zeros"], counts["ties"]) == (1, 1, 1)
    assert counts["mean_target"] == pytest.approx((2 / 3 + 0 + 0.5) / 3, abs=1e-4)
    assert clips[0].target == pytest.approx(2 / 3)


def test_empty_label_file_is_a_clear_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(InputError, match="labels.jsonl: the labels file is empty"):
        read_labels(path)
    with pytest.raises(InputError, match="no such file"):
        read_labels(tmp_path / "missing.jsonl")


def test_labels_for_clips_that_do_not_exist(label_set):
    lines = label_set.read_text().splitlines()
    row = json.loads(lines[2])
    row["path"] = "audio/nowhere.wav"
    lines[2] = json.dumps(row)
    label_set.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        labelled_clips(read_labels(label_set), label_set)
    message = str(info.value)
    assert "line 3" in message and "field 'path'" in message
    assert "does not exist" in message and "nowhere.wav" in message and row["sample_id"] in message


@pytest.mark.parametrize(
    "relative",
    [
        "data/HA/2label_HA.json",
        "data/RM/grouped_ratings_2label.json",
        "src/t2amodel/tango/data/2label_finetune.json",
    ],
)
def test_the_shapes_of_batons_labels_are_read_and_their_missing_audio_named(relative):
    from tests.shapes import shape_file

    path = shape_file(relative)
    records = read_labels(path)
    assert {r.task for r in records} == {"integrity"} and records[0].sample_id == "0007-0"
    if records[0].path is None:  # a grouped file names clips, not their audio
        with pytest.raises(InputError, match="names no audio file"):
            labelled_clips(records, path)
    else:
        with pytest.raises(InputError, match="does not exist"):
            labelled_clips(records, path)


def test_baton_files_are_read_and_their_missing_audio_named(baton_data):
    path = baton_data / "data" / "HA" / "2label_HA.json"
    records = read_labels(path)
    assert len(records) == 1094
    assert {r.task for r in records} == {"integrity"}
    with pytest.raises(InputError, match="does not exist"):
        labelled_clips(records, path)
