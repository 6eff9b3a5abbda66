"""The event judge's score of each labelled or scored clip, for a reward model trained with ``--event-judge``.

The open-vocabulary event judge (:mod:`baton.evaluation.event_judge`) reads a clip over the reward
model's own frozen CLAP, with no training: its soft reward is the product of the named events'
highest window probabilities, times a sigmoid of each consecutive pair's onset gap for temporal
prompts. :mod:`baton.reward.blend` blends its logit with the trained head's, task by task.

The window probabilities depend only on the clip and the judge (its CLAP, settings and vocabulary), so
they are cached beside the encoder features, under the judge's fingerprint; the score is read from them
for each prompt's events. The judge's vocabulary is saved in the reward model's settings, so scoring
reads clips with exactly the softmax the model was fitted with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baton.audio import load_audio
from baton.errors import InputError
from baton.evaluation.event_judge import (
    EventJudge,
    EventJudgeConfig,
    WindowReading,
    embedder_for,
    judge_vocabulary,
)
from baton.reward.cache import FeatureCache, audio_digests, fill
from baton.reward.encoders import RewardEncoder

SCORE_FLOOR = 1e-4  # the judge's reward is kept within [floor, 1 - floor] before the logit
# Seconds between the judge's windows when it scores clips for a reward model: the judge's own 0.1 s
# reads onsets finer than a reward needs, in 2.5 times the windows (see docs/reward.md).
HOP = 0.25


def vocabulary_for(events: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """The judge's vocabulary for clips naming ``events``: every event of the first built-in vocabulary
    that holds them all (:func:`baton.evaluation.event_judge.judge_vocabulary`), with its phrasings."""
    named = [event for clip in events for event in clip]
    if not named:
        raise InputError(
            "the event judge reads the events a prompt names, and these labels name none "
            "(labels of prompts written from a vocabulary carry them)",
            field="events",
        )
    return {event: list(texts) for event, texts in judge_vocabulary(sorted(set(named))).items()}


class JudgeScores:
    """The event judge over a reward model's encoder: the logit of its reward for (clip, events, task)."""

    def __init__(
        self, encoder: RewardEncoder, vocabulary: Mapping[str, Sequence[str]], hop: float = HOP
    ) -> None:
        self.vocabulary = {event: list(texts) for event, texts in vocabulary.items()}
        self.hop = float(hop)
        self.judge = EventJudge(embedder_for(encoder), self.vocabulary, EventJudgeConfig(hop=self.hop))
        self.sample_rate = encoder.sample_rate

    def settings(self) -> dict[str, Any]:
        """What a reward model saves to rebuild this judge: its vocabulary and window hop."""
        return {"vocabulary": self.vocabulary, "hop": self.hop}

    def readings(
        self, audio: Sequence[str | Path | np.ndarray], cache: FeatureCache | None
    ) -> list[WindowReading]:
        """Each clip's window probabilities: files through the cache, arrays (at the encoder's rate) as given."""
        keys = audio_digests(audio, self.sample_rate)
        kind = f"event-judge-{self.judge.fingerprint[:16]}"

        def compute(rows: list[int]) -> list[WindowReading]:
            clips = [
                load_audio(audio[i], sample_rate=self.sample_rate)[0]
                if isinstance(audio[i], (str, Path))
                else np.asarray(audio[i], dtype=np.float32)
                for i in rows
            ]
            return self.judge.window_probabilities(clips, self.sample_rate)

        if cache is None:
            return fill(keys, lambda key: None, compute, lambda key, value: None, 32, None)
        return fill(
            keys,
            lambda key: _reading_of(cache.get_tensors(kind, key)),
            compute,
            lambda key, value: cache.put_tensors(kind, key, _tensors_of(value)),
            32,
            None,
        )

    def scores(
        self,
        audio: Sequence[str | Path | np.ndarray],
        events: Sequence[Sequence[str]],
        tasks: Sequence[str | None],
        cache: FeatureCache | None = None,
    ) -> torch.Tensor:
        """``[N]``: the logit of the judge's reward of each clip for the events its prompt names."""
        if not len(audio) == len(events) == len(tasks):
            raise ValueError(f"got {len(audio)} clips, {len(events)} event lists and {len(tasks)} tasks")
        for named in events:
            if not named:
                raise InputError(
                    "a clip's prompt names no events: a reward model trained with --event-judge reads "
                    "the events each prompt names",
                    field="events",
                )
            unknown = [e for e in named if e not in self.vocabulary]
            if unknown:
                raise InputError(
                    f"the reward model's event judge does not know the event '{unknown[0]}' (its "
                    f"vocabulary: {len(self.vocabulary)} events, saved in its config.json)",
                    field="events",
                )
        readings = self.readings(audio, cache)
        rewards = [self.judge.reward_of(r, e, t) for r, e, t in zip(readings, events, tasks, strict=True)]
        return torch.tensor([_logit(p) for p in rewards], dtype=torch.float32)


def _logit(p: float) -> float:
    p = min(max(p, SCORE_FLOOR), 1.0 - SCORE_FLOOR)
    return math.log(p / (1.0 - p))


def _tensors_of(reading: WindowReading) -> dict[str, torch.Tensor]:
    return {
        "probs": torch.from_numpy(np.ascontiguousarray(reading.probs, dtype=np.float64)),
        "times": torch.tensor([reading.hop_seconds, reading.centre_seconds], dtype=torch.float64),
    }


def _reading_of(tensors: dict[str, torch.Tensor] | None) -> WindowReading | None:
    if tensors is None or "probs" not in tensors or "times" not in tensors:
        return None
    hop, centre = (float(x) for x in tensors["times"].tolist())
    return WindowReading(tensors["probs"].numpy(), hop, centre)
