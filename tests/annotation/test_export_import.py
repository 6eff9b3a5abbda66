"""Export (baton labels, Tango/BATON JSON Lines, Label Studio) and import back, and the commands."""

from __future__ import annotations

import json

import pytest

from baton.annotation.config import ImportConfig
from baton.annotation.run import export_labels, import_labels
from baton.annotation.store import Answer
from baton.artifacts import LabelRecord, read_records
from baton.cli import main
from baton.errors import InputError

from .helpers import make_samples, sqlite_store

# Votes by person on the first clips (p000-0, p000-1, p001-0) in the order they are handed out.
VOTES = {"ann": [1, 1, 0], "bob": [1, 0, 0], "cat": [0, 0, 1]}


def labelled_store(tmp_path):
    store = sqlite_store(tmp_path, labels_per_clip=3)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=2))
    for name, values in VOTES.items():
        person, _ = store.add_annotator(name)
        for value in values:
            store.submit_label(person, store.next_clip(person).uid, Answer(value, seconds=2.0))
    return store, f"sqlite:///{tmp_path / 'labels.db'}"


def test_baton_export_has_every_vote_the_majority_and_the_mean(tmp_path):
    _, db = labelled_store(tmp_path)
    result = export_labels(db, tmp_path / "out" / "labels.jsonl")
    assert (result.clips, result.votes) == (3, 9)
    records = {r.sample_id: r for r in read_records(tmp_path / "out" / "labels.jsonl", LabelRecord)}
    assert list(records) == ["p000-0", "p000-1", "p001-0"]
    first = records["p000-0"]
    assert [(v.annotator, v.value, v.seconds) for v in first.votes] == [
        ("ann", 1.0, 2.0),
        ("bob", 1.0, 2.0),
        ("cat", 0.0, 2.0),
    ]
    assert (first.label, first.mean) == (1, pytest.approx(2 / 3))
    assert (records["p000-1"].label, records["p001-0"].label) == (0, 0)  # 1 of 3 yes each
    # Audio paths are relative to the labels file's folder.
    assert first.path == "../run/audio/p000-0.wav"
    assert (tmp_path / "out" / first.path).is_file()
    assert export_labels(db, tmp_path / "few.jsonl", min_votes=4).clips == 0


def test_tango_export_writes_baton_json_lines(tmp_path, capsys):
    _, db = labelled_store(tmp_path)
    export_labels(db, tmp_path / "labels.json", format="tango")
    # Still written, with a warning: other tools' formats are `baton data export`'s.
    said = " ".join(capsys.readouterr().err.split())
    assert "--format tango is deprecated in `baton annotate export`" in said
    assert "baton data export labels.jsonl --format tango" in said
    rows = [json.loads(line) for line in (tmp_path / "labels.json").read_text().splitlines()]
    assert len(rows) == 3
    assert {"dataset", "location", "captions", "feedback"} <= set(rows[0])
    assert [row["feedback"] for row in rows] == [1, 0, 0]
    assert rows[0]["captions"] == "A bell rings and a dog barks (p000)"


def test_label_studio_round_trip_keeps_every_vote(tmp_path):
    _, db = labelled_store(tmp_path)
    export_labels(db, tmp_path / "ls.json", format="label-studio")
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert len(tasks) == 3 and len(tasks[0]["annotations"]) == 3

    (tmp_path / "fresh").mkdir()
    fresh = sqlite_store(tmp_path / "fresh")
    new_db = f"sqlite:///{tmp_path / 'fresh' / 'labels.db'}"
    counts = import_labels(ImportConfig(input=tmp_path / "ls.json", db=new_db))
    assert (counts.votes, counts.new_clips, counts.new_annotators) == (9, 3, 3)
    votes = sorted((r.annotator, r.clip.sample_id, r.label.value) for r in fresh.all_labels())
    original = sorted(
        (v.annotator, r.sample_id, int(v.value))
        for r in read_records(_baton_export(db, tmp_path), LabelRecord)
        for v in r.votes
    )
    assert votes == original


def _baton_export(db, tmp_path):
    export_labels(db, tmp_path / "labels.jsonl")
    return tmp_path / "labels.jsonl"


def test_baton_import_matches_clips_counts_duplicates_and_conflicts(tmp_path):
    store, db = labelled_store(tmp_path)
    path = _baton_export(db, tmp_path)
    again = import_labels(ImportConfig(input=path, db=db))
    assert (again.votes, again.duplicates, again.conflicts, again.new_clips) == (0, 9, [], 0)
    # The same person voting differently on the same clip is a conflict, left out.
    records = read_records(path, LabelRecord)
    changed = records[0].votes[0].model_copy(update={"value": 0.0})
    records[0] = LabelRecord.from_votes(
        [changed],
        **records[0].model_dump(
            include={"sample_id", "prompt_id", "text", "events", "task", "index", "path"}
        ),
    )
    from baton.artifacts import write_records

    write_records(tmp_path / "changed.jsonl", records[:1])
    result = import_labels(ImportConfig(input=tmp_path / "changed.jsonl", db=db))
    assert result.votes == 0 and result.conflicts == ["p000-0: 'ann' voted 1 here and 0 in the file"]
    assert len(store.all_labels()) == 9
    with pytest.raises(InputError, match="no such file"):
        import_labels(ImportConfig(input=tmp_path / "missing.jsonl", db=db))


@pytest.mark.parametrize(
    ("relative", "counts"),
    [("data/HA/2label_HA.json", (7, 4, 3)), ("src/rewardmodel/human_3label_test.json", (3, 1, 2))],
)
def test_importing_the_shapes_of_batons_human_labels(relative, counts, tmp_path):
    from tests.shapes import shape_file

    store = sqlite_store(tmp_path)
    result = import_labels(ImportConfig(input=shape_file(relative), db=f"sqlite:///{tmp_path / 'labels.db'}"))
    assert (result.votes, result.new_clips) == (counts[0], counts[0])
    values = [row.label.value for row in store.all_labels()]
    assert (values.count(1), values.count(0)) == counts[1:]
    person, _ = store.add_annotator("ann")
    assert store.next_clip(person) is None  # no audio here: never handed out for labelling


def test_importing_batons_released_human_labels(baton_data, tmp_path):
    store = sqlite_store(tmp_path)
    path = baton_data / "data" / "HA" / "2label_HA.json"
    counts = import_labels(
        ImportConfig(input=path, db=f"sqlite:///{tmp_path / 'labels.db'}", task="integrity")
    )
    # The released counts: 1094 labelled clips, 686 ones and 408 zeros.
    assert (counts.votes, counts.new_clips) == (1094, 1094)
    values = [row.label.value for row in store.all_labels()]
    assert (values.count(1), values.count(0)) == (686, 408)
    # Imported clips have no audio here: they are never handed out for labelling.
    person, _ = store.add_annotator("ann")
    assert store.next_clip(person) is None


def run_cli(*args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    return exit_.value.code, captured.out + captured.err


def test_the_commands(tmp_path, capsys):
    samples = make_samples(tmp_path / "run", prompts=2, per_prompt=2)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    code, out = run_cli("annotate", "add-annotator", "ann", "--db", db, capsys=capsys)
    assert code == 1 and "no such database" in out  # serve makes the database (see test_commands)
    sqlite_store(tmp_path).db.dispose()
    code, out = run_cli(
        "annotate", "add-annotator", "ann", "--db", db, "--url", "http://lab:9000", capsys=capsys
    )
    assert code in (0, None) and out.strip().startswith("http://lab:9000/login?token=")
    code, out = run_cli("annotate", "add-annotator", "ann", "--db", db, capsys=capsys)
    assert code == 2 and "already exists" in out
    code, out = run_cli(
        "annotate", "simulate", "--samples", str(samples), "--db", db, "--annotators", "3", "--noise", "0.2",
        "--judge", "settings", "--no-progress", capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "no ground truth" in out
    code, out = run_cli("annotate", "export", "--db", db, "--out", str(tmp_path / "l.jsonl"), capsys=capsys)
    assert code in (0, None) and "0 clips, 0 votes" in out
    code, out = run_cli("annotate", "export", "--db", db, "--format", "csv", capsys=capsys)
    assert code == 2 and "format" in out
    code, out = run_cli("annotate", "mos", "--db", db, capsys=capsys)
    assert code in (0, None) and "no ratings yet" in out
    code, out = run_cli("annotate", "serve", "--db", f"sqlite:///{tmp_path / 'empty.db'}", capsys=capsys)
    assert code == 1 and "holds no clips" in out
    code, out = run_cli("annotate", "import", str(tmp_path / "nope.json"), "--db", db, capsys=capsys)
    assert code == 1 and "no such file" in out
