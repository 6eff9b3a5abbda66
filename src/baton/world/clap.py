"""The world's own CLAP: audio and text encoders trained contrastively into one embedding space.

* **audio**: 64-bin log-mel frames (16 ms hop) -> three strided 1-D convs over time (mel bins as
  channels; 128 ms per output frame) -> one transformer layer with learned positions (so the order
  of events stays visible) -> frame states; their mean, projected and L2-normalised, is the clip
  embedding. The projected frame states are the frame-level features.
* **text**: the world T2A model's word tokenizer (:class:`baton.world.tokenizer.WordTokenizer`: ``[BOS]``
  then lower-cased words and punctuation, padded to a fixed length; vocabulary from the captions
  and every word of the world's templates and phrasings) -> word + position embeddings -> two
  transformer layers -> token states; their masked mean, projected and L2-normalised, is the text
  embedding.
* **loss**: symmetric InfoNCE with a learnable temperature (CLIP): with ``s = exp(logit_scale)``,
  logits ``L = s * A T^T`` over a batch, loss = (CE(L, Y) + CE(L^T, Y^T)) / 2. Clips whose content
  is the same (same labels in the same order and relation, e.g. two single beeps) are all positives
  of each other: ``Y`` spreads each row's target evenly over them, instead of pushing true matches
  apart as false negatives. In-batch negatives almost never hold the same events in another order,
  so each sequence's events told in reverse are added as extra (text-only) hard negatives: without
  them the embedding ignores order (a reversed caption scores as high as the right one).

Training data: the pretraining corpus (mostly single events) plus ``extra_clips`` freshly composed
clips with a balanced mix of singles, sequences and overlaps, so the embedding learns multi-event
captions too (a real CLAP is trained on far more than a T2A model's own corpus). Each time a clip is
drawn, its caption is with probability ``recaption_probability`` rewritten in new random phrasing
(:func:`baton.world.captions.caption`), so the text encoder sees every phrasing the prompts use.

Quality: held-out text-to-audio retrieval. Held-out clips (singles, sequences and overlaps, a third
each) are cut into batches of ``eval_batch_size``; each caption ranks the clips of its batch, and
recall@k is the share whose own clip is among the top k. It depends on the batch size (more
candidates, harder), so the batch size is reported with it.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baton.artifacts import write_json
from baton.audio import MelConfig, MelSpectrogram
from baton.config import config_to_dict, documented, option
from baton.console import track
from baton.errors import InputError
from baton.prompts.phrasing import TEMPLATES
from baton.world.captions import caption, world_vocabulary
from baton.world.detectors import as_audio_batch, compose_clips, load_weights, read_model_meta, save_weights
from baton.world.spec import CLIP_SAMPLES, SAMPLE_RATE
from baton.world.tokenizer import WordTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "baton.world.clap"
FORMAT_VERSION = 1
MAX_LOGIT_SCALE = 100.0
# The audio encoder's three stride-2 convs: one frame state per 8 mel frames.
MEL_FRAMES_PER_STATE = 8


# --- tokenizer --------------------------------------------------------------------------------------


def encode_texts(
    tokenizer: WordTokenizer, texts: Sequence[str], length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[B, length]`` and mask ``[B, length]`` (True = token) of non-empty texts."""
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings, not one string")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts given")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text {i} is empty or not a string: {text!r}")
    return tokenizer.batch(texts, length)


def world_texts() -> list[str]:
    """Every word the world's captions can use: the caption templates and the world vocabulary's phrasings."""
    texts = [re.sub(r"\{[cn]\d\}", " ", t.pattern) for t in TEMPLATES]
    texts.append(".")  # every caption ends with one (phrasing.finish_sentence)
    for event in world_vocabulary().events:
        texts += [*event.clauses, *event.nouns]
    return texts


# --- configuration ----------------------------------------------------------------------------------


@documented
@dataclass
class ClapConfig:
    """How the world CLAP is built and trained."""

    embed_dim: int = option(128, "Size of the shared audio-text embedding.")
    width: int = option(128, "Width of both encoders' hidden states.")
    text_layers: int = option(2, "Transformer layers of the text encoder.")
    heads: int = option(4, "Attention heads in every transformer layer.")
    max_tokens: int = option(
        32, "Text length in tokens ([BOS] included): shorter texts are padded, longer cut."
    )
    n_mels: int = option(64, "Mel bands of the audio front end.")
    n_fft: int = option(1024, "FFT size of the audio front end.")
    hop_length: int = option(256, "Hop (samples) of the audio front end.")
    seed: int = option(0, "Seed of the weight initialisation and the batch order.")
    data_seed: int = option(1, "Seed of the extra composed clips and of the re-captioning.")
    extra_clips: int = option(
        1500, "Freshly composed clips (singles, sequences, overlaps) added to the corpus."
    )
    recaption_probability: float = option(0.5, "Chance that a drawn clip gets a newly phrased caption.")
    reversed_negatives: bool = option(
        True,
        "Add each sequence's caption in reverse order as a hard negative, so the embedding learns order.",
    )
    # 520 rather than 600: recall@1 0.848 against 0.850, in 122 s against 145 s of the build.
    train_steps: int = option(520, "Optimisation steps.")
    batch_size: int = option(64, "Clip-caption pairs per step.")
    learning_rate: float = option(2e-3, "Peak AdamW learning rate (one-cycle schedule).")
    init_temperature: float = option(0.07, "Initial softmax temperature (learned).")
    eval_clips: int = option(512, "Held-out clips for the retrieval evaluation.")
    eval_batch_size: int = option(32, "Clips each caption is ranked among (recall depends on it).")
    eval_seed: int = option(2, "Seed of the held-out clips.")

    def __post_init__(self) -> None:
        for name in (
            "embed_dim",
            "width",
            "text_layers",
            "heads",
            "max_tokens",
            "n_mels",
            "n_fft",
            "hop_length",
            "train_steps",
            "batch_size",
            "eval_batch_size",
        ):
            if getattr(self, name) < 1:
                raise InputError("must be at least 1", field=name)
        if self.width % self.heads:
            raise InputError(
                f"width ({self.width}) must be a multiple of heads ({self.heads})", field="width"
            )
        if not 0.0 <= self.recaption_probability <= 1.0:
            raise InputError("must be between 0 and 1", field="recaption_probability")
        if self.init_temperature <= 0:
            raise InputError("must be positive", field="init_temperature")


def clap_config(seed: int = 0, quick: bool = False) -> ClapConfig:
    """The world CLAP's settings, its seeds derived from ``seed`` (apart from the detectors')."""
    config = ClapConfig(seed=1000 * seed + 41, data_seed=1000 * seed + 42, eval_seed=1000 * seed + 43)
    if quick:
        config.width = 32
        config.embed_dim = 32
        config.text_layers = 1
        config.extra_clips = 16
        config.train_steps = 12
        config.batch_size = 16
        config.eval_clips = 16
        config.eval_batch_size = 16
    return config


# --- encoders ---------------------------------------------------------------------------------------


def _transformer(width: int, heads: int, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class AudioEncoder(nn.Module):
    """Log-mel ``[B, M, T]`` -> frame states ``[B, T', width]`` (``T' ~ T / 8``)."""

    def __init__(self, config: ClapConfig, n_frames: int) -> None:
        super().__init__()
        w = config.width
        self.convs = nn.Sequential(
            nn.Conv1d(config.n_mels, w, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(w, w, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(w, w, 3, stride=2, padding=1),
        )
        self.n_out = self._out_frames(n_frames)
        self.position = nn.Parameter(torch.randn(1, self.n_out, w) * 0.02)
        self.transformer = _transformer(w, config.heads, 1)
        self.norm = nn.LayerNorm(w)

    @staticmethod
    def _out_frames(n: int) -> int:
        for kernel, pad in ((5, 2), (5, 2), (3, 1)):
            n = (n + 2 * pad - kernel) // 2 + 1
        return n

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.convs(mel).transpose(1, 2)  # [B, T', w]
        x = self.transformer(x + self.position)
        return self.norm(x)


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` and mask -> token states ``[B, L, width]``."""

    def __init__(self, config: ClapConfig, vocab_size: int) -> None:
        super().__init__()
        w = config.width
        self.embed = nn.Embedding(vocab_size, w, padding_idx=0)
        self.position = nn.Parameter(torch.randn(1, config.max_tokens, w) * 0.02)
        self.transformer = _transformer(w, config.heads, config.text_layers)
        self.norm = nn.LayerNorm(w)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.position[:, : ids.shape[1]]
        x = self.transformer(x, src_key_padding_mask=~mask)
        return self.norm(x)


class ClapNet(nn.Module):
    """Both encoders, their projections into the shared space, and the learned logit scale."""

    def __init__(self, config: ClapConfig, vocab_size: int) -> None:
        super().__init__()

        self.mel = MelSpectrogram(
            MelConfig(
                sample_rate=SAMPLE_RATE,
                n_fft=config.n_fft,
                win_length=config.n_fft,
                hop_length=config.hop_length,
                n_mels=config.n_mels,
            )
        )
        self.log_floor = float(np.log(self.mel.config.log_floor))
        n_frames = 1 + CLIP_SAMPLES // config.hop_length
        # Per-band mel statistics, set from the training clips before training.
        self.register_buffer("mel_mean", torch.zeros(config.n_mels, 1))
        self.register_buffer("mel_std", torch.ones(config.n_mels, 1))
        self.audio = AudioEncoder(config, n_frames)
        self.text = TextEncoder(config, vocab_size)
        self.audio_proj = nn.Linear(config.width, config.embed_dim)
        self.text_proj = nn.Linear(config.width, config.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / config.init_temperature))))

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.mel(audio)  # [B, M, T]

    def audio_frames(self, mel: torch.Tensor) -> torch.Tensor:
        """Projected frame states ``[B, T', D]`` (not normalised)."""
        return self.audio_proj(self.audio((mel - self.mel_mean) / self.mel_std))

    def audio_embedding(self, mel: torch.Tensor) -> torch.Tensor:
        """L2-normalised clip embeddings ``[B, D]``: the projection of the mean frame state."""
        states = self.audio((mel - self.mel_mean) / self.mel_std)  # [B, T', w]
        return F.normalize(self.audio_proj(states.mean(dim=1)), dim=-1)

    def text_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text(ids, mask))  # [B, L, D]

    def text_embedding(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings ``[B, D]``: the projection of the masked mean token state."""
        states = self.text(ids, mask)  # [B, L, w]
        weights = mask.unsqueeze(-1).float()
        pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return F.normalize(self.text_proj(pooled), dim=-1)


def contrastive_loss(
    audio_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    logit_scale: torch.Tensor,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE: ``(CE(s A T^T, Y) + CE(s T_B A^T, Y_B^T)) / 2`` with ``s = exp(logit_scale)``.

    ``audio_embeddings`` ``[B, D]`` and ``text_embeddings`` ``[B + K, D]`` are L2-normalised; row i
    of each (i < B) is a true pair, and the K extra texts are hard negatives that only the
    audio-to-text direction sees (``T_B`` is the first B texts). ``positives`` ``[B, B + K]`` (bool,
    default the identity) marks every pair that counts as a match; each row's target ``Y`` spreads
    evenly over its positives.
    """
    n_audio = audio_embeddings.shape[0]
    scale = logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
    logits = scale * audio_embeddings @ text_embeddings.T  # [B, B + K]: audio i vs text j
    if positives is None:
        positives = torch.eye(n_audio, text_embeddings.shape[0], dtype=torch.bool)
    targets = positives.float()
    audio_to_text = F.cross_entropy(logits, targets / targets.sum(1, keepdim=True))
    paired = targets[:, :n_audio].T  # [B, B]: text i vs audio j
    text_to_audio = F.cross_entropy(logits[:, :n_audio].T, paired / paired.sum(1, keepdim=True))
    return (audio_to_text + text_to_audio) / 2


# --- the model --------------------------------------------------------------------------------------


class WorldClap:
    """The trained world CLAP: ``embed_audio``, ``embed_text``, ``score``; ``save``/``load``.

    >>> clap = WorldClap.load(folder)  # doctest: +SKIP
    >>> clap.score(["A beep sounds, then rain falls."], [audio])  # cosine in [-1, 1]  # doctest: +SKIP
    """

    def __init__(self, config: ClapConfig, tokenizer: WordTokenizer, net: ClapNet | None = None) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.net = net if net is not None else ClapNet(config, len(tokenizer))
        self.net.eval()

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def frame_seconds(self) -> float:
        """Seconds between the frames of :meth:`embed_audio_frames`."""
        return MEL_FRAMES_PER_STATE * self.config.hop_length / SAMPLE_RATE

    @staticmethod
    def _clips(audio: Any, sample_rate: int) -> torch.Tensor:
        """Clips ``[B, N]`` at the world's rate, cut to a clip's length (N: the longest, at most that)."""
        batch, _ = as_audio_batch(audio, sample_rate)
        return batch[:, :CLIP_SAMPLES]

    def _mel(self, clips: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, M, T]`` of clips ``[B, N]`` zero-padded to the world's clip length,
        without computing the padding's frames (the event judge's 1 s windows
        are three quarters padding)."""
        with torch.no_grad():
            return self.net.mel.padded(clips, CLIP_SAMPLES)

    def embed_audio(self, audio: Any, sample_rate: int = SAMPLE_RATE, batch_size: int = 64) -> torch.Tensor:
        """L2-normalised clip embeddings ``[B, D]`` of ``[B, N]`` audio (or a list of 1-D clips)."""
        clips = self._clips(audio, sample_rate)
        with torch.no_grad():
            return torch.cat(
                [
                    self.net.audio_embedding(self._mel(clips[i : i + batch_size]))
                    for i in range(0, clips.shape[0], batch_size)
                ]
            )

    def embed_audio_frames(self, audio: Any, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Frame-level features ``[B, T', D]`` (one frame per ``frame_seconds``), each L2-normalised."""
        with torch.no_grad():
            return F.normalize(self.net.audio_frames(self._mel(self._clips(audio, sample_rate))), dim=-1)

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings ``[B, D]``."""
        ids, mask = encode_texts(self.tokenizer, texts, self.config.max_tokens)
        with torch.no_grad():
            return self.net.text_embedding(ids, mask)

    def embed_text_tokens(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states projected into the shared space ``[B, L, D]`` and their mask ``[B, L]`` (True = token)."""
        ids, mask = encode_texts(self.tokenizer, texts, self.config.max_tokens)
        with torch.no_grad():
            return self.net.text_tokens(ids, mask), mask

    def similarity(self, texts: Sequence[str], audio: Any, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Cosine similarity of every text with every clip, ``[B_text, B_audio]``."""
        return self.embed_text(texts) @ self.embed_audio(audio, sample_rate).T

    def score(self, texts: Sequence[str], audio: Any, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """The CLAP score: cosine similarity of each text with its own clip, ``[B]``."""
        text = self.embed_text(texts)
        sound = self.embed_audio(audio, sample_rate)
        if text.shape[0] != sound.shape[0]:
            raise ValueError(f"got {text.shape[0]} texts but {sound.shape[0]} clips")
        return (text * sound).sum(-1)

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` (settings and vocabulary) and ``model.safetensors`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": config_to_dict(self.config),
            "vocab": self.tokenizer.to_json(),
        }
        write_json(directory / CONFIG_FILE, meta)
        save_weights(self.net, directory / WEIGHTS_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> WorldClap:
        """Read a CLAP written by :meth:`save`."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        meta = read_model_meta(path, FORMAT, FORMAT_VERSION)
        raw, vocab = meta.get("config"), meta.get("vocab")
        if not isinstance(raw, dict):
            raise InputError("missing or not a mapping", path=path, field="config")
        unknown = sorted(set(raw) - {f.name for f in fields(ClapConfig)})
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r}", path=path, field="config")
        try:
            tokenizer = WordTokenizer.from_json(vocab)
        except ValueError as exc:
            raise InputError(str(exc), path=path, field="vocab") from None
        try:
            config = ClapConfig(**raw)
        except InputError as exc:
            raise InputError(exc.reason, path=path, field=f"config.{exc.field}") from None
        clap = cls(config, tokenizer)
        load_weights(clap.net, directory / WEIGHTS_FILE)
        clap.net.eval()
        return clap


# --- training and evaluation ------------------------------------------------------------------------


def content_key(labels: Sequence[str], relation: str) -> tuple[str, ...]:
    """What a caption can say about a clip: its labels in order, and the relation.

    Overlapping events have no order, so their labels are sorted.
    """
    labels = sorted(labels) if relation == "overlap" else list(labels)
    return (relation, *labels)


def train_clap(
    config: ClapConfig, corpus: Any = None, progress: bool = True
) -> tuple[WorldClap, dict[str, Any]]:
    """Train the world CLAP on ``corpus`` (a :class:`baton.world.corpus.Corpus`) plus extra composed clips.

    1. Data: the corpus clips with their captions and ``extra_clips`` composed clips (captioned
       afresh), their log-mels computed once; the tokenizer's vocabulary from all captions and
       every word of the world's templates and phrasings.
    2. ``train_steps`` steps of :func:`contrastive_loss` over batches drawn without replacement
       (epoch by epoch), a random gain per drawn clip, re-captioning per ``recaption_probability``.
    3. Held-out retrieval (:func:`evaluate_clap`).
    Without a corpus, only the extra clips are used.
    """
    started = time.perf_counter()

    # 1. Data.
    audio_parts, captions, keys, requests = [], [], [], []
    if corpus is not None:
        audio_parts.append(np.asarray(corpus.audio, dtype=np.float32))
        captions += list(corpus.captions)
        for labels, relation in zip(corpus.labels, corpus.relations, strict=True):
            requests.append((list(labels), relation))
    text_rng = random.Random(f"world-clap:{config.data_seed}")
    extra = compose_clips(config.extra_clips, config.data_seed)
    if extra:
        audio_parts.append(np.stack([clip.audio for clip in extra]))
    for clip in extra:
        requests.append((clip.labels, clip.relation))
        captions.append(caption(clip.labels, clip.relation, text_rng))
    if not captions:
        raise ValueError("no training clips: give a corpus or set extra_clips above 0")
    keys = [content_key(labels, relation) for labels, relation in requests]
    audio = (
        torch.from_numpy(np.concatenate(audio_parts))
        if len(audio_parts) > 1
        else torch.from_numpy(audio_parts[0])
    )
    if audio.shape[1] != CLIP_SAMPLES:
        raise ValueError(f"training clips must have {CLIP_SAMPLES} samples, got {audio.shape[1]}")

    tokenizer = WordTokenizer.build([*captions, *world_texts()])
    torch.manual_seed(config.seed)
    clap = WorldClap(config, tokenizer)
    net = clap.net
    mel = torch.cat([net.log_mel(audio[i : i + 256]) for i in range(0, audio.shape[0], 256)])  # [N, M, T]
    del audio
    net.mel_mean.copy_(mel.mean(dim=(0, 2)).unsqueeze(1))
    net.mel_std.copy_(mel.std(dim=(0, 2)).clamp_min(1e-3).unsqueeze(1))

    # 2. Training.
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.train_steps, pct_start=0.1
    )
    rng = np.random.default_rng(config.seed)
    batch_size = min(config.batch_size, len(captions))
    order: list[int] = []
    losses = []
    net.train()
    for _ in track(range(config.train_steps), "training the world CLAP", enabled=progress):
        if len(order) < batch_size:
            order = [int(i) for i in rng.permutation(len(captions))]
        rows = torch.tensor(order[:batch_size])
        order = order[batch_size:]
        # A random gain of -12..+6 dB is a constant shift of the log-mel (floored like the front end).
        gain = torch.from_numpy(rng.uniform(np.log(10 ** (-12 / 20)), np.log(10 ** (6 / 20)), batch_size))
        batch_mel = (mel[rows] + gain.float()[:, None, None]).clamp_min(net.log_floor)
        texts = [
            caption(*requests[r], text_rng)
            if text_rng.random() < config.recaption_probability
            else captions[r]
            for r in rows.tolist()
        ]
        # Hard negatives: each multi-event sequence's events told in reverse order.
        batch_keys = [keys[r] for r in rows.tolist()]
        reversed_requests = [
            (requests[r][0][::-1], "sequence") for r in rows.tolist() if requests[r][1] == "sequence"
        ]
        if config.reversed_negatives:
            texts += [caption(labels, relation, text_rng) for labels, relation in reversed_requests]
            batch_keys_text = batch_keys + [content_key(*request) for request in reversed_requests]
        else:
            batch_keys_text = batch_keys
        ids, mask = tokenizer.batch(texts, config.max_tokens)
        positives = torch.tensor([[a == t for t in batch_keys_text] for a in batch_keys])
        loss = contrastive_loss(
            net.audio_embedding(batch_mel), net.text_embedding(ids, mask), net.logit_scale, positives
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    net.eval()

    figures: dict[str, Any] = {
        "train_seconds": round(time.perf_counter() - started, 2),
        "train_clips": len(captions),
        "corpus_clips": 0 if corpus is None else len(corpus.captions),
        "extra_clips": len(extra),
        "vocab_size": len(tokenizer),
        "final_loss": round(float(np.mean(losses[-20:])), 4),
        "temperature": round(1.0 / min(net.logit_scale.exp().item(), MAX_LOGIT_SCALE), 4),
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    # 3. Evaluation.
    figures.update(evaluate_clap(clap, config.eval_clips, config.eval_seed, config.eval_batch_size))
    return clap, figures


def evaluate_clap(clap: WorldClap, n_clips: int = 512, seed: int = 2, batch_size: int = 32) -> dict[str, Any]:
    """Held-out text-to-audio retrieval within batches of ``batch_size`` clips.

    Clips: ``n_clips`` composed with ``seed``, a third each single, sequence (2-3 events) and
    overlap, captioned in random phrasing. For each batch, every caption ranks the batch's clips by
    cosine similarity. Reported: ``recall_at_1`` and ``recall_at_5`` (own clip in the top 1 / 5),
    ``content_recall_at_1`` (the top clip has the same labels, order and relation as the caption,
    which forgives ties between clips the caption cannot tell apart), the mean CLAP score of
    matching and of mismatched pairs, and ``order_preference``: over the sequence clips, the share
    whose caption scores higher than a caption of the same events in reverse order (0.5 = blind to
    order). ``batch_size`` is the retrieval batch size. A last partial batch is dropped.
    """
    n_batches = n_clips // batch_size
    if n_batches < 1:
        raise ValueError(f"n_clips ({n_clips}) must be at least batch_size ({batch_size})")
    clips = compose_clips(n_batches * batch_size, seed)
    text_rng = random.Random(f"world-clap-eval:{seed}")
    texts = [caption(c.labels, c.relation, text_rng) for c in clips]
    keys = [content_key(c.labels, c.relation) for c in clips]
    audio_emb = clap.embed_audio(np.stack([c.audio for c in clips]))
    text_emb = clap.embed_text(texts)
    hits1 = hits5 = content1 = 0
    matched, mismatched = [], []
    for b in range(n_batches):
        s = slice(b * batch_size, (b + 1) * batch_size)
        sim = text_emb[s] @ audio_emb[s].T  # [n, n]: caption i vs clip j
        ranks = sim.argsort(dim=1, descending=True)
        own = torch.arange(batch_size)
        hits1 += int((ranks[:, 0] == own).sum())
        hits5 += int((ranks[:, :5] == own[:, None]).any(dim=1).sum())
        block_keys = keys[s]
        content1 += sum(block_keys[int(ranks[i, 0])] == block_keys[i] for i in range(batch_size))
        matched.append(sim.diagonal())
        mismatched.append(sim[~torch.eye(batch_size, dtype=torch.bool)])
    n = n_batches * batch_size
    sequences = [i for i, c in enumerate(clips) if c.relation == "sequence"]
    reversed_texts = [caption(clips[i].labels[::-1], "sequence", text_rng) for i in sequences]
    own_scores = (text_emb[sequences] * audio_emb[sequences]).sum(-1)
    reversed_scores = (
        (clap.embed_text(reversed_texts) * audio_emb[sequences]).sum(-1) if sequences else own_scores
    )
    return {
        "recall_at_1": round(hits1 / n, 4),
        "recall_at_5": round(hits5 / n, 4),
        "content_recall_at_1": round(content1 / n, 4),
        "mean_score_matched": round(float(torch.cat(matched).mean()), 4),
        "mean_score_mismatched": round(float(torch.cat(mismatched).mean()), 4),
        "order_preference": round(float((own_scores > reversed_scores).float().mean()), 4)
        if sequences
        else None,
        "eval_clips": n,
        "batch_size": batch_size,
        "eval_seed": seed,
    }
