"""Frozen audio and text encoders of the reward model, behind one small interface.

An encoder turns clips and texts into features in one shared space:

* audio: a pooled clip embedding ``[D]`` (what BATON's MLP reads) and frame-level features
  ``[T, D]`` in time order (what the temporal head reads);
* text: a pooled text embedding ``[D]`` and the token states ``[L, D]`` (padding removed).

Two encoders implement it:

* :class:`HFClapEncoder`: CLAP through transformers (``ClapModel`` + ``ClapProcessor``, e.g.
  ``laion/clap-htsat-unfused``). Audio is resampled to the processor's rate (48 kHz for every LAION
  CLAP; BATON's scripts fed 16 kHz audio to it). Clips longer than the processor's window are cut to
  its first ``max_length_s`` seconds here, because the processor's own truncation crops at a random
  place (global numpy random state) and would make features unrepeatable. Frame features: the last
  HTSAT stage ``[B, C, F, T]`` averaged over frequency, each frame passed through CLAP's own audio
  projection; only the frames that cover the clip itself are kept (the processor repeat-pads a
  short clip to its window).
* :class:`WorldClapEncoder`: the sound world's CLAP (:class:`baton.world.clap.WorldClap`), through its
  public ``embed_audio``/``embed_audio_frames``/``embed_text``/``embed_text_tokens``.

Each encoder has an ``identity``: its kind, where it was loaded from, and a fingerprint of its
weights and preprocessing. The embedding cache is keyed by the fingerprint, and a saved reward
model records the identity, so that it is never scored with features of another encoder.

``load_encoder("world")``, ``load_encoder("world:DIR")``, ``load_encoder("clap:DIR_OR_HUB_ID")``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from baton.artifacts import give_safetensors_plain_mode
from baton.audio import resample
from baton.backends.common import load_pretrained
from baton.errors import InputError
from baton.fingerprints import fingerprint_of, state_dict_digest
from baton.world.clap import WorldClap
from baton.world.manifest import world_dir
from baton.world.spec import CLIP_SAMPLES, SAMPLE_RATE

# Bump when the way features are computed from an encoder changes: it is part of every fingerprint.
FEATURES_VERSION = 1


@dataclass
class AudioFeatures:
    """One clip: pooled embedding ``[D]`` and frame features ``[T, D]`` (float32, time order)."""

    pooled: torch.Tensor
    frames: torch.Tensor


@dataclass
class TextFeatures:
    """One text: pooled embedding ``[D]`` and token states ``[L, D]`` (padding removed)."""

    pooled: torch.Tensor
    tokens: torch.Tensor


@runtime_checkable
class RewardEncoder(Protocol):
    """What the reward model needs from a frozen audio-text encoder pair."""

    identity: dict[str, Any]
    sample_rate: int
    audio_dim: int
    text_dim: int

    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[AudioFeatures]:
        """Features of each 1-D float clip given at ``sample_rate``."""
        ...

    def encode_text(self, texts: Sequence[str]) -> list[TextFeatures]:
        """Features of each non-empty text."""
        ...


def _covering_frames(n_frames: int, clip_samples: int, window_samples: int) -> int:
    """How many of ``n_frames`` spread over ``window_samples`` cover the clip's own samples."""
    share = min(1.0, clip_samples / window_samples)
    return max(1, min(n_frames, math.ceil(n_frames * share)))


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings, not one string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text {i} is empty or not a string: {text!r}")
    return texts


def _as_clips(audio: Sequence[Any]) -> list[np.ndarray]:
    clips = []
    for i, clip in enumerate(audio):
        x = np.asarray(clip.detach().cpu() if isinstance(clip, torch.Tensor) else clip, dtype=np.float32)
        if x.ndim != 1 or x.size < 2:
            raise ValueError(f"clip {i} must be a 1-D array of samples, got shape {list(x.shape)}")
        if not np.isfinite(x).all():
            raise ValueError(f"clip {i} holds NaN or infinite samples")
        clips.append(x)
    return clips


# --- CLAP through transformers ------------------------------------------------------------------------


class HFClapEncoder:
    """``transformers.ClapModel`` and its ``ClapProcessor`` (loaded from a folder or a hub id)."""

    def __init__(self, model: Any, processor: Any, source: str, batch_size: int = 16) -> None:
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.processor = processor
        self.batch_size = batch_size
        extractor = processor.feature_extractor
        self.sample_rate = int(extractor.sampling_rate)
        self.window_samples = int(extractor.nb_max_samples)
        self.audio_dim = self.text_dim = int(model.config.projection_dim)
        preprocessing = {
            key: getattr(extractor, key, None)
            for key in (
                "sampling_rate",
                "feature_size",
                "hop_length",
                "max_length_s",
                "padding",
                "truncation",
            )
        }
        self.identity = {
            "kind": "hf-clap",
            "source": source,
            "fingerprint": fingerprint_of(
                "hf-clap", FEATURES_VERSION, preprocessing, state_dict_digest(model)
            ),
            "audio_dim": self.audio_dim,
            "text_dim": self.text_dim,
            "sample_rate": self.sample_rate,
        }

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu") -> HFClapEncoder:
        # A local folder is recorded absolute, so a saved reward model finds it from anywhere.
        source = str(Path(source).resolve()) if Path(source).exists() else str(source)
        # transformers takes a second to import: only for a hub CLAP
        from transformers import ClapModel, ClapProcessor

        # float32 whatever the checkpoint holds (transformers would take its dtype): features compare.
        load = partial(ClapModel.from_pretrained, dtype=torch.float32)
        model = load_pretrained(load, source, "CLAP model", model_type="clap")
        processor = load_pretrained(ClapProcessor.from_pretrained, source, "CLAP processor")
        return cls(model.to(device), processor, source)

    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[AudioFeatures]:
        clips = _as_clips(audio)
        if sample_rate != self.sample_rate:
            # CLAP is trained on 48 kHz audio: resampling here is the fix to BATON's 16 kHz input.
            clips = [np.asarray(resample(x, sample_rate, self.sample_rate), np.float32) for x in clips]
        # Deterministic: the processor would crop a longer clip at a random place.
        clips = [x[: self.window_samples] for x in clips]
        out: list[AudioFeatures] = []
        device = self.model.device
        for start in range(0, len(clips), self.batch_size):
            batch = clips[start : start + self.batch_size]
            inputs = self.processor(audio=batch, sampling_rate=self.sample_rate, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with torch.no_grad():
                result = self.model.get_audio_features(**inputs)
                pooled = result.pooler_output  # [B, D], L2-normalised by CLAP
                states = result.last_hidden_state.mean(dim=2).transpose(1, 2)  # [B, T, C], time order
                frames = F.normalize(self.model.audio_projection(states), dim=-1)  # [B, T, D]
            for i, clip in enumerate(batch):
                keep = _covering_frames(frames.shape[1], clip.size, self.window_samples)
                out.append(AudioFeatures(pooled[i].float().cpu(), frames[i, :keep].float().cpu()))
        return out

    def encode_text(self, texts: Sequence[str]) -> list[TextFeatures]:
        texts = _check_texts(texts)
        out: list[TextFeatures] = []
        device = self.model.device
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            inputs = self.processor(text=batch, padding=True, truncation=True, return_tensors="pt")
            mask = inputs["attention_mask"].bool()
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with torch.no_grad():
                result = self.model.get_text_features(**inputs)
                pooled = result.pooler_output  # [B, D]
                tokens = self.model.text_projection(result.last_hidden_state)  # [B, L, D]
            for i in range(len(batch)):
                out.append(TextFeatures(pooled[i].float().cpu(), tokens[i, mask[i]].float().cpu()))
        return out


# --- the sound world's CLAP ---------------------------------------------------------------------------


class WorldClapEncoder:
    """The world CLAP of a built world (``<world>/clap``)."""

    def __init__(self, clap: Any, source: str, weights_digest: bytes) -> None:
        self.clap = clap
        self.sample_rate = SAMPLE_RATE
        self.window_samples = CLIP_SAMPLES
        self.audio_dim = self.text_dim = int(clap.embed_dim)
        self.identity = {
            "kind": "world-clap",
            "source": source,
            "fingerprint": fingerprint_of("world-clap", FEATURES_VERSION, weights_digest),
            "audio_dim": self.audio_dim,
            "text_dim": self.text_dim,
            "sample_rate": self.sample_rate,
        }

    @classmethod
    def load(cls, directory: str | Path) -> WorldClapEncoder:
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise InputError(
                "no world CLAP here: build the sound world first (baton world build)", path=directory
            )
        clap = WorldClap.load(directory)
        digest = hashlib.sha256()
        for name in ("config.json", "model.safetensors"):
            digest.update((directory / name).read_bytes())
        return cls(clap, str(directory.resolve()), digest.digest())

    def encode_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[AudioFeatures]:
        clips = _as_clips(audio)
        pooled = self.clap.embed_audio(clips, sample_rate)  # [B, D]
        frames = self.clap.embed_audio_frames(clips, sample_rate)  # [B, T, D]
        ratio = self.sample_rate / sample_rate
        out = []
        for i, clip in enumerate(clips):
            keep = _covering_frames(frames.shape[1], round(clip.size * ratio), self.window_samples)
            out.append(AudioFeatures(pooled[i].float(), frames[i, :keep].float()))
        return out

    def encode_text(self, texts: Sequence[str]) -> list[TextFeatures]:
        texts = _check_texts(texts)
        pooled = self.clap.embed_text(texts)  # [B, D]
        tokens, mask = self.clap.embed_text_tokens(texts)  # [B, L, D], [B, L]
        return [TextFeatures(pooled[i].float(), tokens[i, mask[i]].float()) for i in range(len(texts))]


# --- choosing one -----------------------------------------------------------------------------------


def load_encoder(spec: str, device: str = "cpu") -> RewardEncoder:
    """``world`` (the cached world's CLAP), ``world:DIR`` (a world or its clap/ folder), ``clap:SOURCE``."""
    kind, _, source = spec.partition(":")
    if kind == "world":
        if source:
            folder = Path(source)
            folder = folder / "clap" if (folder / "clap" / "config.json").is_file() else folder
        else:
            folder = world_dir() / "clap"
        return WorldClapEncoder.load(folder)
    if kind == "clap":
        if not source:
            raise InputError(
                "give the CLAP model: clap:laion/clap-htsat-unfused or clap:DIR", field="encoder"
            )
        return HFClapEncoder.load(source, device=device)
    raise InputError(f"unknown encoder {spec!r}: use world, world:DIR or clap:SOURCE", field="encoder")


def encoder_from_identity(identity: dict[str, Any], device: str = "cpu") -> RewardEncoder:
    """Load the encoder a saved reward model names, and check that it is the same one."""
    kind, source = identity.get("kind"), identity.get("source")
    if kind == "world-clap":
        encoder: RewardEncoder = WorldClapEncoder.load(source)
    elif kind == "hf-clap":
        encoder = HFClapEncoder.load(source, device=device)
    else:
        raise InputError(f"unknown encoder kind {kind!r}", field="encoder.kind")
    check_same_encoder(identity, encoder)
    return encoder


def check_same_encoder(expected: dict[str, Any], encoder: RewardEncoder) -> None:
    if expected.get("fingerprint") != encoder.identity["fingerprint"]:
        raise InputError(
            f"the encoder at {encoder.identity['source']} is not the one this reward model was trained on "
            f"(fingerprint {encoder.identity['fingerprint']}, expected {expected.get('fingerprint')}); "
            "pass the right encoder",
            field="encoder",
        )


# --- a tiny CLAP built in code -------------------------------------------------------------------------


def build_tiny_clap(directory: str | Path, seed: int = 0, max_length_s: int = 4) -> Path:
    """Write a tiny random-weight ``ClapModel`` + ``ClapProcessor`` (48 kHz) to ``directory``.

    The real architecture at toy size (HTSAT with 2 stages of width 16/32, a 1-layer RoBERTa over a
    character vocabulary), for tests and benchmarks on a machine without hub access. Load it with
    ``load_encoder(f"clap:{directory}")``.
    """
    # transformers takes a second to import: only when a tiny CLAP is built
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    from baton.backends.tiny import tiny_clap_text_config, tiny_roberta_tokenizer

    torch.manual_seed(seed)
    tokenizer = tiny_roberta_tokenizer(model_max_length=96)
    text_config = tiny_clap_text_config(tokenizer)
    # spec_size 64 over 16 mel bins: freq_ratio 4, so HTSAT takes at most 256 mel frames; a hop of
    # 10 ms per 2 s of window keeps the processor at 201 frames.
    hop = 480 * max(1, math.ceil(max_length_s / 2))
    audio_config = ClapAudioConfig(
        spec_size=64,
        window_size=4,
        num_mel_bins=16,
        intermediate_size=32,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        num_hidden_layers=2,
        hidden_size=32,
        patch_embeds_hidden_size=16,
        projection_dim=16,
        patch_size=2,
        patch_stride=2,
        patch_embed_input_channels=1,
        enable_fusion=False,
    )
    model = ClapModel(
        ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), projection_dim=16)
    )
    extractor = ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=48_000,
        hop_length=hop,
        max_length_s=max_length_s,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
        frequency_max=14_000,
    )

    directory = Path(directory)
    model.save_pretrained(directory)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    give_safetensors_plain_mode(directory)
    return directory
