"""Stage 1: multi-event prompts from an event vocabulary or a caption file.

The Python API (imported on first use, so that ``import baton.prompts`` stays light)::

    from baton.prompts import PromptsConfig, write_prompts

    records = write_prompts(PromptsConfig(task="integrity", n=50, out=Path("prompts.jsonl")))
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "PromptsConfig": ("baton.prompts.curate", "PromptsConfig"),
    "write_prompts": ("baton.prompts.curate", "run"),
    "curate_prompts": ("baton.prompts.curate", "curate_prompts"),
    "prompts_from_captions": ("baton.prompts.curate", "prompts_from_captions"),
    "load_vocabulary": ("baton.prompts.vocabulary", "load_vocabulary"),
    "list_vocabularies": ("baton.prompts.vocabulary", "list_vocabularies"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
