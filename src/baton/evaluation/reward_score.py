"""Reward score: the mean probability a reward model gives that clips match their prompts.

    reward = (1/N) sum_i P(match | prompt_i, clip_i)

with P the reward model's output after its sigmoid (``RewardRecord.probability``), in [0, 1], higher
is better. ``positive_share`` is the share of clips the model would label 1 (probability at least
0.5), the reward model's own accuracy-like reading of a set.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baton.errors import InputError
from baton.evaluation.scorers import judge_identity
from baton.reward.model import RewardModel


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


# --- the reward model -------------------------------------------------------------------------------


class RewardModelScorer:
    """A ``baton.reward`` model: ``RewardModel.load(dir).score(texts, audio)``.

    The reward model's probability is taken from a ``probabilities`` method when it has one;
    otherwise from ``score``: values already in [0, 1] are used as they are, anything else is read as
    a logit and passed through a sigmoid.
    """

    def __init__(self, model: Any, name: str, source: str | Path | None = None) -> None:
        self.model = model
        self.name = name
        # A baton reward model's fingerprint covers its head, calibration and encoder's weights.
        self.identity = judge_identity(name, source, fingerprint=getattr(model, "fingerprint", None))

    def probabilities(
        self,
        texts: Sequence[str],
        audio: Sequence[np.ndarray],
        sample_rate: int,
        *,
        events: Sequence[Sequence[str]] | None = None,
        tasks: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """``events`` and ``tasks`` (each clip's prompt's) go to a model that takes them (a baton reward
        model trained with ``--event-judge`` needs them)."""
        method = getattr(self.model, "probabilities", None) or self.model.score
        accepted = inspect.signature(method).parameters
        given = {"sample_rate": sample_rate, "events": events, "tasks": tasks}
        kwargs = {name: value for name, value in given.items() if name in accepted and value is not None}
        values = method(list(texts), list(audio), **kwargs)
        values = np.asarray(getattr(values, "detach", lambda: values)(), dtype=np.float64).reshape(-1)
        if method is not getattr(self.model, "probabilities", None) and (
            (values < 0).any() or (values > 1).any()
        ):
            values = 1.0 / (1.0 + np.exp(-values))
        return values


def reward_probabilities(
    scorer: Any,
    texts: Sequence[str],
    audio: Sequence[np.ndarray],
    sample_rate: int,
    events: Sequence[Sequence[str]],
    tasks: Sequence[str | None],
) -> np.ndarray:
    """A reward scorer's ``probabilities`` of clips ``[N]``, given their prompts' ``events`` and ``tasks``
    when it takes them (a baton reward model that reads the event judge needs them; any object with
    ``probabilities(texts, audio, sample_rate)`` is a scorer)."""
    accepted = inspect.signature(scorer.probabilities).parameters
    extra = {"events": events, "tasks": tasks} if "events" in accepted else {}
    return np.asarray(scorer.probabilities(texts, audio, sample_rate, **extra), dtype=np.float64)


def load_reward_scorer(directory: str | Path) -> RewardModelScorer:
    """Load a reward model folder written by ``baton reward train``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such reward model folder", path=directory)
    return RewardModelScorer(RewardModel.load(directory), name=f"reward model {directory}", source=directory)
