"""Reward score: the mean probability a reward model gives that clips match their prompts.

    reward = (1/N) sum_i P(match | prompt_i, clip_i)

with P the reward model's output after its sigmoid (``RewardRecord.probability``), in [0, 1], higher
is better. ``positive_share`` is the share of clips the model would label 1 (probability at least
0.5), the reward model's own accuracy-like reading of a set.
"""

from __future__ import annotations

import numpy as np

from baton.evaluation.intervals import Estimate, bootstrap_mean


def _check(probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("reward probabilities must lie in [0, 1]")
    return p


def mean_reward(probabilities: np.ndarray) -> float:
    p = _check(probabilities)
    if p.size == 0:
        raise ValueError("the reward score needs at least one clip")
    return float(p.mean())


def positive_share(probabilities: np.ndarray, threshold: float = 0.5) -> float:
    p = _check(probabilities)
    if p.size == 0:
        raise ValueError("the reward score needs at least one clip")
    return float((p >= threshold).mean())


class RewardScore:
    """Accumulate clip reward probabilities; ``compute()`` gives their mean with its interval."""

    def __init__(self) -> None:
        self.probabilities: list[np.ndarray] = []

    def update(self, probabilities: np.ndarray) -> None:
        self.probabilities.append(_check(probabilities))

    def values(self) -> np.ndarray:
        return np.concatenate(self.probabilities) if self.probabilities else np.zeros(0)

    def compute(self, *, n_resamples: int = 2000, seed: int = 0) -> Estimate:
        values = self.values()
        if values.size == 0:
            raise ValueError("the reward score needs at least one clip")
        return bootstrap_mean(values, n_resamples=n_resamples, seed=seed)
