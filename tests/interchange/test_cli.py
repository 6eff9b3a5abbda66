import json

import pytest

from baton.artifacts import LabelRecord, RewardRecord, SampleRecord, read_records, write_records

from .helpers import data_file, run_cli, three_labels


@pytest.mark.parametrize(
    ("source", "summary", "first"),
    [
        ("shapes", "7 labels over 3 prompts (4 ones, 3 zeros)", "0007-0"),
        ("release", "1094 labels over 220 prompts (686 ones, 408 zeros)", "0088-0"),
    ],
)
def test_import_ha_labels(tmp_path, capsys, source, summary, first):
    path = data_file(source, "data/HA/2label_HA.json")
    out = tmp_path / "labels.jsonl"
    code, text = run_cli(capsys, "data", "import", path, "--format", "tango", "--out", out)
    assert code == 0 and f"{summary} from {path} -> {out}" in text
    assert read_records(out, LabelRecord)[0].sample_id == first


@pytest.mark.parametrize(
    ("source", "rows", "summary"),
    [
        ("shapes", 3, "3 rewards over 2 prompts (2 with probability >= 0.5, 1 below)"),
        ("release", 1005, "1005 rewards over 201 prompts (416 with probability >= 0.5, 589 below)"),
    ],
)
def test_import_3label_ra_as_rewards_with_its_warning(tmp_path, capsys, source, rows, summary):
    out = tmp_path / "rewards.jsonl"
    code, text = run_cli(capsys, "data", "import", data_file(source, "data/RM/3label_RA.json"), "--out", out)
    assert code == 0 and summary in text
    assert f"{rows} of {rows} rows of dataset '3label_RA' point into the folder" in text
    assert text.endswith("; 1 warning") and len(read_records(out, RewardRecord)) == rows


@pytest.mark.parametrize("source", ["shapes", "release"])
def test_kind_and_task_flags(tmp_path, capsys, source):
    out = tmp_path / "labels.jsonl"
    path = data_file(source, "data/RM/2label_RA.json")
    code, _ = run_cli(capsys, "data", "import", path, "--out", out, "--kind", "labels", "--task", "single")
    assert code == 0
    labels = read_records(out, LabelRecord)
    assert labels[0].votes[0].value == 0.882 and {r.task for r in labels} == {"single"}


@pytest.mark.parametrize(
    ("source", "relative"),
    [("shapes", "data/Audiocaps/valid_audiocaps.json"), ("release", "data/Audiocaps/train_audiocaps.json")],
)
def test_captions_only_file_is_one_clear_error(tmp_path, capsys, source, relative):
    path = data_file(source, relative)
    code, text = run_cli(capsys, "data", "import", path, "--out", tmp_path / "x.jsonl")
    assert code == 1  # bad input
    assert text.startswith(f"error: {path}: holds captions without feedback or scores")
    assert "Traceback" not in text
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize(
    ("source", "samples"),
    [("shapes", "4 samples over 4 prompts"), ("release", "196 samples over 195 prompts")],
)
def test_a_clip_with_several_captions_imports_as_a_sample_per_caption(tmp_path, capsys, source, samples):
    out = tmp_path / "samples.jsonl"
    path = data_file(source, "data/Audiocaps/valid_audiocaps.json")
    code, text = run_cli(capsys, "data", "import", path, "--kind", "samples", "--out", out)
    assert code == 0 and samples in text and text.endswith("; 1 warning")
    ids = [s.id for s in read_records(out, SampleRecord)]
    assert len(ids) == len(set(ids)) and any(i.endswith("-c2") for i in ids)


def test_bad_line_is_one_clear_error(tmp_path, capsys):
    source = tmp_path / "bad.json"
    source.write_text(
        '{"captions": "a", "feedback": 1}\n{"captions": "b", "feedback": 2}\n', encoding="utf-8"
    )
    code, text = run_cli(capsys, "data", "import", str(source), "--out", str(tmp_path / "x.jsonl"))
    assert code == 1  # bad input
    assert text == f"error: {source}, line 2, field 'feedback': must be from 0 to 1, got 2"


def test_bad_format_name(tmp_path, capsys):
    code, text = run_cli(
        capsys, "data", "import", "x.json", "--format", "csv", "--out", str(tmp_path / "x.jsonl")
    )
    assert code == 2
    assert "field 'format': must be one of tango, audiofolder, label-studio, audio-alpaca, got 'csv'" in text


def test_export_then_import_each_format(tmp_path, capsys):
    labels = three_labels()
    records = tmp_path / "labels.jsonl"
    write_records(records, labels)
    for fmt, out in (("label-studio", tmp_path / "ls" / "tasks.json"), ("audiofolder", tmp_path / "hf")):
        code, text = run_cli(capsys, "data", "export", str(records), "--format", fmt, "--out", str(out))
        interface = (
            f", its labelling interface -> {out.parent / 'label_config.xml'}" if fmt == "label-studio" else ""
        )
        assert code == 0 and text == f"3 labels from {records} -> {out} ({fmt}){interface}"
        back = tmp_path / f"back-{fmt}.jsonl"
        code, text = run_cli(capsys, "data", "import", str(out), "--out", str(back))  # the format is guessed
        assert code == 0 and text.startswith("3 labels over 2 prompts (1 ones, 1 zeros, 1 ties)")
        assert [r.votes for r in read_records(back, LabelRecord)] == [r.votes for r in labels]

    code, text = run_cli(
        capsys, "data", "export", str(records), "--format", "tango", "--out", str(tmp_path / "t.json")
    )
    assert code == 0 and text.endswith("(tango); 1 warning")  # the tie, left out
    rows = [json.loads(line) for line in (tmp_path / "t.json").read_text(encoding="utf-8").splitlines()]
    assert [row["feedback"] for row in rows] == [1, 0]
    code, _ = run_cli(
        capsys,
        "data",
        "export",
        str(records),
        "--format",
        "tango",
        "--soft",
        "--out",
        str(tmp_path / "s.json"),
    )
    rows = [json.loads(line) for line in (tmp_path / "s.json").read_text(encoding="utf-8").splitlines()]
    assert [row["feedback"] for row in rows] == pytest.approx([2 / 3, 0.0, 0.5])


def test_export_refuses_a_prompts_file(tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"schema": "prompt/1", "id": "p", "text": "a dog"}\n', encoding="utf-8")
    code, text = run_cli(
        capsys, "data", "export", str(prompts), "--format", "tango", "--out", str(tmp_path / "t.json")
    )
    assert code == 1  # bad input
    assert (
        text
        == f"error: {prompts}, line 1, field 'schema': export takes labels, rewards, samples or pairs; this line's schema is 'prompt/1'"
    )


def test_export_needs_a_format(tmp_path, capsys):
    records = tmp_path / "labels.jsonl"
    write_records(records, three_labels())
    code, text = run_cli(capsys, "data", "export", str(records), "--out", str(tmp_path / "t.json"))
    assert code == 2 and "field 'format': missing: choose it with --format" in text


@pytest.mark.parametrize(
    ("source", "summary"),
    [
        ("shapes", "3 labels over 2 prompts (1 ones, 2 zeros)"),
        ("release", "108 labels over 22 prompts (36 ones, 72 zeros)"),
    ],
)
def test_config_file(tmp_path, capsys, source, summary):
    config = tmp_path / "import.yaml"
    out = tmp_path / "labels.jsonl"
    path = data_file(source, "src/rewardmodel/human_3label_test.json")
    config.write_text(f"input: {path}\nout: {out}\n", encoding="utf-8")
    code, text = run_cli(capsys, "data", "import", "--config", config)
    assert code == 0 and summary in text
