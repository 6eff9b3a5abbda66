"""CLAP score: how well a clip matches its prompt, as the cosine of their text and audio embeddings.

    CLAP score = (1/N) sum_i cos(t_i, a_i) = (1/N) sum_i  t_i . a_i / (|t_i| |a_i|)

with ``t_i`` the text embedding of clip i's prompt and ``a_i`` the clip's audio embedding from the
same contrastive audio-text model (the world CLAP here, a real CLAP for real models). It lies in
[-1, 1], higher is better. Some papers report ``100 * cos`` or clip it at 0 (as CLIPScore does); this
is the plain mean cosine, so multiply by 100 to compare with those.

:class:`ClapScoreJudge` turns the same cosine into a reward per clip (AI feedback, ``baton reward score
--judge clap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from baton.evaluation.scorers import identity_of, judge_identity
from baton.fingerprints import fingerprint_of

# Part of a judge's fingerprint: bump when the way a judge turns embeddings into rewards changes.
JUDGE_VERSION = 1


def clap_scores(text_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> np.ndarray:
    """The cosine of each text embedding with its own clip's audio embedding: ``[N, D] x [N, D] -> [N]``."""
    text = np.asarray(text_embeddings, dtype=np.float64)
    audio = np.asarray(audio_embeddings, dtype=np.float64)
    if text.ndim != 2 or text.shape != audio.shape:
        raise ValueError(
            f"need text and audio embeddings [N, D] of the same shape, got {list(text.shape)} "
            f"and {list(audio.shape)}"
        )
    norms = np.linalg.norm(text, axis=1) * np.linalg.norm(audio, axis=1)
    if (norms == 0).any() or not np.isfinite(norms).all():
        raise ValueError("an embedding is zero or not finite; its cosine is undefined")
    return (text * audio).sum(axis=1) / norms


class ClapScoreJudge:
    """The CLAP score as a judge of clips, for AI feedback as Tango 2 draws it from CLAP.

    A clip's reward is the cosine of its prompt's and its own embeddings, clipped at 0 (as CLIPScore
    is) so that it reads as a probability in [0, 1]. It is a relative figure, not a calibrated
    probability: rank clips of one prompt by it (DPO pairs), with a margin fitted to its spread.
    ``encoder`` is any audio-text embedder (:func:`baton.evaluation.event_judge.load_embedder`).
    """

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        encoder_identity = identity_of(encoder)
        self.fingerprint = fingerprint_of("clap-judge", JUDGE_VERSION, encoder_identity)
        self.name = f"CLAP judge over {encoder.name} ({self.fingerprint[:12]})"
        self.identity = judge_identity(
            self.name, None, kind="clap", fingerprint=self.fingerprint, encoder=encoder_identity
        )

    def rewards(self, texts: Sequence[str], audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """``max(cos(t_i, a_i), 0)`` of each text and its clip, ``[N]``."""
        if len(texts) != len(audio):
            raise ValueError(f"got {len(texts)} texts but {len(audio)} clips")
        text = np.asarray(self.encoder.embed_text(list(texts)), dtype=np.float64)
        sound = np.asarray(self.encoder.embed_audio(list(audio), sample_rate), dtype=np.float64)
        return np.clip(clap_scores(text, sound), 0.0, 1.0)

    def sample_rewards(
        self, samples: Sequence[Any], audio: Sequence[np.ndarray], sample_rate: int
    ) -> np.ndarray:
        """:meth:`rewards` of sample records (their ``text``) and their clips."""
        return self.rewards([s.text for s in samples], audio, sample_rate)
