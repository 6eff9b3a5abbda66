"""Audio-Alpaca preference pairs: export of baton pairs, import back, Tango 2's field names, bad rows."""

from __future__ import annotations

import json

import pytest

from baton.artifacts import PairRecord, read_records, write_records
from baton.cli import main
from baton.errors import InputError
from baton.interchange.alpaca import read_alpaca, write_alpaca


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_.value.code, " ".join((captured.out + captured.err).split())


def pairs():
    decided = PairRecord.from_votes(
        ("p1-0", "audio/p1-0.wav"),
        ("p1-1", "audio/p1-1.wav"),
        [("ann", "second", 3.5, None), ("bob", "second", None, None), ("cat", "tie", None, None)],
        id="p1-0~p1-1",
        prompt_id="p1",
        text="A siren, then a knock",
        events=["siren", "knock"],
        task="temporal",
        strategy="human",
    )
    undecided = PairRecord.from_votes(
        ("p2-0", "audio/p2-0.wav"),
        ("p2-1", "audio/p2-1.wav"),
        [("ann", "first", None, None), ("bob", "second", None, None)],
        id="p2-0~p2-1",
        prompt_id="p2",
        text="A bell",
    )
    return [decided, undecided]


def test_pair_records_orient_themselves_by_the_votes():
    decided, undecided = pairs()
    assert (decided.chosen, decided.rejected, decided.chosen_path) == ("p1-1", "p1-0", "audio/p1-1.wav")
    assert decided.preference == pytest.approx(2.5 / 3) and decided.decided
    assert [v.choice for v in decided.votes] == ["chosen", "chosen", "tie"]
    assert (undecided.chosen, undecided.preference, undecided.decided) == ("p2-0", 0.5, False)


def test_export_then_import_keeps_every_pair_that_has_a_chosen_clip(tmp_path, capsys):
    source = tmp_path / "run" / "pairs.jsonl"
    write_records(source, pairs())
    out = tmp_path / "alpaca" / "alpaca.jsonl"
    code, text = run_cli(capsys, "data", "export", source, "--format", "audio-alpaca", "--out", out)
    assert code == 0 and f"1 pairs from {source} -> {out} (audio-alpaca); 1 warning" in text
    assert "left out 1 undecided pair(s)" in text
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["prompt"] == "A siren, then a knock"
    assert row["chosen"] == str(tmp_path / "run" / "audio" / "p1-1.wav")  # absolute
    assert row["rejected"].endswith("run/audio/p1-0.wav") and row["strategy"] == "human"
    assert row["votes"][0] == {"annotator": "ann", "choice": "chosen"} and row["task"] == "temporal"

    back = tmp_path / "back" / "pairs.jsonl"
    code, text = run_cli(capsys, "data", "import", out, "--out", back)  # the format is recognised
    assert code == 0 and "1 pairs over 1 prompts (1 decided, 0 undecided)" in text
    (record,) = read_records(back, PairRecord)
    original = pairs()[0]
    assert record.model_dump(
        exclude={"source", "chosen_path", "rejected_path", "votes"}
    ) == original.model_dump(exclude={"source", "chosen_path", "rejected_path", "votes"})
    assert [(v.annotator, v.choice) for v in record.votes] == [
        (v.annotator, v.choice) for v in original.votes
    ]
    assert record.chosen_path == str(tmp_path / "run" / "audio" / "p1-1.wav")


def test_tango_2_style_rows_and_vote_counts(tmp_path):
    source = tmp_path / "alpaca.jsonl"
    rows = [
        {"captions": "A dog barks", "chosen": {"path": "a/1.wav"}, "reject": "a/2.wav"},
        {"prompt": "Rain", "chosen": "b/1.wav", "rejected": "b/2.wav", "votes": {"chosen": 2, "tie": 2}},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, second = read_alpaca(source, out_dir=tmp_path / "out")
    assert (first.text, first.chosen, first.rejected, first.preference) == ("A dog barks", "a/1", "a/2", 1.0)
    assert first.chosen_path == "../a/1.wav" and first.prompt_id.startswith("caption-")
    assert second.preference == 0.75 and second.votes == []


@pytest.mark.parametrize(
    "row, message",
    [
        ({"chosen": "a.wav", "rejected": "b.wav"}, "line 1, field 'prompt': required field is missing"),
        ({"prompt": "x", "chosen": 3, "rejected": "b.wav"}, "field 'chosen': must be the clip's audio path"),
        ({"prompt": "x", "chosen": "a.wav"}, "field 'rejected': required field is missing"),
        (
            {"prompt": "x", "chosen": "a.wav", "rejected": "b.wav", "votes": {"rejected": 2}},
            "more votes for the rejected clip",
        ),
        (
            {
                "prompt": "x",
                "chosen": "a.wav",
                "rejected": "b.wav",
                "votes": [{"annotator": "a", "choice": "meh"}],
            },
            "field 'votes.0.choice'",
        ),
    ],
)
def test_bad_rows_name_the_line_and_field(tmp_path, row, message):
    source = tmp_path / "alpaca.jsonl"
    source.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_alpaca(source, out_dir=tmp_path)


def test_only_pairs_go_to_audio_alpaca(tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"schema": "label/2", "sample_id": "a", "prompt_id": "p", "text": "t", "mean": 1.0}\n')
    code, text = run_cli(
        capsys, "data", "export", labels, "--format", "audio-alpaca", "--out", tmp_path / "o"
    )
    assert code == 1 and "audio-alpaca takes pairs, not labels" in text
    write_records(tmp_path / "pairs.jsonl", pairs())
    code, text = run_cli(
        capsys, "data", "export", tmp_path / "pairs.jsonl", "--format", "tango", "--out", tmp_path / "o"
    )
    assert code == 1 and "pairs export to audio-alpaca only" in text
    assert write_alpaca(tmp_path / "none.jsonl", [pairs()[1]], records_dir=tmp_path) == 0
