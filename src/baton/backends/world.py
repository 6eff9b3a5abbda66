"""The built-in sound world's T2A model behind the backend protocol (:mod:`baton.backends.base`).

``WorldBackend.load(None)`` reads the model ``baton world build`` cached at
``<cache>/world/t2a``; ``load(folder)`` reads one written by :meth:`WorldBackend.save` (or by
:meth:`baton.world.model.WorldT2A.save`). Generation: DPM-Solver++ with classifier-free guidance in
one batched pass, then Griffin-Lim, each clip inverted with its own seed; clip i depends only on
``texts[i]`` and ``seeds[i]``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from baton.audio import resample
from baton.backends.base import GenerationSettings, TextConditioning, text_gradients
from baton.cache import cache_dir
from baton.errors import InputError
from baton.fingerprints import fingerprint_of
from baton.world.manifest import other_worlds_note
from baton.world.model import CONFIG_FILE, WorldT2A
from baton.world.spec import CLIP_SECONDS, SAMPLE_RATE
from baton.world.t2a import T2ATrainConfig

if TYPE_CHECKING:
    from collections.abc import Sequence


def default_model_dir() -> Path:
    """Where ``baton world build`` puts the world T2A model."""
    return cache_dir() / "world" / "t2a"


class WorldBackend:
    """The world T2A model: generation, and what fine-tuning needs (text encoder frozen unless asked)."""

    name = "world"
    sample_rate = SAMPLE_RATE
    # Clips generated per denoiser batch; any split gives the same clips.
    max_batch = 32

    def __init__(self, model: WorldT2A) -> None:
        self.model = model
        self.model.text_encoder.requires_grad_(False)
        self.default_settings = GenerationSettings(
            steps=model.config.default_steps,
            guidance_scale=model.config.default_guidance,
            duration=CLIP_SECONDS,
            negative_prompt="",
        )

    # --- generation ---------------------------------------------------------------------------

    def generate(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> list[np.ndarray]:
        """One float32 waveform [64000] at 16 kHz per text; clip i depends only on texts[i] and seeds[i]."""
        return self.generate_with_latents(texts, seeds, settings)[0]

    def generate_with_latents(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> tuple[list[np.ndarray], torch.Tensor]:
        """:meth:`generate`'s clips and the normalised mel frames [N, 64, 251] they were inverted from."""
        settings = (settings or GenerationSettings()).resolved(self.default_settings)
        if len(texts) != len(seeds):
            raise InputError(f"{len(texts)} texts but {len(seeds)} seeds", field="seeds")
        if abs(float(settings.duration) - CLIP_SECONDS) > 1e-6:
            raise InputError(
                f"the world model makes {CLIP_SECONDS:g} s clips only, not {settings.duration:g} s",
                field="duration",
            )
        if settings.steps < 1:
            raise InputError(f"must be at least 1, got {settings.steps}", field="steps")
        was_training = self.model.training
        self.model.eval()
        clips: list[np.ndarray] = []
        latents: list[torch.Tensor] = []
        try:
            for start in range(0, len(texts), self.max_batch):
                batch_texts = list(texts[start : start + self.max_batch])
                batch_seeds = [int(s) for s in seeds[start : start + self.max_batch]]
                frames = self.model.sample(
                    batch_texts,
                    batch_seeds,
                    steps=settings.steps,
                    guidance_scale=settings.guidance_scale,
                    negative_prompt=settings.negative_prompt,
                )
                clips.extend(self.model.frames_to_audio(frames, batch_seeds))
                latents.append(frames.float().cpu())
        finally:
            self.model.train(was_training)
        if not latents:
            return clips, torch.zeros(0, self.model.config.mel.n_mels, self.model.config.n_frames)
        return clips, torch.cat(latents)

    @property
    def latent_space(self) -> str:
        """The mel settings, clip length and per-band normalisation that turn audio into frames."""
        config = self.model.config
        return fingerprint_of(
            "world-frames",
            dataclasses.asdict(config.mel),
            config.clip_samples,
            self.model.mel_mean.cpu().numpy().tobytes(),
            self.model.mel_std.cpu().numpy().tobytes(),
        )

    # --- what fine-tuning needs -----------------------------------------------------------------

    @property
    def snr_floor(self) -> float:
        """The noisiest steps' smallest x0-loss weight in this model's pretraining (its training.json;
        :class:`baton.world.t2a.T2ATrainConfig`'s default if it has none). Fine-tuning's min-snr
        weighting keeps it unless told otherwise."""
        trained = (self.model.report or {}).get("config", {}).get("snr_floor")
        if trained is None:
            trained = T2ATrainConfig().snr_floor
        return float(trained)

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.model.denoiser

    @property
    def trainable_text_encoder(self) -> torch.nn.Module | None:
        return self.model.text_encoder

    @property
    def noise_scheduler(self) -> Any:
        return self.model.noise_scheduler

    def encode_text(self, texts: list[str]) -> TextConditioning:
        """Token states [B, L, D] of the text encoder and their mask [B, L] (True = token).

        With gradients only while the encoder trains (its parameters require them; see
        :class:`baton.backends.base.TrainsTextEncoder`) and grad mode is on.
        """
        with text_gradients(self.model.text_encoder):
            states, mask = self.model.encode_text(list(texts))
        return TextConditioning(hidden_states=states, attention_mask=mask)

    @torch.no_grad()
    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Normalised log-mel frames [B, 64, 251] of waveforms (resampled to 16 kHz, cut or padded to 4 s)."""
        samples = self.model.config.clip_samples
        batch = np.zeros((len(audio), samples), dtype=np.float32)
        for row, wave in enumerate(audio):
            wave = np.asarray(wave, dtype=np.float32)
            if wave.ndim != 1:
                raise InputError(
                    f"clip {row}: expected mono audio [samples], got shape {wave.shape}", field="audio"
                )
            if sample_rate != self.sample_rate:
                wave = resample(wave, sample_rate, self.sample_rate)
            batch[row, : min(samples, len(wave))] = wave[:samples]
        return self.model.encode_audio(torch.from_numpy(batch))

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        """The denoiser's output for noisy frames [B, 64, 251] at ``timesteps`` [B].

        What it predicts (x0, v or epsilon) is ``noise_scheduler.config.prediction_type``; the world
        model built by ``baton world build`` predicts x0 ("sample").
        """
        return self.model.predict(noisy, timesteps, text.hidden_states, text.attention_mask)

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        self.model.save(path)

    @classmethod
    def load(cls, path: str | Path | None, *, device: str = "cpu") -> WorldBackend:
        """Read a saved world model; ``None`` means the one ``baton world build`` cached."""
        if path is None:
            folder = default_model_dir()
            if not (folder / CONFIG_FILE).exists():
                raise InputError(
                    "the world T2A model is not built yet: run `baton world build` first"
                    + other_worlds_note(),
                    path=folder,
                )
            path = folder
        return cls(WorldT2A.load(path, device=device))
