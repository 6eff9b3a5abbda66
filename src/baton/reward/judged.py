"""The event judge's reading of a clip as inputs of a reward head (``baton reward train --event-judge``).

A head learnt from a few hundred labels ranks 3-event clips by order poorly: on the demo's labels of
the shipped world the temporal head reached a cross-validated ROC AUC of 0.62 on 480 temporal clips,
where the untrained open-vocabulary event judge (:mod:`baton.evaluation.event_judge`, over the same
frozen CLAP) ranks them at 0.81. The judge's reading is the part of the answer that needs no labels;
what it misses (its integrity ranking is weaker, 0.66) the head learns from the labels. So the head is
given, beside the encoder's embeddings, seven numbers per clip read from the judge's window
probabilities ``p[w, c]`` of the events the prompt names, in the order it names them:

====  ================================================================================================
0-2   presence of the 1st, 2nd, 3rd named event: ``logit(max_w p[w, c])`` (0 where the prompt names
      fewer events)
3-4   the gap between the soft onsets of consecutive named events, ``(s_b - s_a) / 0.5 s`` clipped
      to [-3, 3] (0 where there is no such pair); ``s_c`` is the first window where ``p[:, c]``
      reaches half its maximum, as the world's annotators' soft score reads it
5     the judge's verdict: 1 if it reads every named event (and, for temporal prompts, in order)
6     1 for a prompt of three or more events (so the head can weigh the numbers by task)
====  ================================================================================================

A prompt of more than three events is read by its first three. The window probabilities depend only
on the clip and the judge (its CLAP, settings and vocabulary), so they are cached beside the encoder
features, under the judge's fingerprint; the numbers are made from them for each prompt.

The judge's vocabulary is saved in the reward model's settings, so scoring reads clips with exactly
the softmax the head was trained on.
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
from baton.evaluation.event_accuracy import judge_clip
from baton.evaluation.event_judge import EventJudge, WindowReading, embedder_for, judge_vocabulary
from baton.reward.cache import FeatureCache, audio_digests, fill
from baton.reward.encoders import RewardEncoder

FEATURES = (
    "presence 1",
    "presence 2",
    "presence 3",
    "onset gap 1-2",
    "onset gap 2-3",
    "verdict",
    "three events",
)
MAX_EVENTS = 3
GAP_SECONDS = 0.5  # onset gaps are counted in these
GAP_LIMIT = 3.0
PRESENCE_FLOOR = 1e-4  # probabilities are kept within [floor, 1 - floor] before the logit


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


class EventFeatures:
    """The event judge over a reward model's encoder, giving :data:`FEATURES` for (clip, events, task)."""

    def __init__(self, encoder: RewardEncoder, vocabulary: Mapping[str, Sequence[str]]) -> None:
        self.vocabulary = {event: list(texts) for event, texts in vocabulary.items()}
        self.judge = EventJudge(embedder_for(encoder), self.vocabulary)
        self.sample_rate = encoder.sample_rate

    def settings(self) -> dict[str, Any]:
        """What a reward model saves to rebuild this judge: its vocabulary."""
        return {"vocabulary": self.vocabulary}

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

    def features(
        self,
        audio: Sequence[str | Path | np.ndarray],
        events: Sequence[Sequence[str]],
        tasks: Sequence[str | None],
        cache: FeatureCache | None = None,
    ) -> torch.Tensor:
        """``[N, 7]``: :data:`FEATURES` of each clip for the events its prompt names."""
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
        return torch.tensor(
            [self.read(r, list(e), t) for r, e, t in zip(readings, events, tasks, strict=True)],
            dtype=torch.float32,
        )

    def read(self, reading: WindowReading, events: list[str], task: str | None) -> list[float]:
        """The seven numbers of one clip (see the module docstring)."""
        index = {event: i for i, event in enumerate(self.judge.classes)}
        columns = [reading.probs[:, index[e]] for e in events[:MAX_EVENTS]]
        presence = [_logit(float(c.max())) if c.size else _logit(0.0) for c in columns]
        onsets = [
            float(np.flatnonzero(c >= 0.5 * c.max())[0]) * reading.hop_seconds
            if c.size and c.max() > 0
            else 0.0
            for c in columns
        ]
        gaps = [
            max(-GAP_LIMIT, min(GAP_LIMIT, (b - a) / GAP_SECONDS))
            for a, b in zip(onsets, onsets[1:], strict=False)
        ]
        verdict = judge_clip(self.judge.read_reading(reading), events, task).correct
        pad = MAX_EVENTS - len(columns)
        return [*presence, *[0.0] * pad, *gaps, *[0.0] * (MAX_EVENTS - 1 - len(gaps)), float(verdict),
                float(len(events) >= MAX_EVENTS)]  # fmt: skip


def _logit(p: float) -> float:
    p = min(max(p, PRESENCE_FLOOR), 1.0 - PRESENCE_FLOOR)
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
