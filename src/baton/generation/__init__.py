"""Stage 2: generate several clips per prompt from a text-to-audio backend.

The Python API (imported on first use, so that ``import baton.generation`` does not import torch)::

    from baton.generation import GenerateConfig, generate

    samples = generate(GenerateConfig(prompts=Path("prompts.jsonl"), out=Path("gen"), per_prompt=2))

:func:`generate` is :func:`baton.generation.run.run`; :func:`clip_seed` gives a clip's seed.
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "GenerateConfig": ("baton.generation.run", "GenerateConfig"),
    "generate": ("baton.generation.run", "run"),
    "clip_seed": ("baton.generation.run", "clip_seed"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
