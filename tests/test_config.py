from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from baton.config import field_help, load_config, option, plain_help
from baton.errors import InputError


@dataclass
class ToyConfig:
    n: int = option(10, "How many.")
    name: str = option("x", "A name.")
    out: Path = option(Path("out"), "Where to write.")
    tags: list[str] = option(["a"], "Tags.")


def test_defaults_file_and_flags_in_that_order(tmp_path):
    assert load_config(ToyConfig) == ToyConfig()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n: 5\nname: from-file\nout: runs/a\n")
    config = load_config(ToyConfig, cfg, {"name": "from-flag", "n": None})
    assert (config.n, config.name, config.out) == (5, "from-flag", Path("runs/a"))


def test_list_default_is_not_shared():
    a, b = ToyConfig(), ToyConfig()
    a.tags.append("b")
    assert b.tags == ["a"]


def test_unknown_setting_suggests_the_close_one(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("nme: oops\n")
    with pytest.raises(InputError, match="did you mean 'name'") as err:
        load_config(ToyConfig, cfg)
    assert err.value.field == "nme" and err.value.path == str(cfg)


def test_wrong_type_names_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n: many\n")
    with pytest.raises(InputError) as err:
        load_config(ToyConfig, cfg)
    assert err.value.field == "n"


def test_bad_yaml_names_the_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n: 1\nname: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(ToyConfig, cfg)
    cfg.write_text("- a list\n")
    with pytest.raises(InputError, match="mapping"):
        load_config(ToyConfig, cfg)


def test_field_help_shows_the_default():
    assert field_help(ToyConfig, "n") == "How many. (default: 10)"
    assert field_help(ToyConfig, "out") == "Where to write. (default: out)"
    assert field_help(ToyConfig, "tags") == "Tags. (default: a)"


@dataclass
class SwitchConfig:
    required: int = option(help="No default.")
    on: bool = option(False, "A switch.")
    model: str | None = option(None, "A model (default: the backend's).")
    empty: list[str] = option([], "Nothing yet.")
    mode: Literal["soft", "hard"] = option("hard", "How.")


def test_field_help_leaves_out_switches_none_and_missing():
    assert field_help(SwitchConfig, "on") == "A switch."
    assert field_help(SwitchConfig, "model") == "A model (default: the backend's)."
    assert field_help(SwitchConfig, "empty") == "Nothing yet. (default: none)"
    assert field_help(SwitchConfig, "required") == "No default."
    assert field_help(SwitchConfig, "mode") == "How. (one of: soft, hard; default: hard)"
    assert plain_help(SwitchConfig, "mode") == "How."
    with pytest.raises(KeyError):
        field_help(SwitchConfig, "missing")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    from baton.cache import cache_dir

    monkeypatch.delenv("BATON_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "baton"
    monkeypatch.setenv("BATON_CACHE", str(tmp_path / "bc"))
    assert cache_dir() == tmp_path / "bc"
    assert cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("BATON_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "baton"


def test_a_bad_value_names_the_option_or_the_file_it_came_from(tmp_path, capsys):
    from baton.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"schema": "prompt/1", "id": "a", "text": "a beep"}\n')

    def error(*argv: str, code: int = 2) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        assert exit_.value.code == code  # 2: a usage error (a flag); 1: bad input (a file)
        return " ".join(capsys.readouterr().err.split())

    # The option's name differs from the setting's: both are named.
    said = error("generate", "--prompts", str(prompts), "--format", "mp9", "--out", str(tmp_path / "g"))
    assert "option --format, field 'audio_format': Input should be 'wav' or 'flac'" in said
    # A config's own check (__post_init__) too, by its first long option.
    said = error("finetune", "--lr=-1", "--labels", "x.jsonl", "--out", str(tmp_path / "f"))
    assert "option --lr, field 'learning_rate': must be > 0" in said
    config = tmp_path / "c.yaml"
    config.write_text("learning_rate: -1\n")
    said = error(
        "finetune", "--config", str(config), "--labels", "x.jsonl", "--out", str(tmp_path / "f"), code=1
    )
    assert f"{config}, field 'learning_rate': must be > 0" in said
    assert not (tmp_path / "g").exists() and not (tmp_path / "f").exists()
