"""The trainable part of a reward model: a head over frozen encoder features, giving one logit per clip.

* :class:`PooledMLPHead`, BATON's model: ``concat(audio [Da], text [Dt]) -> Linear(Da+Dt, 512) -> ReLU
  -> Linear(512, 1)``; the sigmoid of the logit is the probability that the clip matches its prompt.
* :class:`TemporalHead`: a pooled CLAP embedding is (nearly) a mean over time, so it cannot tell "A
  then B" from "B then A" (the world CLAP's pooled score prefers the right order over the reversed
  one for only about half of the clips). This head reads the clip's frame features ``[T, Da]`` and the
  text's token states ``[L, Dt]`` and aligns them in time:

  1. the clip's own frames are cut into ``K`` equal time segments and the text's tokens into ``K``
     equal parts of the sentence; each is averaged: ``A [K, D]`` (what sounds when) and ``X [K, D]``
     (what is said first, next, last);
  2. the alignment map ``M[i, j] = s * cos(X_i, A_j)`` ``[K, K]``, for each resolution ``K`` in
     ``segments`` (default 3 and 4), with a learned scale ``s``: a coarse cross-attention map of text
     parts over time, in which "A then B" heard as A, B lights up the diagonal and B, A the
     anti-diagonal;
  3. the maps, flattened, beside the pooled audio and text embeddings, through BATON's MLP (hidden
     512, ReLU) to the logit, so it can learn everything BATON's MLP can, and the alignment besides.

  A finer design (every token attending over every frame, with a transformer over the tokens) was
  tried first: on 360 real world clips in right vs wrong order (``benchmarks/bench_reward.py``'s order
  probe) it overfit and reached 0.54-0.63 held-out accuracy, where this coarse map reaches 0.70-0.75
  (3 seeds) and the pooled MLP 0.50.

A batch may also carry the event judge's score of each clip and its task, which a reward model
trained with ``--event-judge`` blends with the head's (:mod:`baton.reward.blend`); the heads ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baton.reward.encoders import AudioFeatures, TextFeatures

HEADS = ("mlp", "temporal")


@dataclass
class FeatureBatch:
    """Encoder features of B (text, clip) pairs. Sequences are zero-padded; masks are True at real items."""

    audio: torch.Tensor  # [B, Da] pooled
    text: torch.Tensor  # [B, Dt] pooled
    frames: torch.Tensor | None = None  # [B, T, Da]
    frame_mask: torch.Tensor | None = None  # [B, T]
    tokens: torch.Tensor | None = None  # [B, L, Dt]
    token_mask: torch.Tensor | None = None  # [B, L]
    judge: torch.Tensor | None = None  # [B]: the event judge's logit of each clip (--event-judge)
    tasks: list[str | None] | None = None  # each clip's task

    def __len__(self) -> int:
        return self.audio.shape[0]

    def index(self, rows: torch.Tensor) -> FeatureBatch:
        def pick(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[rows]

        return FeatureBatch(
            self.audio[rows],
            self.text[rows],
            pick(self.frames),
            pick(self.frame_mask),
            pick(self.tokens),
            pick(self.token_mask),
            pick(self.judge),
            None if self.tasks is None else [self.tasks[i] for i in rows.tolist()],
        )


def _pad(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n_i, D]`` each -> ``[B, max n, D]`` and mask ``[B, max n]``."""
    longest = max(s.shape[0] for s in sequences)
    dim = sequences[0].shape[1]
    out = torch.zeros(len(sequences), longest, dim)
    mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
    for i, s in enumerate(sequences):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return out, mask


def stack_features(
    audio: list[AudioFeatures],
    text: list[TextFeatures],
    *,
    sequences: bool = True,
    judge: torch.Tensor | None = None,
    tasks: list[str | None] | None = None,
) -> FeatureBatch:
    """One :class:`FeatureBatch` of paired features (``sequences=False``: pooled embeddings only;
    ``judge`` and ``tasks``: the event judge's logit and the task of each clip, where known)."""
    if len(audio) != len(text):
        raise ValueError(f"got {len(audio)} clips but {len(text)} texts")
    batch = FeatureBatch(torch.stack([a.pooled for a in audio]), torch.stack([t.pooled for t in text]))
    batch.judge, batch.tasks = judge, tasks
    if sequences:
        batch.frames, batch.frame_mask = _pad([a.frames for a in audio])
        batch.tokens, batch.token_mask = _pad([t.tokens for t in text])
    return batch


class PooledMLPHead(nn.Module):
    """BATON's reward model: MLP over the concatenated pooled audio and text embeddings."""

    needs_sequences = False

    def __init__(self, audio_dim: int, text_dim: int, hidden: int = 512, prior: bool = False) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(audio_dim + text_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.prior = SimilarityPrior(self.mlp[-1]) if prior else None

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        logits = self.mlp(torch.cat([batch.audio, batch.text], dim=-1)).squeeze(-1)  # [B]
        return logits if self.prior is None else logits + self.prior(batch)


class SimilarityPrior(nn.Module):
    """The encoder's own judgement as the starting point: ``s * (cos(audio, text) - c)``.

    A contrastive encoder already ranks clips by how well they fit their text (on the demo's labels of
    the shipped world, the world CLAP's cosine alone ranks the temporal ones at ROC AUC 0.72, where the
    temporal head learnt from 200 of them reached 0.63; docs/results.md). Added to a head's logit, with the head's last layer starting at
    zero, training begins from that ranking and the head learns only what the labels add to it; the
    scale ``s`` and centre ``c`` are learnt too.
    """

    def __init__(self, last_layer: nn.Linear, scale: float = 10.0) -> None:
        super().__init__()
        nn.init.zeros_(last_layer.weight)
        nn.init.zeros_(last_layer.bias)
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.centre = nn.Parameter(torch.tensor(0.0))

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        cos = F.cosine_similarity(batch.audio, batch.text, dim=-1)  # [B]
        return self.scale * (cos - self.centre)


def segment_means(x: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, T, D]`` (valid where ``mask`` ``[B, T]``) -> ``[B, k, D]``: means over k equal parts of each row's
    own length (a row shorter than k repeats its items)."""
    n = mask.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)  # [B, 1]
    steps = torch.arange(x.shape[1], device=x.device, dtype=x.dtype).unsqueeze(0)  # [1, T]
    part = ((steps + 0.5) / n * k).floor().clamp(max=k - 1).long()  # [B, T]
    member = F.one_hot(part, k).to(x.dtype) * mask.unsqueeze(-1).to(x.dtype)  # [B, T, k]
    sums = member.transpose(1, 2) @ x  # [B, k, D]
    counts = member.sum(dim=1).unsqueeze(-1)  # [B, k, 1]
    # An empty part (fewer items than parts) takes the item nearest its centre.
    centre = ((torch.arange(k, device=x.device, dtype=x.dtype) + 0.5) / k * n).floor().long()  # [B, k]
    centre = torch.minimum(centre, (n.long() - 1).clamp_min(0))
    nearest = torch.gather(x, 1, centre.unsqueeze(-1).expand(-1, -1, x.shape[2]))
    return torch.where(counts > 0, sums / counts.clamp_min(1), nearest)


class TemporalHead(nn.Module):
    """Text parts aligned with time segments of the frame features (see the module docstring)."""

    needs_sequences = True

    def __init__(
        self,
        audio_dim: int,
        text_dim: int,
        hidden: int = 512,
        segments: tuple[int, ...] = (3, 4),
        prior: bool = False,
    ) -> None:
        super().__init__()
        if audio_dim != text_dim:
            raise ValueError(
                f"the temporal head compares frames and tokens in one space: got sizes {audio_dim} and {text_dim}"
            )
        self.segments = tuple(int(k) for k in segments)
        self.scale = nn.Parameter(torch.tensor(5.0))
        map_size = sum(k * k for k in self.segments)
        self.mlp = nn.Sequential(
            nn.Linear(map_size + audio_dim + text_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        self.prior = SimilarityPrior(self.mlp[-1]) if prior else None

    def alignment(self, batch: FeatureBatch) -> torch.Tensor:
        """The flattened alignment maps ``[B, sum K^2]``; row i of a map is a text part, column j a time segment."""
        if (
            batch.frames is None
            or batch.tokens is None
            or batch.frame_mask is None
            or batch.token_mask is None
        ):
            raise ValueError("the temporal head needs frame and token features")
        maps = []
        for k in self.segments:
            audio = F.normalize(segment_means(batch.frames, batch.frame_mask, k), dim=-1)  # [B, K, D]
            text = F.normalize(segment_means(batch.tokens, batch.token_mask, k), dim=-1)  # [B, K, D]
            maps.append((text @ audio.transpose(1, 2)).flatten(1))  # [B, K*K]
        return self.scale * torch.cat(maps, dim=1)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        features = torch.cat([self.alignment(batch), batch.audio, batch.text], dim=-1)
        logits = self.mlp(features).squeeze(-1)  # [B]
        return logits if self.prior is None else logits + self.prior(batch)


def build_head(kind: str, audio_dim: int, text_dim: int, settings: dict) -> nn.Module:
    """The head called ``kind`` (``mlp`` or ``temporal``) with its settings."""
    if kind == "mlp":
        return PooledMLPHead(
            audio_dim, text_dim, hidden=int(settings.get("hidden", 512)), prior=bool(settings.get("prior"))
        )
    if kind == "temporal":
        return TemporalHead(
            audio_dim,
            text_dim,
            hidden=int(settings.get("hidden", 512)),
            segments=tuple(settings.get("segments", (3, 4))),
            prior=bool(settings.get("prior")),
        )
    raise ValueError(f"unknown head {kind!r}; expected one of: {', '.join(HEADS)}")
