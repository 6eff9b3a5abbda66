"""Encode once, train many times: x0 of every clip and text states of every caption, up front.

The text encoder and the audio encoder stay frozen while the denoiser trains, so their outputs for a
clip never change: computing them once per run (not once per step, as BATON's released scripts did
for CLAP) is exact and leaves each training step with the denoiser's work alone. (When the text
encoder trains too, ``--train-text-encoder``, captions are encoded per batch instead.)

Text states of different captions can differ in length (T5 pads a batch to its longest caption).
The table pads every caption's states to the longest with zeros and a mask of 0, which the
denoiser's cross-attention ignores; a backend whose states differ in length *without* a mask
cannot be padded safely, so its captions are encoded per batch instead (same result, slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from baton.backends.base import SamplesLatents, TextConditioning
from baton.console import track
from baton.generation.latents import read_latent

if TYPE_CHECKING:
    from baton.backends.base import T2ABackend
    from baton.finetune.data import Clip


def conditioning_to(text: TextConditioning, device: torch.device | str) -> TextConditioning:
    """The same conditioning with every tensor on ``device``."""
    return TextConditioning(
        hidden_states=text.hidden_states.to(device),
        attention_mask=None if text.attention_mask is None else text.attention_mask.to(device),
        extra=None if text.extra is None else {k: v.to(device) for k, v in text.extra.items()},
    )


def _pad_dim1(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad axis 1 of [B, L, ...] to ``length``."""
    if tensor.shape[1] == length:
        return tensor
    pad = torch.zeros((tensor.shape[0], length - tensor.shape[1], *tensor.shape[2:]), dtype=tensor.dtype)
    return torch.cat([tensor, pad.to(tensor.device)], dim=1)


def concat_conditioning(parts: Sequence[TextConditioning]) -> TextConditioning | None:
    """One conditioning of every part's rows, padded along the token axis; ``None`` if unsafe to pad."""
    first = parts[0]
    lengths = {p.hidden_states.shape[1] for p in parts}
    if len(lengths) > 1 and first.attention_mask is None:
        return None
    longest = max(lengths)
    hidden = torch.cat([_pad_dim1(p.hidden_states.cpu(), longest) for p in parts])
    mask = None
    if first.attention_mask is not None:
        mask = torch.cat([_pad_dim1(p.attention_mask.cpu(), longest) for p in parts])
    extra = None
    if first.extra is not None:
        extra = {}
        has_mask = any("mask" in key for key in first.extra)
        for key in first.extra:
            tensors = [p.extra[key].cpu() for p in parts]  # type: ignore[index]
            if len({t.shape[1:] for t in tensors}) > 1:
                if not has_mask or any(t.ndim < 2 for t in tensors):
                    return None
                width = max(t.shape[1] for t in tensors)
                tensors = [_pad_dim1(t, width) for t in tensors]
                if len({t.shape[1:] for t in tensors}) > 1:
                    return None
            extra[key] = torch.cat(tensors)
    return TextConditioning(hidden_states=hidden, attention_mask=mask, extra=extra)


class TextTable:
    """The text conditioning of a list of captions, looked up by caption index.

    Encoded once up front while the text encoder is frozen; with ``precompute=False`` (the encoder
    trains) every batch is encoded afresh, with gradients.
    """

    def __init__(
        self,
        backend: T2ABackend,
        texts: Sequence[str],
        chunk: int = 64,
        progress: bool = False,
        precompute: bool = True,
    ) -> None:
        self.backend = backend
        self.texts = list(texts)
        self.table = None
        if precompute:
            with torch.no_grad():
                parts = [
                    backend.encode_text(self.texts[start : start + chunk])
                    for start in track(
                        range(0, len(self.texts), chunk), "encoding captions", enabled=progress
                    )
                ]
            self.table = concat_conditioning(parts) if parts else None

    @property
    def precomputed(self) -> bool:
        return self.table is not None

    def batch(self, indices: torch.Tensor) -> TextConditioning:
        """Conditioning of the captions ``indices`` [B] (on the CPU)."""
        if self.table is not None:
            return self.table.index(indices)
        return self.backend.encode_text([self.texts[int(i)] for i in indices])


def encode_clips(
    backend: T2ABackend, clips: Sequence[Clip], chunk: int = 32, progress: bool = False
) -> torch.Tensor:
    """x0 [N, ...] of every clip (float32, CPU), through ``backend.encode_audio`` in chunks."""
    parts: list[torch.Tensor] = []
    for start in track(range(0, len(clips), chunk), "encoding audio", enabled=progress):
        loaded = [clip.load() for clip in clips[start : start + chunk]]
        # encode_audio takes one sample rate per call: consecutive clips of one rate go together
        run: list[np.ndarray] = []
        rate = None
        for audio, sample_rate in loaded:
            if run and sample_rate != rate:
                parts.append(backend.encode_audio(run, rate).detach().float().cpu())
                run = []
            run.append(audio)
            rate = sample_rate
        if run:
            parts.append(backend.encode_audio(run, rate).detach().float().cpu())
    return torch.cat(parts)


def clip_targets(
    backend: T2ABackend,
    clips: Sequence[Clip],
    *,
    sampled_latents: bool = True,
    chunk: int = 32,
    progress: bool = False,
) -> tuple[torch.Tensor, dict[str, int]]:
    """x0 [N, ...] of every clip, and how many came from where.

    A generated clip whose sampled latents ``baton generate`` kept (:mod:`baton.generation.latents`)
    trains on them, when they are in this backend's latent space, its audio file is unchanged and
    they have the shape ``encode_audio`` gives; every other clip (pretraining clips, other
    backends', edited ones) is encoded from its audio. The counts: ``latent`` and ``audio``, and
    why a clip with a latent file was not trained on it (``other space``, ``audio changed``,
    ``other shape``).
    """
    found: dict[int, torch.Tensor] = {}
    counts: dict[str, int] = {}
    if sampled_latents and isinstance(backend, SamplesLatents):
        space = backend.latent_space
        for row, clip in enumerate(clips):
            if clip.source == "pretrain" or clip.path is None:
                continue
            latent, why = read_latent(clip.path, space)
            if latent is not None:
                found[row] = latent
            elif why != "none":
                counts[why] = counts.get(why, 0) + 1
    rest = [row for row in range(len(clips)) if row not in found]
    encoded = (
        encode_clips(backend, [clips[row] for row in rest], chunk=chunk, progress=progress) if rest else None
    )
    shape = tuple(encoded.shape[1:]) if encoded is not None else None
    if found and shape is None:
        # Everything has latents: the shape encode_audio gives, from one clip's audio.
        shape = tuple(encode_clips(backend, [clips[next(iter(found))]]).shape[1:])
    wrong = [row for row, latent in found.items() if tuple(latent.shape) != shape]
    if wrong:
        counts["other shape"] = len(wrong)
        for row in wrong:
            del found[row]
        again = encode_clips(backend, [clips[row] for row in wrong], chunk=chunk)
        rest += wrong
        encoded = again if encoded is None else torch.cat([encoded, again])
    out = torch.empty((len(clips), *shape), dtype=torch.float32) if clips else torch.zeros(0)
    for row, latent in found.items():
        out[row] = latent
    if rest:
        out[torch.tensor(rest)] = encoded
    counts = {"latent": len(found), "audio": len(rest), **counts}
    return out, counts
