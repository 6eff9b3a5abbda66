"""The one protocol every text-to-audio backend implements.

A backend does two jobs:

* **generation**: ``generate(texts, seeds, ...)`` returns one float32 waveform per text, at
  ``sample_rate``. Each clip depends only on its own text and seed, never on what else is in the
  batch, so that resumed, re-batched and multi-process runs give the same clips.
* **what the fine-tuner needs**: frozen text conditioning (``encode_text``), audio to the space the
  denoiser works in (``encode_audio``), the trainable ``denoiser`` module, a call of it
  (``predict``), and the diffusers ``noise_scheduler`` that defines the forward process and the
  prediction target. ``save``/``load`` write and read the backend's own loadable format.

The fine-tuner never looks inside a backend beyond this, which is what lets BATON's objective and
Diffusion-DPO run unchanged on the world model, Tango, AudioLDM2 and Stable Audio.

A backend may also hand over what it sampled (:class:`SamplesLatents`): ``generate_with_latents``
returns the clips and the latents they were decoded from, in ``encode_audio``'s space, and
``latent_space`` fingerprints that space. ``baton generate`` then keeps the latents beside the audio
(:mod:`baton.generation.latents`), and fine-tuning trains on them instead of on the audio encoded
again. The world model and Tango do; the others are encoded from their audio.

A backend may let its text encoder train with the denoiser (:class:`TrainsTextEncoder`,
``baton finetune --train-text-encoder``): the world model and Tango do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass
class GenerationSettings:
    """How to sample. ``None`` means the backend's own recommended value."""

    steps: int | None = None
    guidance_scale: float | None = None
    duration: float | None = None
    negative_prompt: str = ""

    def resolved(self, defaults: GenerationSettings) -> GenerationSettings:
        return GenerationSettings(
            steps=self.steps if self.steps is not None else defaults.steps,
            guidance_scale=self.guidance_scale
            if self.guidance_scale is not None
            else defaults.guidance_scale,
            duration=self.duration if self.duration is not None else defaults.duration,
            negative_prompt=self.negative_prompt,
        )


@dataclass
class TextConditioning:
    """What the denoiser is conditioned on: token states [B, L, D] and their mask [B, L] (1 = token)."""

    hidden_states: torch.Tensor
    attention_mask: torch.Tensor | None = None
    extra: dict[str, Any] | None = None

    def index(self, rows: torch.Tensor | slice) -> TextConditioning:
        return TextConditioning(
            hidden_states=self.hidden_states[rows],
            attention_mask=None if self.attention_mask is None else self.attention_mask[rows],
            extra=None if self.extra is None else {k: v[rows] for k, v in self.extra.items()},
        )


@runtime_checkable
class T2ABackend(Protocol):
    name: str
    sample_rate: int
    default_settings: GenerationSettings

    # --- generation ---------------------------------------------------------------------------
    def generate(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> list[np.ndarray]:
        """One float32 mono waveform [N] per text; clip i depends only on texts[i] and seeds[i]."""
        ...

    # --- what fine-tuning needs -----------------------------------------------------------------
    @property
    def denoiser(self) -> torch.nn.Module:
        """The trainable network (a UNet or transformer); everything else stays frozen."""
        ...

    @property
    def noise_scheduler(self) -> Any:
        """A diffusers scheduler: ``add_noise``, ``config.prediction_type``, ``alphas_cumprod``."""
        ...

    def encode_text(self, texts: list[str]) -> TextConditioning:
        """Frozen text conditioning for a batch of texts."""
        ...

    def encode_audio(self, audio: list[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Clean training targets x0 for waveforms (mel frames or VAE latents), frozen."""
        ...

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        """The denoiser's output (epsilon, v or sample, as the scheduler's prediction type says)."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the model in this backend's own loadable format."""
        ...

    @classmethod
    def load(cls, path: str | Path | None, *, device: str = "cpu") -> T2ABackend:
        """Read a model written by ``save`` (or the backend's default / hub layout)."""
        ...


@runtime_checkable
class SamplesLatents(Protocol):
    """A backend that returns the latents its clips were decoded from (optional; see the module)."""

    @property
    def latent_space(self) -> str:
        """A fingerprint of the audio <-> latent mapping (what ``encode_audio`` computes): equal for two
        models exactly when latents of one are training targets for the other."""
        ...

    def generate_with_latents(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> tuple[list[np.ndarray], torch.Tensor]:
        """``generate``'s clips and the sampled latents ``[N, ...]`` (float32, CPU) they decode from."""
        ...


@runtime_checkable
class TrainsTextEncoder(Protocol):
    """A backend whose text encoder can train with the denoiser (optional; ``--train-text-encoder``).

    Its encoder starts frozen. Once its parameters require gradients, ``encode_text`` keeps them (when
    grad mode is on), and ``save`` writes the encoder's weights with the denoiser's.
    """

    @property
    def trainable_text_encoder(self) -> torch.nn.Module | None:
        """The module ``encode_text`` runs the captions through (``None``: it cannot train)."""
        ...


def text_gradients(encoder: torch.nn.Module) -> Any:
    """A context for ``encode_text``: gradients on while ``encoder`` trains (any parameter requires them)
    and grad mode is on, off otherwise (a frozen encoder records no graph)."""
    return torch.set_grad_enabled(
        torch.is_grad_enabled() and any(p.requires_grad for p in encoder.parameters())
    )
