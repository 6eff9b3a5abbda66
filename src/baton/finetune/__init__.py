"""Fine-tuning a text-to-audio model on feedback: BATON's reward-weighted objective, Diffusion-DPO, SFT.

    from baton.finetune import FinetuneConfig, finetune

    model_dir = finetune(FinetuneConfig(method="baton", labels=Path("labels.jsonl"), out=Path("tuned")))

The losses are in :mod:`baton.finetune.losses`; the data rules in :mod:`baton.finetune.data`; the
recipe in :mod:`baton.finetune.run`; accelerate, LoRA, EMA and checkpoints in
:mod:`baton.finetune.engine`. Importing this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton.finetune.config import METHODS, FinetuneConfig

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["METHODS", "FinetuneConfig", "finetune"]


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune per ``config``; returns the tuned model's folder (see :func:`baton.finetune.run.finetune`)."""
    from baton.finetune.run import finetune as run

    return run(config)
