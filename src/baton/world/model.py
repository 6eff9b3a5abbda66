"""The world's text-to-audio diffusion model: a word tokenizer, a text encoder, a 1-D U-Net denoiser.

The model works on normalised log-mel frames of a 4 s world clip, ``x0`` of shape [B, n_mels, T]
(64 mels, hop 256 -> T = 251 frames at 16 kHz), shifted and scaled (one offset and scale for all
bins) to zero mean and a set spread over the training corpus; the statistics are stored with the model. Griffin-Lim
(:func:`baton.audio.mel_to_audio`) turns generated frames back into a waveform.

* :class:`~baton.world.tokenizer.WordTokenizer` (shared with the world CLAP): lower-cased words and
  punctuation; every text starts with ``[BOS]``, so the empty text "" (the unconditional prompt of
  classifier-free guidance) is one token whose state the model learns like any other.
* :class:`TextEncoder`: token and position embeddings, a few pre-norm transformer layers; its token
  states [B, L, D] are the denoiser's cross-attention context. Trained jointly with the denoiser from
  scratch, frozen for fine-tuning.
* :class:`Denoiser`: a compact U-Net over time. A few frames are folded into channels (a temporal
  patch), then residual conv blocks with a FiLM timestep embedding and cross-attention to the text at
  every level, self-attention at the bottom. A sinusoidal signal of the frame's position is added at
  the input and (``query_positions``) to every cross-attention's queries, so that the text's
  "first ... then ..." can be placed in time: with the input signal alone, a 2-event sequence came
  out in the stated order in 19 of 40 clips (chance); with the queries' positions too, 29 of 38.
* :class:`WorldT2A` holds all of it, the corpus statistics and the diffusers noise scheduler, and
  samples with classifier-free guidance in one batched pass (unconditional and conditional stacked).
  Clip ``i``'s starting noise comes from its own generator seeded with ``seeds[i]``, and every layer
  treats rows independently (fixed text length, group norm, no batch norm), so a clip never depends
  on what else is in its batch.

On disk (``save``/``load``): ``config.json`` (architecture, mel settings, scheduler, vocabulary) and
``model.safetensors`` (weights and statistics); no pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from baton.artifacts import save_safetensors
from baton.audio import MelConfig, MelSpectrogram, mel_to_audio, num_frames
from baton.diffusion import classifier_free_guidance
from baton.errors import InputError
from baton.world.spec import CLIP_SAMPLES
from baton.world.tokenizer import (  # noqa: F401 - re-exported: the model's tokenizer
    BOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    WordTokenizer,
    split_words,
)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "baton-world-t2a"
VERSION = 1

# --- configuration ------------------------------------------------------------------------------------


# Mel magnitudes are floored here before the log: just above the world's -50 dBFS noise floor
# (ln -5.7 per mel bin, 99th percentile -5.0), so that silence is one constant value the model learns
# at once instead of noise texture, while events (ln -4 to 0) keep 20-35 dB of their dynamics.
WORLD_LOG_FLOOR = 0.008


def world_mel_config() -> MelConfig:
    """The world model's log-mel front end: Tango's (64 Slaney mels to 8 kHz, ln), hop 256, floor 0.008."""
    return MelConfig(hop_length=256, log_floor=WORLD_LOG_FLOOR)


@dataclass
class TextEncoderConfig:
    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_tokens: int = 40


@dataclass
class DenoiserConfig:
    channels: list[int] = field(default_factory=lambda: [128, 192, 256])
    blocks_per_level: int = 2
    patch: int = 2
    heads: int = 4
    groups: int = 8
    # Every cross-attention's queries also see where in the clip they are (a sinusoid of the
    # position as a share of the clip): so a frame can ask the text what sounds at its time.
    query_positions: bool = False


@dataclass
class SchedulerSettings:
    """The training noise schedule (a diffusers ``DDPMScheduler``)."""

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"


@dataclass
class WorldT2AConfig:
    """Everything needed to rebuild a :class:`WorldT2A` before loading its weights."""

    mel: MelConfig = field(default_factory=world_mel_config)
    clip_samples: int = CLIP_SAMPLES
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    default_steps: int = 25
    default_guidance: float = 3.0
    griffin_lim_iters: int = 32
    guidance_rescale: float = 0.0

    @property
    def n_frames(self) -> int:
        """Mel frames of one clip (251 for 4 s at hop 256)."""
        return num_frames(self.clip_samples, self.mel)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldT2AConfig:
        return cls(
            mel=MelConfig(**data["mel"]),
            clip_samples=int(data["clip_samples"]),
            text=TextEncoderConfig(**data["text"]),
            denoiser=DenoiserConfig(**data["denoiser"]),
            scheduler=SchedulerSettings(**data["scheduler"]),
            default_steps=int(data["default_steps"]),
            default_guidance=float(data["default_guidance"]),
            griffin_lim_iters=int(data["griffin_lim_iters"]),
            guidance_rescale=float(data.get("guidance_rescale", 0.0)),  # models saved before it: none
        )


# --- building blocks ----------------------------------------------------------------------------------


def sinusoidal_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[N] positions (timesteps or frame indices) -> [N, dim] sines and cosines of geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def _attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Multi-head attention of q [B, Tq, C] over k, v [B, Tk, C]; mask [B, Tk] (True = attend)."""
    b, tq, c = q.shape
    tk = k.shape[1]
    q = q.view(b, tq, heads, c // heads).transpose(1, 2)
    k = k.view(b, tk, heads, c // heads).transpose(1, 2)
    v = v.view(b, tk, heads, c // heads).transpose(1, 2)
    attn_mask = None if mask is None else mask[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [B, H, Tq, C/H]
    return out.transpose(1, 2).reshape(b, tq, c)


class TransformerLayer(nn.Module):
    """Pre-norm self-attention and feed-forward over tokens [B, L, D]."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(_attention(q, k, v, self.heads, mask))
        return x + self.ff(self.norm2(x))


class TextEncoder(nn.Module):
    """Token ids [B, L] and mask [B, L] -> token states [B, L, D]."""

    def __init__(self, vocab_size: int, config: TextEncoderConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, config.dim)
        self.positions = nn.Embedding(config.max_tokens, config.dim)
        self.layers = nn.ModuleList(TransformerLayer(config.dim, config.heads) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions.weight[None, : ids.shape[1]]
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class TimeConv(nn.Conv1d):
    """A convolution over time computed as one matrix product of unfolded frames.

    Same weights and result as ``nn.Conv1d`` (up to rounding), but each row's arithmetic is the same
    whatever the batch size: oneDNN's convolution picks other kernels for other batch sizes, whose
    float rounding would make a clip depend on its batch. As fast on CPU for these sizes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, stride, pad = self.kernel_size[0], self.stride[0], self.padding[0]
        b = x.shape[0]
        x = F.pad(x, (pad, pad)) if pad else x
        columns = x.unfold(2, k, stride)  # [B, C, T', k]
        columns = columns.permute(0, 2, 1, 3).reshape(b, columns.shape[2], -1)  # [B, T', C * k]
        return F.linear(columns, self.weight.reshape(self.out_channels, -1), self.bias).transpose(1, 2)


class RowLinear(nn.Linear):
    """``nn.Linear`` for one vector per clip [B, D], run on at least ``MIN_ROWS`` rows.

    Matrix products of a handful of rows take other CPU kernels than larger ones and round
    differently, which would make a clip's result depend on the batch size; zero rows are appended
    up to ``MIN_ROWS`` (and dropped again) so that every batch takes the same path.
    """

    MIN_ROWS = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        if x.dim() != 2 or rows >= self.MIN_ROWS:
            return super().forward(x)
        return super().forward(F.pad(x, (0, 0, 0, self.MIN_ROWS - rows)))[:rows]


class ResBlock(nn.Module):
    """Two 3-tap convolutions over time with group norm, the timestep as a FiLM scale and shift."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = TimeConv(in_channels, out_channels)
        self.film = RowLinear(embed_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = TimeConv(out_channels, out_channels)
        self.skip = TimeConv(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # [B, C, T]
        scale, shift = self.film(F.silu(embedding))[:, :, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class Attention(nn.Module):
    """Frames [B, C, T] attend to a context [B, L, D] (the text), or to themselves if none is given."""

    def __init__(
        self, channels: int, heads: int, context_dim: int | None = None, query_positions: bool = False
    ) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.q = nn.Linear(channels, channels, bias=False)
        self.position = nn.Linear(channels, channels, bias=False) if query_positions else None
        self.kv = nn.Linear(context_dim or channels, 2 * channels, bias=False)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.norm(x.transpose(1, 2))  # [B, T, C]
        k, v = self.kv(h if context is None else context).chunk(2, dim=-1)
        q = self.q(h)
        if self.position is not None:
            # Positions as a share of the clip (0..1 at every level), on a scale of 256 steps.
            share = torch.arange(h.shape[1], device=h.device) * (256.0 / h.shape[1])
            q = q + self.position(sinusoidal_embedding(share, h.shape[-1]).to(h.dtype))[None]
        out = self.out(_attention(q, k, v, self.heads, mask))
        return x + out.transpose(1, 2)


class Level(nn.Module):
    """A U-Net level: ``blocks`` pairs of (residual block, cross-attention to the text)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        blocks: int,
        embed_dim: int,
        text_dim: int,
        config: DenoiserConfig,
    ) -> None:
        super().__init__()
        self.res = nn.ModuleList(
            ResBlock(in_channels if i == 0 else channels, channels, embed_dim, config.groups)
            for i in range(blocks)
        )
        self.cross = nn.ModuleList(
            Attention(channels, config.heads, text_dim, config.query_positions) for _ in range(blocks)
        )

    def forward(
        self,
        x: torch.Tensor,
        embedding: torch.Tensor,
        text: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        for res, cross in zip(self.res, self.cross, strict=True):
            x = cross(res(x, embedding), text, mask)
        return x


class Denoiser(nn.Module):
    """Noisy frames [B, n_mels, T], timesteps [B], text states [B, L, D] and mask -> prediction [B, n_mels, T]."""

    def __init__(self, n_mels: int, text_dim: int, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        self.n_mels = n_mels
        channels = list(config.channels)
        embed_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(
            RowLinear(channels[0], embed_dim), nn.SiLU(), RowLinear(embed_dim, embed_dim)
        )
        self.text_pool = RowLinear(text_dim, embed_dim)
        self.input = TimeConv(n_mels * config.patch, channels[0])
        self.position = nn.Linear(channels[0], channels[0])

        blocks = config.blocks_per_level
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        previous = channels[0]
        for i, width in enumerate(channels):
            self.down.append(Level(previous, width, blocks, embed_dim, text_dim, config))
            if i < len(channels) - 1:
                self.downsample.append(TimeConv(width, width, stride=2))
            previous = width
        self.mid_res1 = ResBlock(previous, previous, embed_dim, config.groups)
        self.mid_self = Attention(previous, config.heads)
        self.mid_cross = Attention(previous, config.heads, text_dim, config.query_positions)
        self.mid_res2 = ResBlock(previous, previous, embed_dim, config.groups)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(channels))):
            width = channels[i]
            if i < len(channels) - 1:
                self.upsample.append(TimeConv(previous, width))
            self.up.append(Level(2 * width, width, blocks, embed_dim, text_dim, config))
            previous = width
        self.out_norm = nn.GroupNorm(config.groups, previous)
        self.output = TimeConv(previous, n_mels * config.patch)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def frame_multiple(self) -> int:
        """The time axis is padded to a multiple of this (patch x 2 per downsampling)."""
        return self.config.patch * 2 ** (len(self.config.channels) - 1)

    def forward(
        self, x: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        b, n_mels, frames = x.shape
        patch = self.config.patch
        # 1. Pad time to a whole number of coarsest-level positions; fold each `patch` frames into channels.
        padded = -(-frames // self.frame_multiple) * self.frame_multiple
        h = F.pad(x, (0, padded - frames))
        h = h.view(b, n_mels, padded // patch, patch).permute(0, 3, 1, 2).reshape(b, patch * n_mels, -1)
        # 2. Embeddings: timestep [B, E]; position over time [C0, T'] added to the input features.
        if timesteps.dim() == 0:
            timesteps = timesteps.expand(b)
        # The clip's embedding [B, E]: its timestep plus the mean of its text's token states, a
        # global summary of the text that conditions every block (the tokens also come in through
        # cross-attention, which places them in time).
        if mask is None:
            pooled = text.mean(dim=1)
        else:
            weights = mask.to(text.dtype)[:, :, None]
            pooled = (text * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        embedding = self.time_mlp(sinusoidal_embedding(timesteps, self.config.channels[0]))
        embedding = embedding + self.text_pool(pooled)
        positions = torch.arange(h.shape[-1], device=x.device)
        h = self.input(h) + self.position(sinusoidal_embedding(positions, self.config.channels[0])).T[None]
        # 3. Down, middle, up.
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, embedding, text, mask)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid_res1(h, embedding)
        h = self.mid_cross(self.mid_self(h), text, mask)
        h = self.mid_res2(h, embedding)
        for i, level in enumerate(self.up):
            if i > 0:
                h = self.upsample[i - 1](F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = level(torch.cat([h, skips.pop()], dim=1), embedding, text, mask)
        h = self.output(F.silu(self.out_norm(h)))  # [B, patch * n_mels, T']
        # 4. Unfold the patches and cut the padding.
        h = h.view(b, patch, n_mels, -1).permute(0, 2, 3, 1).reshape(b, n_mels, padded)
        return h[:, :, :frames]


# --- the whole model ----------------------------------------------------------------------------------


class WorldT2A(nn.Module):
    """Tokenizer, text encoder, denoiser, corpus statistics and noise scheduler of the world model."""

    def __init__(self, config: WorldT2AConfig, tokenizer: WordTokenizer) -> None:
        super().__init__()

        self.config = config
        self.tokenizer = tokenizer
        self.text_encoder = TextEncoder(len(tokenizer), config.text)
        self.denoiser = Denoiser(config.mel.n_mels, config.text.dim, config.denoiser)
        self.mel = MelSpectrogram(config.mel)
        # Per-mel-bin mean and spread of the corpus's log-mels: x0 = (log_mel - mean) / std.
        self.register_buffer("mel_mean", torch.zeros(config.mel.n_mels))
        self.register_buffer("mel_std", torch.ones(config.mel.n_mels))
        self.noise_scheduler = DDPMScheduler(
            num_train_timesteps=config.scheduler.num_train_timesteps,
            beta_schedule=config.scheduler.beta_schedule,
            prediction_type=config.scheduler.prediction_type,
            clip_sample=False,
        )
        # Set by train_t2a: steps, time and losses of the training run (saved as training.json).
        self.report: dict[str, Any] | None = None

    @property
    def device(self) -> torch.device:
        return self.mel_mean.device

    # --- text -----------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids and mask [B, max_tokens] on the model's device."""
        ids, mask = self.tokenizer.batch(texts, self.config.text.max_tokens)
        return ids.to(self.device), mask.to(self.device)

    def encode_text(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states [B, L, D] and mask [B, L] (with gradients if the encoder is training)."""
        ids, mask = self.tokenize(texts)
        return self.text_encoder(ids, mask), mask

    # --- audio <-> normalised mel frames --------------------------------------------------------

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Waveforms [B, N] at the world's rate -> log-mel [B, n_mels, n_frames], cut or padded to a clip."""
        samples = self.config.clip_samples
        audio = audio.to(self.device, torch.float32)
        audio = (
            audio[:, :samples] if audio.shape[1] >= samples else F.pad(audio, (0, samples - audio.shape[1]))
        )
        return self.mel(audio)

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.mel_mean[:, None]) / self.mel_std[:, None]

    def denormalize(self, frames: torch.Tensor) -> torch.Tensor:
        return frames * self.mel_std[:, None] + self.mel_mean[:, None]

    @torch.no_grad()
    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Waveforms [B, N] -> normalised mel frames [B, n_mels, n_frames], the x0 the denoiser learns."""
        return self.normalize(self.log_mel(audio))

    @torch.no_grad()
    def frames_to_audio(self, frames: torch.Tensor, seeds: Sequence[int], n_iter: int | None = None) -> list:
        """Normalised frames [B, n_mels, T] -> one float32 numpy waveform per clip (Griffin-Lim).

        Each clip is inverted alone with its own seed for the starting phases, so that the waveform,
        like the frames, depends only on that clip.
        """
        n_iter = self.config.griffin_lim_iters if n_iter is None else n_iter
        log_mel = self.denormalize(frames).cpu()
        clips = []
        for row, seed in enumerate(seeds):
            wave = mel_to_audio(log_mel[row], self.config.mel, n_iter=n_iter, seed=int(seed) % 2**63)
            clips.append(wave[: self.config.clip_samples].numpy().astype("float32"))
        return clips

    # --- denoising ------------------------------------------------------------------------------

    def predict(
        self, noisy: torch.Tensor, timesteps: torch.Tensor, states: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """The denoiser's output for noisy frames [B, n_mels, T] (v, epsilon or x0, per the scheduler)."""
        return self.denoiser(noisy, timesteps, states, mask)

    def guided_prediction(
        self,
        noisy: torch.Tensor,
        timestep: torch.Tensor,
        cond: tuple[torch.Tensor, torch.Tensor],
        uncond: tuple[torch.Tensor, torch.Tensor],
        guidance_scale: float,
        rescale: float = 0.0,
    ) -> torch.Tensor:
        """Classifier-free guidance in one batched pass: ``g = u + s * (c - u)``.

        The unconditional and conditional rows are stacked into one batch of 2B; ``cond`` and
        ``uncond`` are (states [B, L, D], mask [B, L]). With ``rescale`` phi > 0, each clip's guided
        prediction is scaled toward the spread of its conditional one (Lin et al. 2023, sec. 3.4):
        ``phi * g * std(c) / std(g) + (1 - phi) * g``. Guidance alone overshoots: at scale 5 the world
        model's clips had frames with a standard deviation of 0.68, against 0.48 for real clips.
        """
        b = noisy.shape[0]
        states = torch.cat([uncond[0], cond[0]])
        mask = torch.cat([uncond[1], cond[1]])
        timesteps = (
            timestep.to(noisy.device).reshape(-1).expand(2 * b)
            if timestep.numel() == 1
            else timestep.repeat(2)
        )
        out = self.predict(torch.cat([noisy, noisy]), timesteps, states, mask)
        unconditional, conditional = out.chunk(2)
        return classifier_free_guidance(unconditional, conditional, guidance_scale, rescale)

    @torch.no_grad()
    def sample(
        self,
        texts: Sequence[str],
        seeds: Sequence[int],
        steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str = "",
        guidance_rescale: float | None = None,
    ) -> torch.Tensor:
        """Generate normalised mel frames [B, n_mels, n_frames] for ``texts``, clip i from ``seeds[i]``.

        DPM-Solver++ (2nd order, multistep) over the training schedule; guidance ``s`` with
        ``negative_prompt`` ("" by default) as the unconditional text, rescaled by ``guidance_rescale``
        (default: the model's; see :meth:`guided_prediction`).
        """
        if len(texts) != len(seeds):
            raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
        steps = self.config.default_steps if steps is None else steps
        guidance_scale = self.config.default_guidance if guidance_scale is None else guidance_scale
        rescale = self.config.guidance_rescale if guidance_rescale is None else guidance_rescale
        # 1. A fresh sampler (schedulers keep state between steps).
        scheduler = DPMSolverMultistepScheduler.from_config(self.noise_scheduler.config)
        scheduler.set_timesteps(steps, device=self.device)
        # 2. Each clip's starting noise from its own generator: batch composition never changes a clip.
        shape = (self.config.mel.n_mels, self.config.n_frames)
        generators = [torch.Generator().manual_seed(int(seed) % 2**63) for seed in seeds]
        x = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(self.device)
        x = x * scheduler.init_noise_sigma
        # 3. Text conditioning, conditional and unconditional.
        cond = self.encode_text(list(texts))
        uncond = self.encode_text([negative_prompt] * len(texts))
        # 4. Denoising loop.
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(x, t)
            if guidance_scale == 1.0:
                prediction = self.predict(model_input, t.reshape(1).expand(len(texts)), *cond)
            else:
                prediction = self.guided_prediction(model_input, t, cond, uncond, guidance_scale, rescale)
            x = scheduler.step(prediction, t, x, generator=None).prev_sample
        return x

    # --- files ----------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` (architecture, mel settings, scheduler, vocabulary) and ``model.safetensors``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "config": self.config.to_dict(),
            "vocabulary": self.tokenizer.to_json(),
        }
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        _write_atomic(directory / WEIGHTS_FILE, lambda path: save_safetensors(state, path))
        _write_atomic(directory / CONFIG_FILE, lambda path: path.write_text(json.dumps(meta, indent=2)))
        if self.report is not None:
            _write_atomic(
                directory / "training.json", lambda path: path.write_text(json.dumps(self.report, indent=2))
            )
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> WorldT2A:
        """Read a model written by :meth:`save`."""
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no world T2A model here (config.json is missing)", path=config_path) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=config_path, line=exc.lineno) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(
                f"not a world T2A model (expected format '{FORMAT}')", path=config_path, field="format"
            )
        if meta.get("version") != VERSION:
            raise InputError(
                f"unsupported version {meta.get('version')!r} (this baton reads {VERSION}): "
                "rebuild it with `baton world build`",
                path=config_path,
                field="version",
            )
        try:
            config = WorldT2AConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"unreadable model config: {exc}", path=config_path, field="config") from None
        try:
            tokenizer = WordTokenizer.from_json(meta.get("vocabulary"))
        except ValueError as exc:
            raise InputError(str(exc), path=config_path, field="vocabulary") from None
        model = cls(config, tokenizer)
        weights_path = directory / WEIGHTS_FILE
        try:
            state = load_file(str(weights_path))
        except FileNotFoundError:
            raise InputError("the model weights are missing", path=weights_path) from None
        except (SafetensorError, OSError) as exc:
            raise InputError(f"unreadable weights: {exc}", path=weights_path) from None
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise InputError(
                f"weights do not fit the config: {first[-1].strip()}", path=weights_path
            ) from None
        report_path = directory / "training.json"
        if report_path.exists():
            model.report = json.loads(report_path.read_text(encoding="utf-8"))
        return model.to(device).eval()


def _write_atomic(path: Path, write: Any) -> None:
    """Write through ``write(tmp_path)`` to a temporary file beside ``path``, then rename it over."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
