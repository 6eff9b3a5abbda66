"""The settings of ``baton generate`` (light to import: the command line reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option


@documented
@dataclass
class GenerateConfig:
    prompts: Path = option(Path("prompts.jsonl"), "Prompts file (from `baton prompts`).")
    out: Path = option(Path("generated"), "Output folder: audio/ and samples.jsonl go here.")
    backend: str = option("world", "Text-to-audio backend: world, tango, audioldm2, stable-audio.")
    model: str | None = option(None, "Model folder or hub id for the backend (default: the backend's own).")
    per_prompt: int = option(5, "Clips per prompt (BATON: 5).")
    seed: int = option(0, "Run seed; each clip's seed is derived from it, its prompt id and its index.")
    steps: int | None = option(None, "Sampling steps (default: the backend's recommendation).")
    guidance_scale: float | None = option(None, "Classifier-free guidance scale (default: the backend's).")
    duration: float | None = option(None, "Clip length in seconds (default: the backend's).")
    batch_size: int = option(8, "Clips generated together.")
    audio_format: Literal["wav", "flac"] = option("wav", "Audio file format.")
    save_latents: bool = option(
        True,
        "Keep each clip's sampled latents beside its audio (<clip>.latent.safetensors), for backends "
        "that hand them over (world, tango): fine-tuning then trains on what the model sampled, not on "
        "its audio encoded again.",
    )
    device: str = option("cpu", "Torch device.")
    dtype: Literal["float32", "float16", "bfloat16"] = option(
        "float32",
        "Weights of a real backend (tango, audioldm2, stable-audio): float16 and bfloat16 take half the "
        "memory of float32 (float16 is for GPUs). The world model runs in float32 only.",
    )
    progress: bool = option(True, "Show a progress bar.")
