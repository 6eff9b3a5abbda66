"""Lazy public names for a stage package: ``from baton.evaluation import frechet_distance`` works, and
``import baton.evaluation`` (as ``baton --help`` does) still imports nothing heavy.

In a package's ``__init__.py``::

    _EXPORTS = {"generate": ("baton.generation.run", "run")}   # name -> (module, attribute)
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level ``__getattr__`` that imports each export on first use, and the ``__dir__`` that lists them."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = exports[name]
        return getattr(importlib.import_module(module), attribute)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
