"""``python tools/uv_install.py UV ARGS...``: ``UV pip install ARGS...`` into this Python's environment,
from the package sources pip is configured with.

uv reads neither pip.conf nor the ``PIP_*`` variables, so this passes pip's own settings on: index-url,
extra-index-url, find-links, no-index, constraint and trusted-host as flags; cert, proxy and timeout as
uv's variables (only where they are not set already). ``pip config list`` prints the configuration files
and the ``PIP_*`` variables as ``scope.key='value'`` lines; as in pip, ``[install]`` beats ``[global]``
and a variable beats both. With no pip configuration, uv uses PyPI as it would anyway.

``unsafe-best-match`` takes the highest version over every index and find-links folder, as pip does
(uv's default stops at the first index that has the package: an extra index holding only a CUDA torch
would win). Bytecode is compiled as pip does: under ``PYTHONDONTWRITEBYTECODE=1`` every process would
otherwise recompile torch and the rest on each import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

SCOPE_RANK = {"global": 0, "install": 1, ":env:": 2}
FLAGS = {
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}
VARIABLES = {
    "cert": ("SSL_CERT_FILE",),
    "proxy": ("HTTPS_PROXY", "HTTP_PROXY"),
    "timeout": ("UV_HTTP_TIMEOUT",),
    "default-timeout": ("UV_HTTP_TIMEOUT",),
}


def pip_settings() -> dict[str, str]:
    """pip's effective settings, by name, from ``pip config list``."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True, text=True
    ).stdout
    return parse_pip_config(listing)


def parse_pip_config(listing: str) -> dict[str, str]:
    """The settings of a ``pip config list`` listing, the strongest scope winning each name."""
    chosen: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, _, raw = line.partition("=")
        scope, _, name = key.rpartition(".")
        if scope in SCOPE_RANK and raw and SCOPE_RANK[scope] >= chosen.get(name, (-1, ""))[0]:
            chosen[name] = (SCOPE_RANK[scope], ast.literal_eval(raw))
    return {name: value for name, (_, value) in chosen.items()}


def uv_command(uv: str, settings: dict[str, str]) -> list[str]:
    command = [uv, "pip", "install", "--python", sys.executable, "--no-config"]
    command += ["--index-strategy", "unsafe-best-match", "--compile-bytecode"]
    index = settings.get("index-url", "").split()
    if index:
        command += ["--index-url", index[0]]
    if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        command.append("--no-index")
    for name, flag in FLAGS.items():
        for word in settings.get(name, "").split():
            command += [flag, word]
    return command


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python tools/uv_install.py UV PACKAGE...", file=sys.stderr)
        return 2
    settings = pip_settings()
    env = dict(os.environ)
    for name, variables in VARIABLES.items():
        for variable in variables:
            if settings.get(name):
                env.setdefault(variable, settings[name])
    return subprocess.run(uv_command(argv[0], settings) + argv[1:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
