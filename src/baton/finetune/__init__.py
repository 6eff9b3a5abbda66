"""Fine-tuning a text-to-audio model on feedback: BATON's reward-weighted objective, Diffusion-DPO, SFT.

    from baton.finetune import FinetuneConfig, finetune

    model_dir = finetune(FinetuneConfig(method="baton", labels=Path("labels.jsonl"), out=Path("tuned")))

The losses are in :mod:`baton.finetune.losses`; the data rules in :mod:`baton.finetune.data`; the
recipe in :mod:`baton.finetune.run`; accelerate, LoRA, EMA and checkpoints in
:mod:`baton.finetune.engine`. Names are imported on first use, so that importing this package does not import torch.
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "METHODS": ("baton.finetune.config", "METHODS"),
    "FinetuneConfig": ("baton.finetune.config", "FinetuneConfig"),
    "finetune": ("baton.finetune.run", "finetune"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
