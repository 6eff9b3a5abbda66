"""Stage 3: people label clips in a browser; agreement statistics; import and export of labels.

The Python API (imported on first use, so that ``import baton.annotation`` stays light)::

    from baton.annotation import SimulateConfig, export_labels
    from baton.annotation.simulate import simulate

    result = simulate(SimulateConfig(samples=["run/samples.jsonl"], db="sqlite:///run/labels.db",
                                     annotators=5, noise=0.1))
    export_labels("sqlite:///run/labels.db", "run/labels.jsonl")

Modules: :mod:`.config` (the commands' settings), :mod:`.db` and :mod:`.models` (the database and its
tables), :mod:`.store` (everything the app does to the database, one module per concern),
:mod:`.pairs` (A/B pairs), :mod:`.rounds` (active selection), :mod:`.app` and :mod:`.routes` (the web
app, one router per area), :mod:`.server`, :mod:`.run` (the Python API behind the commands),
:mod:`.simulate`, :mod:`.aggregate`, :mod:`.agreement`, :mod:`.mos`, :mod:`.dashboard`, :mod:`.gold`,
:mod:`.peaks`, the stage's commands (:mod:`.cli`).
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use. (``simulate`` and ``mos`` are not here:
# submodules of those names would shadow them.)
_EXPORTS = {
    "ServeConfig": ("baton.annotation.config", "ServeConfig"),
    "SimulateConfig": ("baton.annotation.config", "SimulateConfig"),
    "ExportConfig": ("baton.annotation.config", "ExportConfig"),
    "ImportConfig": ("baton.annotation.config", "ImportConfig"),
    "MosConfig": ("baton.annotation.config", "MosConfig"),
    "GoldConfig": ("baton.annotation.config", "GoldConfig"),
    "AddAnnotatorConfig": ("baton.annotation.config", "AddAnnotatorConfig"),
    "PairQueue": ("baton.annotation.pairs", "PairQueue"),
    "dawid_skene": ("baton.annotation.aggregate", "dawid_skene"),
    "world_gold": ("baton.annotation.gold", "world_gold"),
    "SimulationResult": ("baton.annotation.simulate", "SimulationResult"),
    "serve": ("baton.annotation.run", "serve"),
    "export": ("baton.annotation.run", "export"),
    "export_labels": ("baton.annotation.run", "export_labels"),
    "import_labels": ("baton.annotation.run", "import_labels"),
    "add_annotator": ("baton.annotation.run", "add_annotator"),
    "open_store": ("baton.annotation.run", "open_store"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
