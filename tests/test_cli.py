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
