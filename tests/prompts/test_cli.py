from __future__ import annotations

import pytest

from baton.artifacts import PromptRecord, read_records
from baton.cli import main


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(["prompts", *args])
    return exit_.value.code


def test_prompts_command_writes_a_file_and_a_summary(tmp_path, capsys):
    out = tmp_path / "prompts.jsonl"
    code = _run(
        ["--vocab", "audiocaps200", "--task", "temporal", "--n", "80", "--seed", "7", "--out", str(out)]
    )
    assert code == 0
    records = read_records(out, PromptRecord)
    assert len(records) == 80 and all(r.task == "temporal" for r in records)
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "80 temporal prompts" in err
    assert "200 of 200 events of 'audiocaps200' used (1 to 2 times each)" in err  # 240 slots
    assert f"written to {out}" in err


def test_config_file_and_flags(tmp_path):
    config = tmp_path / "prompts.yaml"
    out = tmp_path / "p.jsonl"
    config.write_text(f"task: integrity\nn: 9\nseed: 1\nid_prefix: cfg\nout: {out}\n", encoding="utf-8")
    assert _run(["--config", str(config), "--n", "4"]) == 0  # the flag wins over the file
    assert [r.id for r in read_records(out, PromptRecord)] == ["cfg-0000", "cfg-0001", "cfg-0002", "cfg-0003"]


def test_list_vocabs(capsys):
    assert _run(["--list-vocabs"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("audiocaps200\t200 events\t") for line in out.splitlines())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--task", "pairs"], "field 'task'"),
        (["--n", "5"], "choose a task"),
        (["--task", "integrity", "--vocab", "nowhere"], "no built-in vocabulary or file named 'nowhere'"),
        (["--task", "integrity", "--n", "20000"], "only 19900 distinct sets of 2 events"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, words):
    assert _run([*args, "--out", str(tmp_path / "p.jsonl")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and words in err
    assert "Traceback" not in err
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.parametrize("prefix", ["../up", "a b", "a/b", ".hidden", "x" * 200])
def test_an_id_prefix_that_cannot_name_files_is_refused(tmp_path, capsys, prefix):
    out = tmp_path / "p.jsonl"
    assert _run(["--task", "integrity", "--n", "3", "--id-prefix", prefix, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "field 'id_prefix'" in err and "names files" in err and "Traceback" not in err
    assert not out.exists()
