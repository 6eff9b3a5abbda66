"""Tango, the model BATON tunes, behind the backend protocol (:mod:`baton.backends.base`).

Tango (Ghosal et al., 2023) is a latent diffusion model with parts that diffusers and transformers
already have: a FLAN-T5 encoder (frozen) whose token states condition a ``UNet2DConditionModel``
through cross-attention, AudioLDM's VAE (an ``AutoencoderKL``) over 64-bin log-mels and AudioLDM's
HiFi-GAN vocoder (a ``SpeechT5HifiGan``). It is trained with v-prediction on DDPM's scaled-linear
schedule (0.00085-0.012, 1000 steps) and sampled with 200 DDPM steps at guidance 3 with "" as the
unconditional prompt. diffusers has no Tango pipeline, so the sampling loop is written out here.

Two on-disk layouts load:

* Tango's own hub layout (``declare-lab/tango-full-ft-audiocaps``, ``declare-lab/tango2``,
  ``declare-lab/tango2-full`` or a folder with the same files), converted by
  :mod:`baton.backends.tango_convert`; the ``.bin`` files are read with
  ``torch.load(weights_only=True)``, which unpickles tensors only;
* baton's layout, written by :meth:`TangoBackend.save`: one safetensors folder per part
  (``unet/`` loads with ``UNet2DConditionModel.from_pretrained``, and so on) plus
  ``baton_backend.json``. :meth:`TangoBackend.save_original` writes Tango's layout back, for
  Tango's own scripts.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import AutoConfig, AutoTokenizer, SpeechT5HifiGan, SpeechT5HifiGanConfig, T5EncoderModel

from baton.artifacts import give_safetensors_plain_mode, read_json, write_json
from baton.audio import MelConfig, MelSpectrogram, fit_frames
from baton.backends import tango_convert as tc
from baton.backends.base import GenerationSettings, TextConditioning, text_gradients
from baton.backends.common import (
    MANIFEST_FILE,
    check_batch,
    check_prompt_lengths,
    check_state_dict,
    clip_generators,
    load_torch_state_dict,
    prepare_waveforms,
    quiet_progress,
    read_manifest,
    require_entries,
    resolve_model_dir,
    settings_from_manifest,
    to_numpy_clips,
    torch_dtype,
    write_manifest,
)
from baton.errors import InputError
from baton.fingerprints import fingerprint_of, state_dict_digest

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MODEL = "declare-lab/tango-full-ft-audiocaps"
TANGO_SETTINGS = GenerationSettings(steps=200, guidance_scale=3.0, duration=10.0, negative_prompt="")
# Tango trains on clips centred and scaled to a peak of 0.5 (tools/torch_tools.py).
TRAINING_PEAK = 0.5
PARTS = ("unet", "text_encoder", "tokenizer", "vae", "vocoder", "scheduler")


class TangoBackend:
    """Tango: FLAN-T5 + UNet2DConditionModel + AudioLDM VAE + HiFi-GAN, v-prediction DDPM."""

    name = "tango"

    def __init__(
        self,
        *,
        unet: Any,
        text_encoder: Any,
        tokenizer: Any,
        vae: Any,
        vocoder: Any,
        scheduler: Any,
        mel: MelConfig | None = None,
        default_settings: GenerationSettings | None = None,
        device: str | torch.device = "cpu",
        source: Path | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.unet = unet.to(self.device).eval()
        self.text_encoder = text_encoder.to(self.device).eval().requires_grad_(False)
        self.vae = vae.to(self.device).eval().requires_grad_(False)
        self.vocoder = vocoder.to(self.device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.scheduler = scheduler
        self.mel = MelConfig.tango() if mel is None else mel
        self.mel_spectrogram = MelSpectrogram(self.mel).to(self.device)
        self.default_settings = (default_settings or GenerationSettings()).resolved(TANGO_SETTINGS)
        self.frame_multiple = tc.frames_multiple(
            len(vae.config.block_out_channels), len(unet.config.down_block_types)
        )
        self._check_parts(source)
        self._latent_space: str | None = None

    def _check_parts(self, source: Path | None) -> None:
        """The parts must fit together; a part from another model is named here, not deep in a matmul."""
        vocoder = self.vocoder.config
        checks = [
            (
                self.unet.config.cross_attention_dim == self.text_encoder.config.d_model,
                f"the UNet attends to {self.unet.config.cross_attention_dim}-dim text states, the text "
                f"encoder makes {self.text_encoder.config.d_model}-dim ones",
            ),
            (
                self.unet.config.in_channels
                == self.vae.config.latent_channels
                == self.unet.config.out_channels,
                f"the UNet takes {self.unet.config.in_channels} channels, the VAE's latents have "
                f"{self.vae.config.latent_channels}",
            ),
            (
                vocoder.model_in_dim == self.mel.n_mels,
                f"the vocoder reads {vocoder.model_in_dim} mel bands, the front end makes {self.mel.n_mels}",
            ),
            (
                math.prod(vocoder.upsample_rates) == self.mel.hop_length
                and vocoder.sampling_rate == self.mel.sample_rate,
                f"the vocoder makes {math.prod(vocoder.upsample_rates)} samples per frame at "
                f"{vocoder.sampling_rate} Hz, the front end hops {self.mel.hop_length} at {self.mel.sample_rate} Hz",
            ),
            (
                self.mel.n_mels % self.frame_multiple == 0,
                f"{self.mel.n_mels} mel bands do not divide by the models' downsampling ({self.frame_multiple})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"the model's parts do not fit together: {message}", path=source)

    @property
    def sample_rate(self) -> int:
        return int(self.mel.sample_rate)

    # --- generation ---------------------------------------------------------------------------

    def generate(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> list[np.ndarray]:
        """One float32 waveform per text at 16 kHz; clip i depends only on texts[i] and seeds[i]."""
        return self.generate_with_latents(texts, seeds, settings)[0]

    @torch.no_grad()
    def generate_with_latents(
        self, texts: list[str], seeds: list[int], settings: GenerationSettings | None = None
    ) -> tuple[list[np.ndarray], torch.Tensor]:
        """:meth:`generate`'s clips and the VAE latents [N, C, T / r, M / r] they were decoded from
        (scaled as :meth:`encode_audio`'s).

        Each clip draws its starting latents and every DDPM step's noise from its own generator,
        and the prompts are masked in the text encoder and the UNet's cross-attention, so neither
        the batch's other clips nor its padding change a clip (up to float rounding).
        """
        settings = (settings or GenerationSettings()).resolved(self.default_settings)
        check_batch(texts, seeds)
        if settings.steps < 1:
            raise InputError(f"must be at least 1, got {settings.steps}", field="steps")
        if settings.duration <= 0:
            raise InputError(f"must be positive, got {settings.duration}", field="duration")
        check_prompt_lengths(self.tokenizer, texts, "text encoder", negative=settings.negative_prompt)
        batch = len(texts)
        frames = tc.frames_for(settings.duration, self.mel, self.frame_multiple)
        num_samples = round(settings.duration * self.sample_rate)
        guided = settings.guidance_scale > 1.0

        # 1. Text states; with guidance, the unconditional prompt's rows go first, as in Tango.
        prompts = [settings.negative_prompt] * batch + list(texts) if guided else list(texts)
        hidden, mask = self._encode(prompts)  # [2B or B, L, D], [2B or B, L]

        # 2. Starting latents, one generator per clip: [B, C, frames / r, n_mels / r].
        generators = clip_generators(seeds, self.device)
        ratio = 2 ** (len(self.vae.config.block_out_channels) - 1)
        shape = (1, self.unet.config.in_channels, frames // ratio, self.mel.n_mels // ratio)
        latents = torch.cat(
            [torch.randn(shape, generator=g, device=g.device, dtype=torch.float32) for g in generators]
        ).to(self.device)
        scheduler = self.scheduler.__class__.from_config(self.scheduler.config)
        scheduler.set_timesteps(settings.steps, device=self.device)
        latents = latents * scheduler.init_noise_sigma

        # 3. Denoising loop: guidance in one batched UNet pass; the latents and the scheduler's
        #    arithmetic stay float32 whatever dtype the UNet runs in.
        was_training = self.unet.training
        self.unet.eval()
        hidden = hidden.to(self.unet.dtype)
        try:
            for t in scheduler.timesteps:
                model_input = torch.cat([latents, latents]) if guided else latents
                model_input = scheduler.scale_model_input(model_input, t).to(self.unet.dtype)
                output = self.unet(
                    model_input, t, encoder_hidden_states=hidden, encoder_attention_mask=mask
                ).sample.float()
                if guided:
                    uncond, cond_out = output.chunk(2)
                    output = uncond + settings.guidance_scale * (cond_out - uncond)
                latents = scheduler.step(output, t, latents, generator=generators).prev_sample
        finally:
            self.unet.train(was_training)

        # 4. Latents -> log-mel [B, 1, T, M] -> waveform [B, T * hop].
        mel = self.vae.decode((latents / self.vae.config.scaling_factor).to(self.vae.dtype)).sample
        audio = self.vocoder(mel[:, 0])
        return to_numpy_clips(audio, num_samples), latents.float().cpu()

    @property
    def latent_space(self) -> str:
        """The front end, peak level, clip length and VAE weights that turn audio into latents."""
        if self._latent_space is None:
            self._latent_space = fingerprint_of(
                "tango-vae",
                asdict(self.mel),
                TRAINING_PEAK,
                self.default_settings.duration,
                self.vae.config.scaling_factor,
                state_dict_digest(self.vae),
            )
        return self._latent_space

    # --- what fine-tuning needs -----------------------------------------------------------------

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.unet

    @property
    def noise_scheduler(self) -> Any:
        """DDPM, scaled-linear betas 0.00085-0.012, 1000 steps, ``v_prediction``."""
        return self.scheduler

    @property
    def trainable_text_encoder(self) -> torch.nn.Module | None:
        """FLAN-T5's encoder, for ``--train-text-encoder`` (frozen, as BATON keeps it, unless asked)."""
        return self.text_encoder

    def encode_text(self, texts: list[str]) -> TextConditioning:
        """FLAN-T5 token states [B, L, D] and their mask [B, L] (True = token), padded to the longest;
        with gradients only while the encoder trains."""
        texts = list(texts)
        check_batch(texts, list(range(len(texts))))
        check_prompt_lengths(self.tokenizer, texts, "text encoder")
        with text_gradients(self.text_encoder):
            hidden, mask = self._encode(texts)
        return TextConditioning(hidden_states=hidden, attention_mask=mask)

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
        hidden = self.text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)[0]
        return hidden, tokens.attention_mask.bool()

    @torch.no_grad()
    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """VAE latents x0 [B, C, T / r, M / r] of waveforms, as Tango's training computes them.

        Each clip is resampled to 16 kHz, centred and scaled to a peak of 0.5, cut or padded to the
        default duration's frame count (10 s -> 1024 frames), turned into the log-mel [B, 1, T, M]
        and encoded; x0 is the posterior mean times the VAE's scaling factor (Tango draws a sample
        of the posterior; its spread is small, and the mean keeps each clip's target fixed).
        """
        frames = tc.frames_for(self.default_settings.duration, self.mel, self.frame_multiple)
        waves = prepare_waveforms(
            audio,
            sample_rate,
            target_rate=self.sample_rate,
            num_samples=frames * self.mel.hop_length,
            peak=TRAINING_PEAK,
        ).to(self.device)
        mel = fit_frames(self.mel_spectrogram(waves), frames)  # [B, M, T]
        posterior = self.vae.encode(mel.transpose(1, 2)[:, None].to(self.vae.dtype)).latent_dist
        return posterior.mean * self.vae.config.scaling_factor

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        """The UNet's v-prediction for noisy latents [B, C, H, W] at integer ``timesteps`` [B], in the
        UNet's dtype (its inputs are cast to it: a trained UNet may be float32 beside half parts)."""
        dtype = self.unet.dtype
        return self.unet(
            noisy.to(dtype),
            timesteps,
            encoder_hidden_states=text.hidden_states.to(dtype),
            encoder_attention_mask=text.attention_mask,
        ).sample

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """baton's layout: safetensors folders (``unet/`` loads with diffusers) + ``baton_backend.json``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_progress():
            self.unet.save_pretrained(folder / "unet", safe_serialization=True)
            self.text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
            self.tokenizer.save_pretrained(folder / "tokenizer")
            self.vae.save_pretrained(folder / "vae", safe_serialization=True)
            self.vocoder.save_pretrained(folder / "vocoder", safe_serialization=True)
            self.scheduler.save_pretrained(folder / "scheduler")
        give_safetensors_plain_mode(folder)
        write_manifest(folder, self.name, self.default_settings, mel=asdict(self.mel))

    def save_original(self, path: str | Path) -> None:
        """Tango's hub layout (``main_config.json``, ``pytorch_model_main.bin``, ...) for Tango's own code.

        The T5 config and tokenizer go to ``text_encoder/`` and ``main_config.json`` names that
        folder; the UNet config goes to ``unet_config.json``. Tango's scripts resolve both paths
        relative to the working directory.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.text_encoder.config.save_pretrained(folder / "text_encoder")
        self.tokenizer.save_pretrained(folder / "text_encoder")
        unet_config = {k: v for k, v in dict(self.unet.config).items() if not k.startswith("_")}
        write_json(folder / "unet_config.json", {"_class_name": "UNet2DConditionModel", **unet_config})
        scheduler_name = tc.SD21_SCHEDULER_NAME
        if not _same_scheduler(self.scheduler.config, tc.TANGO_SCHEDULER_CONFIG):
            scheduler_name = "noise_scheduler"
            self.scheduler.save_pretrained(folder / scheduler_name / "scheduler")
        write_json(
            folder / tc.MAIN_CONFIG,
            {
                "text_encoder_name": "text_encoder",
                "scheduler_name": scheduler_name,
                "unet_model_name": None,
                "unet_model_config_path": "unet_config.json",
                "snr_gamma": 5.0,
            },
        )
        write_json(folder / tc.VAE_CONFIG, tc.vae_config_to_original(dict(self.vae.config)))
        write_json(folder / tc.STFT_CONFIG, tc.mel_to_stft_config(self.mel))
        vocoder_config = {k: getattr(self.vocoder.config, k) for k in tc.AUDIOLDM_HIFIGAN}
        if vocoder_config != tc.AUDIOLDM_HIFIGAN:
            write_json(folder / tc.VOCODER_CONFIG, vocoder_config)
        levels = len(self.vae.config.block_out_channels)
        vae_state = tc.vae_state_dict_to_original(self.vae.state_dict(), levels)
        vae_state.update(tc.vocoder_state_dict_to_original(self.vocoder.state_dict()))
        torch.save(
            tc.join_main_state_dict(self.unet.state_dict(), self.text_encoder.state_dict()),
            folder / tc.MAIN_WEIGHTS,
        )
        torch.save(vae_state, folder / tc.VAE_WEIGHTS)
        torch.save(tc.tacotron_stft_state_dict(self.mel), folder / tc.STFT_WEIGHTS)

    @classmethod
    def load(cls, path: str | Path | None, *, device: str = "cpu", dtype: str = "float32") -> TangoBackend:
        """A folder or hub id in baton's layout or Tango's; ``None`` is ``declare-lab/tango-full-ft-audiocaps``.
        Every part's weights in ``dtype`` (float32, float16, bfloat16)."""
        folder = resolve_model_dir(DEFAULT_MODEL if path is None else path)
        manifest = read_manifest(folder, cls.name)
        if manifest is not None:
            return cls._load_saved(folder, manifest, device, dtype)
        if (folder / tc.MAIN_CONFIG).exists():
            return cls.from_original(folder, device=device, dtype=dtype)
        raise InputError(
            f"neither a baton tango folder ({MANIFEST_FILE}) nor Tango's hub layout ({tc.MAIN_CONFIG} ...)",
            path=folder,
        )

    @classmethod
    def _load_saved(
        cls, folder: Path, manifest: dict[str, Any], device: str, dtype: str = "float32"
    ) -> TangoBackend:
        require_entries(folder, PARTS, "this tango folder")
        weights = torch_dtype(dtype)
        loaders = {
            "unet": lambda p: UNet2DConditionModel.from_pretrained(p, dtype=weights),
            "text_encoder": lambda p: T5EncoderModel.from_pretrained(p, dtype=weights),
            "tokenizer": lambda p: AutoTokenizer.from_pretrained(p),
            "vae": lambda p: AutoencoderKL.from_pretrained(p, dtype=weights),
            "vocoder": lambda p: SpeechT5HifiGan.from_pretrained(p, dtype=weights),
            "scheduler": lambda p: DDPMScheduler.from_pretrained(p),
        }
        parts = {}
        for name, loader in loaders.items():
            try:
                with quiet_progress():
                    parts[name] = loader(folder / name)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"cannot load the {name}: {reason}", path=folder / name) from None
        try:
            mel = MelConfig(**manifest.get("mel", {}))
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad mel front end: {exc}", path=folder / MANIFEST_FILE, field="mel") from None
        settings = settings_from_manifest(manifest, TANGO_SETTINGS)
        return cls(**parts, mel=mel, default_settings=settings, device=device, source=folder)

    @classmethod
    def from_original(
        cls, folder: str | Path, *, device: str = "cpu", dtype: str = "float32"
    ) -> TangoBackend:
        """Tango's hub layout, through baton's key converter (see :mod:`baton.backends.tango_convert`)."""
        folder = Path(folder)
        require_entries(folder, tc.ORIGINAL_FILES, "Tango's hub layout")
        main_path = folder / tc.MAIN_CONFIG
        main = read_json(main_path)
        if not isinstance(main, dict):
            raise InputError("expected a JSON object", path=main_path)
        if main.get("unet_model_name"):
            raise InputError(
                "this Tango variant starts its UNet from a pretrained model (group_in/group_out adapters); "
                "baton reads the released Tango checkpoints, whose UNet comes from a config",
                path=main_path,
                field="unet_model_name",
            )
        mel = tc.stft_config_to_mel(read_json(folder / tc.STFT_CONFIG), folder / tc.STFT_CONFIG)
        vae_config = tc.vae_config_to_diffusers(read_json(folder / tc.VAE_CONFIG), folder / tc.VAE_CONFIG)
        vocoder_settings = dict(tc.AUDIOLDM_HIFIGAN)
        if (folder / tc.VOCODER_CONFIG).exists():
            vocoder_settings.update(read_json(folder / tc.VOCODER_CONFIG))
        tokenizer, t5_config = _text_encoder_config(folder, main, main_path)
        unet_config = _unet_config(folder, main, main_path)

        # Modules without memory first (no random init of a billion weights), then the checkpoint's.
        with init_empty_weights():
            unet = UNet2DConditionModel.from_config(unet_config)
            text_encoder = T5EncoderModel(t5_config)
            vae = AutoencoderKL.from_config(vae_config)
        vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**vocoder_settings))

        main_weights = load_torch_state_dict(folder / tc.MAIN_WEIGHTS)
        unet_state, text_state = tc.split_main_state_dict(main_weights, folder / tc.MAIN_WEIGHTS)
        check_state_dict(unet_state, unet.state_dict(), folder / tc.MAIN_WEIGHTS, "UNet")
        check_state_dict(text_state, text_encoder.state_dict(), folder / tc.MAIN_WEIGHTS, "text encoder")
        weights = torch_dtype(dtype)
        unet.load_state_dict(_cast(unet_state, weights), assign=True)
        text_encoder.load_state_dict(_cast(text_state, weights), assign=True)
        text_encoder.tie_weights()

        vae_weights = load_torch_state_dict(folder / tc.VAE_WEIGHTS)
        vae_state = tc.vae_state_dict_to_diffusers(vae_weights, vae.state_dict(), folder / tc.VAE_WEIGHTS)
        vae.load_state_dict(_cast(vae_state, weights), assign=True)
        vocoder_state = {k[len("vocoder.") :]: v for k, v in vae_weights.items() if k.startswith("vocoder.")}
        tc.check_vocoder_weights(vocoder_settings, vocoder_state, folder / tc.VAE_WEIGHTS)
        converted = tc.vocoder_state_dict_to_transformers(vae_weights, vocoder_settings["model_in_dim"])
        check_state_dict(converted, vocoder.state_dict(), folder / tc.VAE_WEIGHTS, "vocoder")
        vocoder.load_state_dict(converted)
        vocoder.to(weights)

        tc.check_stft_weights(load_torch_state_dict(folder / tc.STFT_WEIGHTS), mel, folder / tc.STFT_WEIGHTS)
        scheduler = _scheduler(folder, main, main_path)
        return cls(
            unet=unet,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            vae=vae,
            vocoder=vocoder,
            scheduler=scheduler,
            mel=mel,
            device=device,
            source=folder,
        )


# --- pieces of the original layout ------------------------------------------------------------------


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def _same_scheduler(config: Any, reference: dict[str, Any]) -> bool:
    return all(config.get(k) == v for k, v in reference.items())


def _local_or_hub(folder: Path, name: str) -> str:
    """A name in main_config.json: a folder beside the checkpoint, a folder here, or a hub id."""
    for candidate in (folder / name, Path(name).expanduser()):
        if candidate.is_dir():
            return str(candidate)
    return name


def _text_encoder_config(folder: Path, main: dict[str, Any], main_path: Path) -> tuple[Any, Any]:
    """The T5 config and tokenizer ``text_encoder_name`` names (``google/flan-t5-large``)."""
    name = main.get("text_encoder_name")
    if not isinstance(name, str) or not name:
        raise InputError("required field is missing", path=main_path, field="text_encoder_name")
    source = _local_or_hub(folder, name)
    try:
        config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load the config and tokenizer of text encoder '{name}' (the weights are in "
            f"{tc.MAIN_WEIGHTS}, these small files come from the hub or a folder): {reason}",
            path=main_path,
            field="text_encoder_name",
        ) from None
    if config.model_type != "t5":
        raise InputError(
            f"'{name}' is a {config.model_type} model; Tango's text encoder is a T5 (FLAN-T5) encoder",
            path=main_path,
            field="text_encoder_name",
        )
    return tokenizer, config


def _unet_config(folder: Path, main: dict[str, Any], main_path: Path) -> dict[str, Any]:
    """``unet_model_config_path`` beside the checkpoint, or Tango's own config for its usual name."""
    name = main.get("unet_model_config_path")
    if not isinstance(name, str) or not name:
        raise InputError("required field is missing", path=main_path, field="unet_model_config_path")
    candidate = folder / name
    if candidate.is_file():
        config = read_json(candidate)
        if not isinstance(config, dict) or "block_out_channels" not in config:
            raise InputError("not a UNet2DConditionModel config", path=candidate)
        if config.get("_class_name", "UNet2DConditionModel") != "UNet2DConditionModel":
            raise InputError(
                f"a {config['_class_name']} config; Tango's UNet is a UNet2DConditionModel",
                path=candidate,
                field="_class_name",
            )
        return {k: v for k, v in config.items() if not k.startswith("_")}
    if name in tc.TANGO_UNET_CONFIG_NAMES:
        return dict(tc.TANGO_UNET_CONFIG)
    raise InputError(
        f"UNet config '{name}' is neither beside the checkpoint nor Tango's "
        f"'{tc.TANGO_UNET_CONFIG_NAMES[0]}'",
        path=main_path,
        field="unet_model_config_path",
    )


def _scheduler(folder: Path, main: dict[str, Any], main_path: Path) -> Any:
    """Tango's DDPM (Stable Diffusion 2.1's schedule), or a ``<name>/scheduler`` folder it names."""
    name = main.get("scheduler_name", tc.SD21_SCHEDULER_NAME)
    if name == tc.SD21_SCHEDULER_NAME:
        return DDPMScheduler(**tc.TANGO_SCHEDULER_CONFIG)
    try:
        return DDPMScheduler.from_pretrained(_local_or_hub(folder, name), subfolder="scheduler")
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load scheduler '{name}': {reason}", path=main_path, field="scheduler_name"
        ) from None
