import json

import pytest

from baton.artifacts import (
    LabelRecord,
    PromptRecord,
    RecordAppender,
    RewardRecord,
    SampleRecord,
    Vote,
    read_json,
    read_records,
    resolve_path,
    store_path,
    write_records,
)
from baton.errors import InputError


def prompt(i: int) -> PromptRecord:
    return PromptRecord(
        id=f"p{i}", text=f"a dog barks, then bird {i} sings", events=["dog", "bird"], task="temporal"
    )


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "prompts.jsonl"
    records = [prompt(i) for i in range(3)]
    assert write_records(path, records) == 3
    assert read_records(path, PromptRecord) == records
    first = json.loads(path.read_text().splitlines()[0])
    assert first["schema"] == "prompt/1"
    assert list(first)[0] == "schema"


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(prompt(0).to_json() + "\n" + '{"id": "p1", "text": \n')
    with pytest.raises(InputError) as err:
        read_records(path, PromptRecord)
    assert err.value.line == 2
    assert str(path) in str(err.value) and "line 2" in str(err.value) and "not valid JSON" in str(err.value)


def test_missing_and_mistyped_fields_are_named(tmp_path):
    path = tmp_path / "samples.jsonl"
    good = SampleRecord(id="s0", prompt_id="p0", text="x", index=0, path="a.wav")
    bad = json.loads(good.to_json())
    del bad["prompt_id"]
    path.write_text(good.to_json() + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError) as err:
        read_records(path, SampleRecord)
    assert (err.value.line, err.value.field) == (3, "prompt_id")
    assert "missing" in str(err.value)

    bad = json.loads(good.to_json())
    bad["index"] = -1
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(InputError) as err:
        read_records(path, SampleRecord)
    assert (err.value.line, err.value.field) == (1, "index")

    bad = json.loads(good.to_json())
    bad["colour"] = "red"
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(InputError, match="unknown field") as err:
        read_records(path, SampleRecord)
    assert err.value.field == "colour"


def test_record_of_another_kind_or_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(prompt(0).to_json() + "\n")
    with pytest.raises(InputError, match="'prompt' record, expected a 'sample'"):
        read_records(path, SampleRecord)
    data = json.loads(prompt(0).to_json())
    data["schema"] = "prompt/99"
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(InputError, match="upgrade baton"):
        read_records(path, PromptRecord)


def test_duplicate_keys_are_an_error(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(path, [prompt(0), prompt(1), prompt(0)])
    with pytest.raises(InputError, match="'p0' appears again"):
        read_records(path, PromptRecord)
    assert len(read_records(path, PromptRecord, unique=False)) == 3


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match="no such prompt file"):
        read_records(tmp_path / "nope.jsonl", PromptRecord)
    (tmp_path / "empty.jsonl").write_text("")
    assert read_records(tmp_path / "empty.jsonl", PromptRecord) == []
    with pytest.raises(InputError, match="holds no prompt records"):
        read_records(tmp_path / "empty.jsonl", PromptRecord, allow_empty=False)


def test_label_from_votes_computes_mean_and_majority():
    votes = [Vote(annotator="a", value=1), Vote(annotator="b", value=0), Vote(annotator="c", value=1)]
    label = LabelRecord.from_votes(votes, sample_id="s", prompt_id="p", text="t")
    assert label.mean == pytest.approx(2 / 3)
    assert label.label == 1
    tie = LabelRecord.from_votes(votes[:2], sample_id="s", prompt_id="p", text="t")
    assert tie.label is None and tie.mean == 0.5
    with pytest.raises(ValueError):
        LabelRecord.from_votes([], sample_id="s", prompt_id="p", text="t")


def test_reward_probability_must_be_in_unit_interval(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"schema": "reward/1", "sample_id": "s", "prompt_id": "p", "text": "t", "score": 3.0, '
        '"probability": 1.5}\n'
    )
    with pytest.raises(InputError) as err:
        read_records(path, RewardRecord)
    assert err.value.field == "probability"


def test_atomic_write_leaves_old_file_when_a_record_fails(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(path, [prompt(0)])

    class Boom(PromptRecord):
        def to_json(self) -> str:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_records(path, [prompt(1), Boom(id="b", text="t")])
    assert read_records(path, PromptRecord) == [prompt(0)]
    assert [p.name for p in tmp_path.iterdir()] == ["p.jsonl"]


def test_appender_resumes_without_duplicates_after_a_torn_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    with RecordAppender(path, PromptRecord) as out:
        assert out.append(prompt(0)) and out.append(prompt(1))
        assert not out.append(prompt(0))
    # A crash in the middle of the third line leaves half a record and no newline.
    with path.open("a") as handle:
        handle.write(prompt(2).to_json()[:20])
    with RecordAppender(path, PromptRecord) as out:
        assert out.keys == {"p0", "p1"}
        assert out.has("p1") and not out.has("p2")
        assert out.append(prompt(2))
    assert [r.id for r in read_records(path, PromptRecord)] == ["p0", "p1", "p2"]


def test_appender_keeps_a_whole_last_line_without_newline(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(prompt(0).to_json())
    with RecordAppender(path, PromptRecord) as out:
        assert out.has("p0")
        out.append(prompt(1))
    assert [r.id for r in read_records(path, PromptRecord)] == ["p0", "p1"]


def test_read_json_names_line(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(InputError) as err:
        read_json(path)
    assert err.value.line == 4


def test_a_stored_path_is_relative_to_its_files_folder_whatever_the_working_folder(tmp_path, monkeypatch):
    """The rule of every file: a path is absolute, or relative to the folder of the file holding it."""
    (tmp_path / "run" / "generated" / "audio").mkdir(parents=True)
    (tmp_path / "run" / "reward").mkdir()
    (tmp_path / "run" / "generated" / "audio" / "c.wav").write_bytes(b"")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    clip = "../run/generated/audio/c.wav"  # as this process sees it
    assert store_path(clip, "../run/generated") == "audio/c.wav"
    assert store_path(clip, "../run/reward") == "../generated/audio/c.wav"  # a sibling folder
    assert store_path(tmp_path / "run" / "generated" / "audio" / "c.wav", "../run/generated") == "audio/c.wav"
    # read back from another working folder, through the file's folder
    monkeypatch.chdir(tmp_path)
    assert resolve_path("../generated/audio/c.wav", "run/reward").is_file()
    assert resolve_path(str(tmp_path / "x.wav"), "run") == tmp_path / "x.wav"
    # a symlinked folder: '..' climbs where the file system does
    (tmp_path / "link").symlink_to(tmp_path / "run" / "generated")
    assert store_path("link/audio/c.wav", "run/reward") == "../generated/audio/c.wav"
