"""Stable Audio Open through diffusers' ``StableAudioPipeline``, behind the backend protocol.

Generation is the pipeline's own ``__call__`` (classifier-free guidance in one batched DiT pass)
with one ``torch.Generator`` per clip: the starting latents come from it, and the scheduler's
Brownian-tree noise (``CosineDPMSolverMultistepScheduler``, which needs ``torchsde``) is seeded per
clip from it, so clip i depends only on its text and seed. The stereo 44.1 kHz output is averaged
to mono, as every baton stage works on mono clips.

Training hooks. Stable Audio Open is a v-objective model in continuous time: for t in (0, 1],
``x_t = cos(pi t / 2) x0 + sin(pi t / 2) noise``, the DiT sees t itself and predicts
``v = cos(pi t / 2) noise - sin(pi t / 2) x0`` (the pipeline's scheduler writes the same model in
EDM form, sigma = tan(pi t / 2), sigma_data = 1). :func:`v_diffusion_scheduler` puts that process
on a 1000-step grid, t_k = (k + 1) / 1000, as a diffusers ``DDPMScheduler`` whose
``alphas_cumprod[k] = cos^2(pi t_k / 2)``, so a fine-tuner written for DDPM schedulers
(``add_noise``, ``get_velocity``, ``prediction_type``) trains it unchanged; :meth:`predict` maps
the integer k back to t_k. x0 is the Oobleck VAE's posterior mean of the stereo waveform, padded to
the model's full window, and the text conditioning carries the seconds-start/total embedding of the
backend's default duration.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import DDPMScheduler, StableAudioPipeline
from diffusers.models.embeddings import get_1d_rotary_pos_embed

from baton.backends.base import GenerationSettings, TextConditioning
from baton.backends.common import (
    check_batch,
    check_prompt_lengths,
    clip_generators,
    load_pipeline,
    prepare_waveforms,
    save_pipeline,
    settings_from_manifest,
    to_numpy_clips,
)
from baton.errors import InputError, MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MODEL = "stabilityai/stable-audio-open-1.0"
# Stability's model card and diffusers' example: 100-200 steps at guidance 7.
STABLE_AUDIO_SETTINGS = GenerationSettings(steps=100, guidance_scale=7.0, duration=10.0, negative_prompt="")
TRAIN_TIMESTEPS = 1000


def v_diffusion_scheduler(num_train_timesteps: int = TRAIN_TIMESTEPS) -> Any:
    """A ``DDPMScheduler`` for the cosine v-diffusion: ``alphas_cumprod[k] = cos^2(pi (k + 1) / (2 T))``.

    Its betas are the ratios of consecutive ``alphas_cumprod`` (the last is 1: t = 1 is pure
    noise); ``alphas_cumprod`` is then set to the exact cosines rather than float32's running
    product of the betas.
    """
    t = (np.arange(num_train_timesteps, dtype=np.float64) + 1) / num_train_timesteps
    alphas_cumprod = np.cos(t * np.pi / 2) ** 2
    alphas_cumprod[-1] = 0.0
    previous = np.concatenate([[1.0], alphas_cumprod[:-1]])
    betas = np.clip(1.0 - alphas_cumprod / previous, 0.0, 1.0)
    scheduler = DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        trained_betas=betas.tolist(),
        prediction_type="v_prediction",
        clip_sample=False,
    )
    scheduler.alphas_cumprod = torch.tensor(alphas_cumprod, dtype=torch.float32)
    return scheduler


class StableAudioBackend:
    """A diffusers ``StableAudioPipeline`` with the hooks BATON's fine-tuner needs."""

    name = "stable-audio"

    def __init__(
        self,
        pipe: Any,
        *,
        default_settings: GenerationSettings | None = None,
        device: str | torch.device = "cpu",
        source: Path | None = None,
    ) -> None:
        try:  # an optional package (the stable-audio extra): asked for where it is needed
            import torchsde  # noqa: F401  (the pipeline's scheduler draws its noise with it)
        except ImportError:
            raise MissingDependencyError("torchsde", "Stable Audio's scheduler", "stable-audio") from None
        self.device = torch.device(device)
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        for part in (pipe.text_encoder, pipe.projection_model, pipe.vae):
            part.eval().requires_grad_(False)
        self.default_settings = (default_settings or GenerationSettings()).resolved(STABLE_AUDIO_SETTINGS)
        self._noise_scheduler = v_diffusion_scheduler()
        self._check_duration(self.default_settings.duration, source)

    @property
    def sample_rate(self) -> int:
        return int(self.pipe.vae.config.sampling_rate)

    @property
    def max_duration(self) -> float:
        """The model's window: ``sample_size`` latents of ``hop_length`` samples (47.55 s for SAO 1.0)."""
        return self.pipe.transformer.config.sample_size * self.pipe.vae.hop_length / self.sample_rate

    def _check_duration(self, duration: float, source: Path | None = None) -> None:
        if not 0 < duration <= self.max_duration:
            raise InputError(
                f"must be in (0, {self.max_duration:g}] s for this model, got {duration:g}",
                path=source,
                field="duration",
            )
        top = self.pipe.projection_model.config.max_value
        if duration > top:
            raise InputError(
                f"the model's seconds conditioning stops at {top:g} s", path=source, field="duration"
            )

    # --- generation ---------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> list[np.ndarray]:
        """One float32 mono waveform per text; clip i depends only on texts[i] and seeds[i]."""
        settings = (settings or GenerationSettings()).resolved(self.default_settings)
        check_batch(texts, seeds)
        check_prompt_lengths(self.pipe.tokenizer, texts, "T5 text encoder", negative=settings.negative_prompt)
        if settings.steps < 1:
            raise InputError(f"must be at least 1, got {settings.steps}", field="steps")
        self._check_duration(settings.duration)
        transformer = self.pipe.transformer
        was_training = transformer.training
        transformer.eval()
        try:
            with warnings.catch_warnings():
                # torchsde notes float32 rounding at the ends of its Brownian interval (t = 0.3 vs
                # 0.29999998): harmless, and it would print on every step.
                warnings.filterwarnings("ignore", message="Should have t[ab]", category=UserWarning)
                output = self.pipe(
                    prompt=list(texts),
                    negative_prompt=[settings.negative_prompt] * len(texts)
                    if settings.negative_prompt
                    else None,
                    audio_start_in_s=0.0,
                    audio_end_in_s=settings.duration,
                    num_inference_steps=settings.steps,
                    guidance_scale=settings.guidance_scale,
                    num_waveforms_per_prompt=1,
                    generator=clip_generators(seeds, self.device),
                    output_type="np",
                )
        finally:
            transformer.train(was_training)
        return to_numpy_clips(output.audios)  # [B, 2, N] -> mono

    # --- what fine-tuning needs -----------------------------------------------------------------

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.pipe.transformer

    @property
    def noise_scheduler(self) -> Any:
        """The cosine v-diffusion on a 1000-step grid (see :func:`v_diffusion_scheduler`)."""
        return self._noise_scheduler

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> TextConditioning:
        """Projected T5 states with the seconds tokens [B, L + 2, D]; the global seconds states in ``extra``."""
        texts = list(texts)
        check_batch(texts, list(range(len(texts))))
        check_prompt_lengths(self.pipe.tokenizer, texts, "T5 text encoder")
        text_states = self.pipe.encode_prompt(texts, self.device, do_classifier_free_guidance=False)
        start, end = self.pipe.encode_duration(
            0.0, self.default_settings.duration, self.device, False, len(texts)
        )
        return TextConditioning(
            hidden_states=torch.cat([text_states, start, end], dim=1),
            attention_mask=None,
            extra={"global_hidden_states": torch.cat([start, end], dim=2)},
        )

    @torch.no_grad()
    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """Oobleck latents x0 [B, C, sample_size]: stereo at the model's rate, zero-padded to its window."""
        vae = self.pipe.vae
        waves = prepare_waveforms(
            audio,
            sample_rate,
            target_rate=self.sample_rate,
            num_samples=self.pipe.transformer.config.sample_size * vae.hop_length,
            peak=None,
            channels=vae.config.audio_channels,
        ).to(self.device)
        if waves.ndim == 2:
            waves = waves[:, None]
        return vae.encode(waves.to(vae.dtype)).latent_dist.mode()

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        """The DiT's v for noisy latents [B, C, N] at grid steps k [B] (continuous t = (k + 1) / 1000)."""
        global_states = (text.extra or {})["global_hidden_states"]
        rotary = get_1d_rotary_pos_embed(
            self.pipe.rotary_embed_dim,
            noisy.shape[2] + global_states.shape[1],
            use_real=True,
            repeat_interleave_real=False,
        )
        t = (timesteps.to(noisy.device).float() + 1) / self._noise_scheduler.config.num_train_timesteps
        dtype = self.pipe.transformer.dtype  # inputs in it: a trained DiT may be float32 beside half parts
        return self.pipe.transformer(
            noisy.to(dtype),
            t,
            encoder_hidden_states=text.hidden_states.to(dtype),
            global_hidden_states=global_states.to(dtype),
            rotary_embedding=rotary,
        ).sample

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """A diffusers pipeline folder (``StableAudioPipeline.from_pretrained`` reads it) plus ``baton_backend.json``."""
        save_pipeline(self.pipe, path, self.name, self.default_settings)

    @classmethod
    def load(
        cls, path: str | Path | None, *, device: str = "cpu", dtype: str = "float32"
    ) -> StableAudioBackend:
        """A pipeline folder or hub id; ``None`` is ``stabilityai/stable-audio-open-1.0`` (gated: accept
        its licence on the hub and log in first). Its weights in ``dtype`` (float32, float16, bfloat16)."""
        model = DEFAULT_MODEL if path is None else path
        pipe, folder, manifest = load_pipeline(
            model, StableAudioPipeline, cls.name, "the Stable Audio pipeline", dtype=dtype
        )
        settings = settings_from_manifest(manifest, STABLE_AUDIO_SETTINGS)
        return cls(pipe, default_settings=settings, device=device, source=folder)
