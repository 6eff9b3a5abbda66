import json
import math
import os

import pytest

from baton.artifacts import read_records, write_records
from baton.errors import InputError
from baton.interchange.audiofolder import read_audiofolder, write_audiofolder

from .helpers import make_audio_files, three_labels, two_rewards, two_samples


def metadata_rows(folder):
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]


def test_labels_export_columns_and_paths_relative_to_the_folder(tmp_path):
    labels = three_labels()
    records_path = tmp_path / "run" / "labels.jsonl"
    write_records(records_path, labels)
    out = tmp_path / "hf"
    assert write_audiofolder(out, labels, records_path=records_path) == 3
    rows = metadata_rows(out)
    assert rows[0]["file_name"] == "../run/audio/0088-0.wav"  # the existing file, from the folder
    assert (out / rows[0]["file_name"]).resolve() == (tmp_path / "run" / "audio/0088-0.wav").resolve()
    assert {k: rows[0][k] for k in ("text", "label", "mean", "prompt_id", "task", "events")} == {
        "text": "Birds chirp and tweet, followed by female singing",
        "label": 1,
        "mean": pytest.approx(2 / 3),
        "prompt_id": "0088",
        "task": "integrity",
        "events": ["birds", "singing"],
    }
    assert rows[2]["label"] is None  # a tie
    assert not (out / "audio").exists()


def test_labels_round_trip_with_every_vote(tmp_path):
    labels = three_labels()
    records_path = tmp_path / "labels.jsonl"
    write_audiofolder(tmp_path / "hf", labels, records_path=records_path)
    kind, back = read_audiofolder(tmp_path / "hf", out_dir=tmp_path)
    assert kind == "labels"
    assert back == labels  # votes, label, mean, ids, and the path relative to out_dir again


def test_rewards_and_samples_round_trip(tmp_path):
    for records, kind in ((two_rewards(), "rewards"), (two_samples(), "samples")):
        folder = tmp_path / kind
        write_audiofolder(folder, records, records_path=tmp_path / f"{kind}.jsonl")
        got_kind, back = read_audiofolder(folder / "metadata.jsonl", out_dir=tmp_path)
        assert got_kind == kind
        assert back == records


def test_copy_audio_links_the_clips_into_the_folder(tmp_path):
    samples = two_samples()
    make_audio_files(tmp_path, samples)
    out = tmp_path / "dataset"
    write_audiofolder(out, samples, records_path=tmp_path / "samples.jsonl", copy_audio=True)
    rows = metadata_rows(out)
    assert [row["file_name"] for row in rows] == ["audio/integrity-0000-0.wav", "audio/integrity-0000-1.wav"]
    for row, sample in zip(rows, samples, strict=True):
        copied, original = out / row["file_name"], tmp_path / sample.path
        assert copied.read_bytes() == original.read_bytes()
        assert os.path.samefile(copied, original)  # a hard link on one file system
    _, back = read_audiofolder(out, out_dir=out)
    assert [r.path for r in back] == ["audio/integrity-0000-0.wav", "audio/integrity-0000-1.wav"]


def test_copy_audio_needs_the_audio(tmp_path):
    with pytest.raises(InputError, match="audio of clip 'integrity-0000-0' not found"):
        write_audiofolder(tmp_path / "d", two_samples(), records_path=tmp_path / "s.jsonl", copy_audio=True)


def test_a_clip_without_audio_cannot_be_exported(tmp_path):
    label = three_labels()[0].model_copy(update={"path": None})
    with pytest.raises(InputError, match="field 'path': clip '0088-0' has no audio path"):
        write_audiofolder(tmp_path / "d", [label], records_path=tmp_path / "labels.jsonl")


def test_a_plain_audiofolder_with_label_columns(tmp_path):
    (tmp_path / "metadata.jsonl").write_text(
        '{"file_name": "0042_A cat meows, then a door closes_3.wav", "label": 1}\n'
        '{"file_name": "clips/dog.wav", "text": "A dog barks", "mean": 0.25, "task": "integrity"}\n',
        encoding="utf-8",
    )
    kind, (first, second) = read_audiofolder(tmp_path, out_dir=tmp_path)
    assert kind == "labels"
    assert (first.sample_id, first.prompt_id, first.index, first.text) == (
        "0042-3",
        "0042",
        3,
        "A cat meows, then a door closes",
    )
    assert [v.value for v in first.votes] == [1.0] and first.label == 1
    assert (second.sample_id, second.path, second.mean, second.label, second.task) == (
        "dog",
        "clips/dog.wav",
        0.25,
        0,
        "integrity",
    )
    assert second.prompt_id.startswith("caption-")


def test_errors_name_the_metadata_line_and_field(tmp_path):
    metadata = tmp_path / "metadata.jsonl"
    metadata.write_text(
        '{"file_name": "a.wav", "text": "a", "label": 1}\n{"text": "b", "label": 0}\n', encoding="utf-8"
    )
    with pytest.raises(
        InputError, match=r"metadata\.jsonl, line 2, field 'file_name': required field is missing"
    ):
        read_audiofolder(tmp_path, out_dir=tmp_path)
    metadata.write_text('{"file_name": "a.wav", "label": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1, field 'text': required field is missing"):
        read_audiofolder(tmp_path, out_dir=tmp_path)
    metadata.write_text(
        '{"file_name": "a.wav", "text": "a", "votes": [{"annotator": "x", "value": 2}]}\n', encoding="utf-8"
    )
    with pytest.raises(
        InputError, match=r"line 1, field 'votes\.0\.value': Input should be less than or equal to 1"
    ):
        read_audiofolder(tmp_path, out_dir=tmp_path)
    metadata.write_text(
        '{"file_name": "a.wav", "text": "a", "task": "loudness", "label": 1}\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"line 1, field 'task'"):
        read_audiofolder(tmp_path, out_dir=tmp_path)


def test_a_folder_without_metadata_jsonl(tmp_path):
    (tmp_path / "metadata.csv").write_text("file_name,label\n", encoding="utf-8")
    with pytest.raises(InputError, match="no metadata.jsonl in this folder; baton reads metadata.jsonl only"):
        read_audiofolder(tmp_path, out_dir=tmp_path)


def test_written_records_read_back_with_the_artifacts_reader(tmp_path):
    write_audiofolder(tmp_path / "hf", three_labels(), records_path=tmp_path / "labels.jsonl")
    _, back = read_audiofolder(tmp_path / "hf", out_dir=tmp_path)
    write_records(tmp_path / "again.jsonl", back)
    assert read_records(tmp_path / "again.jsonl", type(back[0])) == back


def test_a_reward_row_with_score_or_probability_only(tmp_path):
    (tmp_path / "metadata.jsonl").write_text(
        '{"file_name": "a.wav", "text": "a", "score": 0.0}\n{"file_name": "b.wav", "text": "b", "probability": 0.8}\n',
        encoding="utf-8",
    )
    kind, (first, second) = read_audiofolder(tmp_path, out_dir=tmp_path)
    assert kind == "rewards"
    assert (first.score, first.probability) == (0.0, 0.5)
    assert second.score == pytest.approx(math.log(0.8 / 0.2))
