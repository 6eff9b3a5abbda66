"""The Makefile's uv install passes pip's configured package sources on to uv."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "uv_install.py"
spec = importlib.util.spec_from_file_location("uv_install", SCRIPT)
uv_install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_install)


def test_the_strongest_scope_wins_each_setting() -> None:
    listing = "\n".join(
        [
            ":env:.find-links='/opt/wheels'",
            "global.find-links='/elsewhere'",
            "global.extra-index-url='file:///a/simple file:///b/simple'",
            "install.index-url='https://mirror/simple'",
            "global.index-url='https://ignored/simple'",
            "global.cert='/etc/ca.crt'",
        ]
    )
    assert uv_install.parse_pip_config(listing) == {
        "find-links": "/opt/wheels",
        "extra-index-url": "file:///a/simple file:///b/simple",
        "index-url": "https://mirror/simple",
        "cert": "/etc/ca.crt",
    }


def test_sources_become_uv_flags() -> None:
    settings = {
        "index-url": "https://mirror/simple",
        "extra-index-url": "file:///a/simple file:///b/simple",
        "find-links": "/opt/wheels",
        "constraint": "/etc/c.txt",
        "no-index": "true",
    }
    command = uv_install.uv_command("uv", settings)
    assert command[:6] == ["uv", "pip", "install", "--python", sys.executable, "--no-config"]
    pairs = list(zip(command, command[1:], strict=False))
    assert ("--index-url", "https://mirror/simple") in pairs
    assert ("--extra-index-url", "file:///a/simple") in pairs
    assert ("--extra-index-url", "file:///b/simple") in pairs
    assert ("--find-links", "/opt/wheels") in pairs
    assert ("--constraint", "/etc/c.txt") in pairs
    assert "--no-index" in command


def test_no_pip_configuration_means_plain_pypi() -> None:
    assert uv_install.parse_pip_config("") == {}
    command = uv_install.uv_command("uv", {})
    assert not any(flag.startswith(("--index-url", "--extra-index-url", "--find-links")) for flag in command)
