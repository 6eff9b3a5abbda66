"""Event integrity and temporal accuracy: the share of clips whose events an event detector reads as asked.

For each clip the evaluator detector reads timed events (:func:`baton.world.detectors.read_events`),
and the prompt's named events are judged (:func:`baton.world.detectors.judge_integrity` /
``judge_temporal``):

* **single** and **integrity** prompts: *presence*: every named event was detected (events not named
  do not count against a clip);
* **temporal** prompts: presence, and the named events' first onsets come in the stated order.

``accuracy`` of a task is the share of its clips judged right; for temporal prompts ``presence``
(the integrity judgement of the same clips) is kept too, so that a model that gets the events but not
their order can be told from one that misses events. A prompt without a task is judged by its
relation: a sequence of several events temporally, anything else by presence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from baton.stats import Estimate, bootstrap_mean

if TYPE_CHECKING:
    from baton.world.detectors import DetectedEvent


def judgement_for(task: str | None, relation: str | None = None, n_events: int = 1) -> str:
    """The detector's question for a prompt: ``"integrity"`` (presence) or ``"temporal"`` (order too)."""
    if task is not None:  # a single event is judged like integrity: is it there?
        return "temporal" if task == "temporal" else "integrity"
    return "temporal" if relation == "sequence" and n_events > 1 else "integrity"


@dataclass(frozen=True)
class ClipJudgement:
    """Whether a clip is right for its task (``correct``) and whether all named events are there."""

    correct: bool
    presence: bool


def judge_clip(
    detected: Sequence[DetectedEvent],
    events: Sequence[str],
    task: str | None,
    relation: str | None = None,
) -> ClipJudgement:
    """Judge one clip's detected events against its prompt's named ``events``."""
    from baton.world.detectors import judge_integrity, judge_temporal

    presence = judge_integrity(detected, events)
    if judgement_for(task, relation, len(events)) == "temporal":
        return ClipJudgement(correct=judge_temporal(detected, events), presence=presence)
    return ClipJudgement(correct=presence, presence=presence)


class EventAccuracy:
    """Accumulate judged clips per task; ``compute()`` gives accuracy (and presence) per task."""

    def __init__(self) -> None:
        self.correct: dict[str, list[bool]] = {}
        self.presence: dict[str, list[bool]] = {}

    def add(self, judgement: ClipJudgement, task: str | None) -> None:
        key = task or "untyped"
        self.correct.setdefault(key, []).append(judgement.correct)
        self.presence.setdefault(key, []).append(judgement.presence)

    def update(
        self,
        detected: Sequence[Sequence[DetectedEvent]],
        events: Sequence[Sequence[str]],
        tasks: Sequence[str | None],
        relations: Sequence[str | None] | None = None,
    ) -> list[ClipJudgement]:
        """Judge a batch of clips and remember the results; returns the judgements."""
        relations = relations if relations is not None else [None] * len(detected)
        if not len(detected) == len(events) == len(tasks) == len(relations):
            raise ValueError(
                f"got {len(detected)} clips, {len(events)} event lists, {len(tasks)} tasks "
                f"and {len(relations)} relations"
            )
        judgements = []
        for found, named, task, relation in zip(detected, events, tasks, relations, strict=True):
            judgement = judge_clip(found, named, task, relation)
            self.add(judgement, task)
            judgements.append(judgement)
        return judgements

    def compute(self, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, Estimate]]:
        """``{task: {"accuracy": Estimate, ["presence": Estimate]}}``; presence for temporal tasks only."""
        out: dict[str, dict[str, Estimate]] = {}
        for task, values in self.correct.items():
            figures = {
                "accuracy": bootstrap_mean(np.array(values, dtype=float), n_resamples=n_resamples, seed=seed)
            }
            if task == "temporal":
                figures["presence"] = bootstrap_mean(
                    np.array(self.presence[task], dtype=float), n_resamples=n_resamples, seed=seed
                )
            out[task] = figures
        return out
