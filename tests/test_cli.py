import os
import subprocess
import sys

import pytest

from baton.cli import main


def test_help_lists_the_stages(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("prompts", "generate", "annotate", "world", "data", "demo"):
        assert command in out


def test_help_does_not_import_heavy_libraries():
    # The command modules import typer and their configs alone (benchmarks/bench_cli.py times it);
    # pydantic (the records) and rich's progress bars wait for a command that runs.
    code = (
        "import sys\n"
        "from baton.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'numpy', 'scipy', 'sqlalchemy', 'fastapi',"
        " 'pydantic', 'baton.artifacts') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("baton ")


def test_help_shows_the_defaults_of_settings(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["prompts", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: prompts.jsonl)" in out


COMMANDS = [
    [], ["prompts"], ["generate"], ["annotate"], ["annotate", "serve"], ["annotate", "export"],
    ["reward"], ["reward", "train"], ["reward", "score"], ["finetune"], ["evaluate"], ["report"],
    ["demo"], ["world"], ["world", "build"], ["data"], ["data", "import"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "baton")
def test_dash_h_is_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "-h"])
    assert exit_.value.code == 0
    assert "Usage: baton" in " ".join(capsys.readouterr().out.split())


def test_a_usage_error_exits_2_and_a_bad_file_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prompts", "--no-such-option"])
    assert exit_.value.code == 2  # typer's own: the command line cannot be parsed
    with pytest.raises(SystemExit) as exit_:
        main(["prompts", "--task", "integrity", "--n", "0", "--out", str(tmp_path / "p.jsonl")])
    assert exit_.value.code == 2  # a value the settings refuse
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--prompts", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "g")])
    assert exit_.value.code == 1  # bad input: the file is not there
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: {tmp_path / 'absent.jsonl'}: no such prompt file" in err and "Traceback" not in err


def _write_prompts(path):
    path.write_text('{"schema": "prompt/1", "id": "a", "text": "a beep", "task": "single"}\n')
    return path


def _unwritable_outputs(folder, prompts):
    """Commands whose output lies in ``folder``, where nothing can be written."""
    feedback = prompts.parent / "feedback.json"
    feedback.write_text(
        '{"dataset": "x", "location": "a/0001_A beep_0.wav", "captions": "A beep", "feedback": 1}\n'
    )
    return [
        ["prompts", "--task", "integrity", "--n", "2", "--out", str(folder / "p.jsonl")],
        ["prompts", "--task", "integrity", "--n", "2", "--out", str(folder / "sub" / "p.jsonl")],
        ["generate", "--prompts", str(prompts), "--per-prompt", "1", "--out", str(folder / "gen")],
        ["data", "import", str(feedback), "--out", str(folder / "labels.jsonl")],
    ]


def _one_line_errors(commands, capsys, path):
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            main(command)
        err = " ".join(capsys.readouterr().err.split())
        assert exit_.value.code == 1, (command, err)
        assert err.startswith(f"error: {path}") and "Traceback" not in err, (command, err)
        yield err


def test_an_output_under_a_file_is_one_line_naming_the_path(tmp_path, capsys):
    prompts = _write_prompts(tmp_path / "prompts.jsonl")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    commands = _unwritable_outputs(blocker, prompts)
    for err in _one_line_errors(commands, capsys, blocker):
        assert "is a file, where a folder is needed" in err or "Not a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_is_one_line_naming_the_path(tmp_path, capsys):
    prompts = _write_prompts(tmp_path / "prompts.jsonl")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        for err in _one_line_errors(_unwritable_outputs(read_only, prompts), capsys, read_only):
            assert "Permission denied" in err
    finally:
        read_only.chmod(0o700)


def test_baton_traceback_shows_the_traceback(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("BATON_TRACEBACK", "1")
    with pytest.raises(FileExistsError):
        main(["prompts", "--task", "integrity", "--n", "2", "--out", str(blocker / "p.jsonl")])
