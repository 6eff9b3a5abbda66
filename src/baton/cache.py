"""Where baton keeps what it builds once and reuses: the sound world, encoder embeddings.

``$BATON_CACHE`` if set, else ``$XDG_CACHE_HOME/baton``, else ``~/.cache/baton``. A command's
``--cache`` option overrides all three. Nothing else outside a run's output folder is written.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(override: str | Path | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get("BATON_CACHE"):
        return Path(os.environ["BATON_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "baton"
