"""Stage 3: people label clips in a browser; agreement statistics; import and export of labels.

The Python API (imported on first use, so that ``import baton.annotation`` stays light)::

    from baton.annotation import SimulateConfig, export_labels
    from baton.annotation.simulate import simulate

    result = simulate(SimulateConfig(samples=["run/samples.jsonl"], db="sqlite:///run/labels.db",
                                     annotators=5, noise=0.1))
    export_labels("sqlite:///run/labels.db", "run/labels.jsonl")
"""

from __future__ import annotations

from typing import Any

# (``simulate`` and ``mos`` are not here: submodules of those names would shadow them.)
_EXPORTS = {
    "ServeConfig": "baton.annotation.config",
    "SimulateConfig": "baton.annotation.config",
    "ExportConfig": "baton.annotation.config",
    "ImportConfig": "baton.annotation.config",
    "MosConfig": "baton.annotation.config",
    "GoldConfig": "baton.annotation.config",
    "PairQueue": "baton.annotation.pairs",
    "dawid_skene": "baton.annotation.aggregate",
    "world_gold": "baton.annotation.gold",
    "AddAnnotatorConfig": "baton.annotation.config",
    "SimulationResult": "baton.annotation.simulate",
    "serve": "baton.annotation.run",
    "export": "baton.annotation.run",
    "export_labels": "baton.annotation.run",
    "import_labels": "baton.annotation.run",
    "add_annotator": "baton.annotation.run",
    "open_store": "baton.annotation.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'baton.annotation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
