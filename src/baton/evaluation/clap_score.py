"""CLAP score: how well a clip matches its prompt, as the cosine of their text and audio embeddings.

    CLAP score = (1/N) sum_i cos(t_i, a_i) = (1/N) sum_i  t_i . a_i / (|t_i| |a_i|)

with ``t_i`` the text embedding of clip i's prompt and ``a_i`` the clip's audio embedding from the
same contrastive audio-text model (the world CLAP here, a real CLAP for real models). It lies in
[-1, 1], higher is better. Some papers report ``100 * cos`` or clip it at 0 (as CLIPScore does); this
is the plain mean cosine, so multiply by 100 to compare with those.
"""

from __future__ import annotations

import numpy as np

from baton.evaluation.intervals import Estimate, bootstrap_mean


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


class ClapScore:
    """Accumulate (text, audio) embedding pairs; ``compute()`` gives the mean cosine with its interval."""

    def __init__(self) -> None:
        self.scores: list[np.ndarray] = []

    def update(self, text_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> None:
        self.scores.append(clap_scores(text_embeddings, audio_embeddings))

    def values(self) -> np.ndarray:
        """Every clip's cosine so far, ``[N]``."""
        return np.concatenate(self.scores) if self.scores else np.zeros(0)

    def compute(self, *, n_resamples: int = 2000, seed: int = 0) -> Estimate:
        values = self.values()
        if values.size == 0:
            raise ValueError("the CLAP score needs at least one clip")
        return bootstrap_mean(values, n_resamples=n_resamples, seed=seed)
