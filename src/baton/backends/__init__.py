"""Text-to-audio backends behind one protocol (see :mod:`baton.backends.base`).

``load_backend("world")`` returns the built-in sound world's model; each real backend (``tango``,
``audioldm2``, ``stable-audio``) is one module here. The mapping below only names modules, so that
nothing heavy is imported until a backend is asked for.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from baton.errors import InputError

if TYPE_CHECKING:
    from baton.backends.base import T2ABackend

BACKENDS: dict[str, str] = {
    "world": "baton.backends.world:WorldBackend",
}


def load_backend(name: str, model: str | Path | None = None, *, device: str = "cpu") -> T2ABackend:
    """Load backend ``name`` from ``model`` (a folder, a hub id, or ``None`` for its default)."""
    if name not in BACKENDS:
        raise InputError(f"unknown backend '{name}'; choose one of: {', '.join(sorted(BACKENDS))}", field="backend")
    module_name, _, class_name = BACKENDS[name].partition(":")
    backend_cls = getattr(importlib.import_module(module_name), class_name)
    return backend_cls.load(model, device=device)
