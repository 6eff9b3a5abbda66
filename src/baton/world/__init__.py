"""The built-in sound world: synthesizer, corpus, world T2A model, world CLAP and event detectors.

Two floors. The world's models and data (``spec``, ``synth``, ``compose``, ``captions``, ``corpus``,
``tokenizer``, ``model``, ``t2a``, ``pretrain``, ``clap``, ``detectors``, ``manifest``, ``shipping``,
``report``, ``config``) stand on the ground floor alone and import nothing from the backends or
the stages. Building a world (:mod:`.build`) and assessing one (:mod:`.assess`) generate clips and
evaluate them, so they, and the ``baton world`` command (:mod:`.cli`), stand above the stages with
the demo (tests/test_layers.py keeps it so).

The Python API (imported on first use)::

    from baton.world import WorldBuildConfig, build_world, world_dir

    manifest = build_world(WorldBuildConfig(quick=True))
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use. (``build`` is the submodule.)
_EXPORTS = {
    "WorldBuildConfig": ("baton.world.config", "WorldBuildConfig"),
    "ShipConfig": ("baton.world.config", "ShipConfig"),
    "build_world": ("baton.world.build", "build"),
    "world_dir": ("baton.world.manifest", "world_dir"),
    "read_manifest": ("baton.world.manifest", "read_manifest"),
    "assess_world_model": ("baton.world.assess", "assess_world_model"),
    "ship_world": ("baton.world.shipping", "ship_world"),
    "install_shipped": ("baton.world.shipping", "install_shipped"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
