"""AudioLDM 2 (Liu et al., 2024) through diffusers' ``AudioLDM2Pipeline``, behind the backend protocol.

Generation is the pipeline's own ``__call__`` (classifier-free guidance in one batched UNet pass)
with one ``torch.Generator`` per clip, so clip i depends only on its text and seed. The fine-tuner's
hooks reach into the same parts:

* text conditioning: the pipeline's ``encode_prompt`` (CLAP + FLAN-T5 -> projection -> 8 GPT-2
  states); the GPT-2 states are ``hidden_states``, the T5 states and mask ride in ``extra``;
* audio -> x0: AudioLDM's 64-bin log-mel (our :class:`~baton.audio.MelSpectrogram`, the same front end
  as Tango's) through the VAE, posterior mean times ``scaling_factor``;
* the denoiser is the ``AudioLDM2UNet2DConditionModel``; the noise scheduler is a DDPM with the
  pipeline scheduler's schedule and prediction type.

Text-to-speech variants (a VITS second text encoder, which needs transcriptions) are not supported.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate import init_empty_weights
from diffusers import AudioLDM2Pipeline, DDPMScheduler
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from transformers import GenerationMixin, GPT2LMHeadModel, GPT2Model, VitsModel

from baton.audio import MelConfig, MelSpectrogram, fit_frames
from baton.backends.base import GenerationSettings, TextConditioning
from baton.backends.common import (
    check_batch,
    check_prompt_lengths,
    checkpoint_modules,
    clip_generators,
    load_pipeline,
    prepare_waveforms,
    save_pipeline,
    settings_from_manifest,
    to_numpy_clips,
)
from baton.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MODEL = "cvssp/audioldm2"
# diffusers' recommendation for AudioLDM 2: 200 steps, guidance 3.5, 10 s.
AUDIOLDM2_SETTINGS = GenerationSettings(steps=200, guidance_scale=3.5, duration=10.0, negative_prompt="")
TRAINING_PEAK = 0.5  # AudioLDM's data pipeline centres clips and scales them to a peak of 0.5


def mel_for_vocoder(vocoder_config: Any) -> MelConfig:
    """AudioLDM's log-mel front end sized to a vocoder: its rate, its mel count, a hop of its upsampling.

    For the released 16 kHz models this is :meth:`MelConfig.tango` (1024-point FFT, hop 160, 64 mels
    up to 8 kHz); other sizes keep AudioLDM's FFT-to-hop ratio (6.4, to the nearest power of two).
    """
    hop = int(math.prod(vocoder_config.upsample_rates))
    rate = int(vocoder_config.sampling_rate)
    n_fft = 1024 if hop == 160 else 2 ** max(2, round(math.log2(hop * 6.4)))
    return MelConfig(
        sample_rate=rate,
        n_fft=n_fft,
        win_length=n_fft,
        hop_length=hop,
        n_mels=int(vocoder_config.model_in_dim),
        f_min=0.0,
        f_max=min(8000.0, rate / 2),
    )


def _pad_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """Zero-pad the first axis of [L] or [L, D] to ``rows``."""
    extra = rows - tensor.shape[0]
    return torch.nn.functional.pad(tensor, (0, 0, 0, extra) if tensor.ndim == 2 else (0, extra))


def generation_ready(language_model: Any) -> Any:
    """A GPT-2 the pipeline can step: a bare ``GPT2Model`` goes inside a ``GPT2LMHeadModel``.

    Hub folders that name ``GPT2Model`` as the language model break ``AudioLDM2Pipeline`` with
    transformers 5 (``'GPT2Model' object has no attribute '_update_model_kwargs_for_generation'``,
    diffusers issue #12630): the pipeline needs the generation helpers of ``GenerationMixin``. It
    reads only the last hidden states, so the same GPT-2 inside an LM-head model (head tied to the
    token embedding, unused) gives the same conditioning.
    """
    if isinstance(language_model, GenerationMixin) or not isinstance(language_model, GPT2Model):
        return language_model
    with init_empty_weights():
        wrapped = GPT2LMHeadModel(language_model.config)
    wrapped.transformer = language_model
    wrapped.lm_head.weight = language_model.wte.weight
    return wrapped.eval()


class AudioLDM2Backend:
    """A diffusers ``AudioLDM2Pipeline`` with the hooks BATON's fine-tuner needs."""

    name = "audioldm2"

    def __init__(
        self,
        pipe: Any,
        *,
        mel: MelConfig | None = None,
        default_settings: GenerationSettings | None = None,
        device: str | torch.device = "cpu",
        source: Path | None = None,
    ) -> None:
        if isinstance(pipe.text_encoder_2, VitsModel):
            raise InputError(
                "a text-to-speech AudioLDM 2 (VITS text encoder, needs transcriptions) is not supported",
                path=source,
            )
        pipe.register_modules(language_model=generation_ready(pipe.language_model))
        self.device = torch.device(device)
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        for part in (
            pipe.text_encoder,
            pipe.text_encoder_2,
            pipe.projection_model,
            pipe.language_model,
            pipe.vae,
            pipe.vocoder,
        ):
            part.eval().requires_grad_(False)
        self.mel = mel_for_vocoder(pipe.vocoder.config) if mel is None else mel
        self.mel_spectrogram = MelSpectrogram(self.mel).to(self.device)
        self.default_settings = (default_settings or GenerationSettings()).resolved(AUDIOLDM2_SETTINGS)
        self._noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.gradient_checkpointing = False

    @property
    def sample_rate(self) -> int:
        return int(self.pipe.vocoder.config.sampling_rate)

    # --- generation ---------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> list[np.ndarray]:
        """One float32 waveform per text; clip i depends only on texts[i] and seeds[i]."""
        settings = (settings or GenerationSettings()).resolved(self.default_settings)
        check_batch(texts, seeds)
        self._check_texts(list(texts), settings.negative_prompt)
        if settings.steps < 1:
            raise InputError(f"must be at least 1, got {settings.steps}", field="steps")
        if settings.duration <= 0:
            raise InputError(f"must be positive, got {settings.duration}", field="duration")
        guided = settings.guidance_scale > 1.0
        embeds = self._prompt_embeds(list(texts), settings.negative_prompt, guided)
        unet = self.pipe.unet
        was_training = unet.training
        unet.eval()
        try:
            output = self.pipe(
                **embeds,
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance_scale,
                audio_length_in_s=settings.duration,
                num_waveforms_per_prompt=1,
                generator=clip_generators(seeds, self.device),
                output_type="np",
            )
        finally:
            unet.train(was_training)
        return to_numpy_clips(output.audios)

    def _prompt_embeds(self, texts: list[str], negative: str, guided: bool) -> dict[str, torch.Tensor]:
        """The pipeline's own text conditioning, computed per group of prompts of one T5 length.

        ``AudioLDM2Pipeline`` pads the T5 tokens to the batch's longest prompt, and GPT-2 numbers
        its positions straight through that padding: a clip would change with the other prompts in
        its batch. Encoding each group of equal-length prompts together (exactly the pipeline's
        computation for such a batch) and masking the padding added afterwards keeps clip i a
        function of texts[i] alone; a batch whose prompts share one length is encoded exactly as
        the pipeline would encode it.
        """
        lengths = [len(ids) for ids in self.pipe.tokenizer_2(texts, verbose=False).input_ids]
        rows: dict[int, tuple[torch.Tensor, ...]] = {}
        for length in sorted(set(lengths)):
            group = [i for i, n in enumerate(lengths) if n == length]
            t5, mask, generated = self.pipe.encode_prompt(
                [texts[i] for i in group],
                self.device,
                num_waveforms_per_prompt=1,
                do_classifier_free_guidance=guided,
                negative_prompt=[negative] * len(group) if (guided and negative) else None,
            )
            offset = len(group) if guided else 0  # with guidance the group's unconditional rows come first
            for k, i in enumerate(group):
                cond = (t5[offset + k], mask[offset + k], generated[offset + k])
                uncond = (t5[k], mask[k], generated[k]) if guided else ()
                rows[i] = (*cond, *uncond)
        width = max(r[0].shape[0] for r in rows.values())

        def stack(column: int, pad: bool) -> torch.Tensor:
            parts = [rows[i][column] for i in range(len(texts))]
            if pad:  # T5 states [L, D] and mask [L] to the widest: zero states, mask 0, no attention
                parts = [_pad_rows(p, width) for p in parts]
            return torch.stack(parts)

        embeds = {
            "prompt_embeds": stack(0, pad=True),
            "attention_mask": stack(1, pad=True),
            "generated_prompt_embeds": stack(2, pad=False),
        }
        if guided:
            embeds.update(
                negative_prompt_embeds=stack(3, pad=True),
                negative_attention_mask=stack(4, pad=True),
                negative_generated_prompt_embeds=stack(5, pad=False),
            )
        return embeds

    def _check_texts(self, texts: list[str], negative: str = "") -> None:
        check_prompt_lengths(self.pipe.tokenizer, texts, "CLAP text encoder", negative=negative)
        check_prompt_lengths(self.pipe.tokenizer_2, texts, "T5 text encoder", negative=negative)

    # --- what fine-tuning needs -----------------------------------------------------------------

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.pipe.unet

    def enable_gradient_checkpointing(self) -> None:
        """Checkpoint the UNet's ResNet and transformer blocks (``baton finetune --gradient-checkpointing``).

        Not diffusers' own switch: ``AudioLDM2UNet2DConditionModel``'s checkpointed path calls each
        ``Transformer2DModel`` with positional arguments that skip its ``added_cond_kwargs``, so the
        cross-attention mask lands on the self-attention (diffusers 0.42). The same blocks are
        wrapped here, called with their keyword arguments.
        """
        if not self.gradient_checkpointing:
            checkpoint_modules(self.pipe.unet, (ResnetBlock2D, Transformer2DModel))
            self.gradient_checkpointing = True

    @property
    def noise_scheduler(self) -> Any:
        """A DDPM with the pipeline scheduler's betas and prediction type (training's forward process)."""
        return self._noise_scheduler

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> TextConditioning:
        """GPT-2 states [B, 8, D] (``hidden_states``) plus T5 states and mask in ``extra``."""
        texts = list(texts)
        check_batch(texts, list(range(len(texts))))
        self._check_texts(texts)
        t5_states, t5_mask, generated = self.pipe.encode_prompt(
            texts, self.device, num_waveforms_per_prompt=1, do_classifier_free_guidance=False
        )
        return TextConditioning(
            hidden_states=generated,
            attention_mask=None,
            extra={"encoder_hidden_states_1": t5_states, "encoder_attention_mask_1": t5_mask},
        )

    @torch.no_grad()
    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """VAE latents x0 [B, C, T / r, M / r]: peak-0.5 clips of the default duration, log-mel, VAE mean."""
        ratio = self.pipe.vae_scale_factor
        frames = ratio * math.ceil(
            round(self.default_settings.duration * self.sample_rate / self.mel.hop_length, 6) / ratio
        )
        waves = prepare_waveforms(
            audio,
            sample_rate,
            target_rate=self.sample_rate,
            num_samples=frames * self.mel.hop_length,
            peak=TRAINING_PEAK,
        ).to(self.device)
        mel = fit_frames(self.mel_spectrogram(waves), frames)  # [B, M, T]
        posterior = self.pipe.vae.encode(mel.transpose(1, 2)[:, None].to(self.pipe.vae.dtype)).latent_dist
        return posterior.mean * self.pipe.vae.config.scaling_factor

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        """The UNet's output, in its dtype (its inputs are cast to it: a trained UNet may be float32
        beside half parts)."""
        extra = text.extra or {}
        dtype = self.pipe.unet.dtype
        t5_states = extra.get("encoder_hidden_states_1")
        return self.pipe.unet(
            noisy.to(dtype),
            timesteps,
            encoder_hidden_states=text.hidden_states.to(dtype),
            encoder_hidden_states_1=None if t5_states is None else t5_states.to(dtype),
            encoder_attention_mask_1=extra.get("encoder_attention_mask_1"),
        ).sample

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """A diffusers pipeline folder (``AudioLDM2Pipeline.from_pretrained`` reads it) plus ``baton_backend.json``."""
        save_pipeline(self.pipe, path, self.name, self.default_settings, mel=asdict(self.mel))

    @classmethod
    def load(
        cls, path: str | Path | None, *, device: str = "cpu", dtype: str = "float32"
    ) -> AudioLDM2Backend:
        """A pipeline folder or hub id (``cvssp/audioldm2``, ``cvssp/audioldm2-large``, ...; default the
        first), its weights in ``dtype`` (float32, float16, bfloat16)."""
        model = DEFAULT_MODEL if path is None else path
        pipe, folder, manifest = load_pipeline(
            model, AudioLDM2Pipeline, cls.name, "the AudioLDM 2 pipeline", dtype=dtype
        )
        mel = None
        if manifest and manifest.get("mel"):
            try:
                mel = MelConfig(**manifest["mel"])
            except (TypeError, ValueError) as exc:
                raise InputError(f"bad mel front end: {exc}", path=folder, field="mel") from None
        settings = settings_from_manifest(manifest, AUDIOLDM2_SETTINGS)
        return cls(pipe, mel=mel, default_settings=settings, device=device, source=folder)
