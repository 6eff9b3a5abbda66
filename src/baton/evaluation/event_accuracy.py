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

from baton.world.detectors import judge_integrity, judge_temporal

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
    presence = judge_integrity(detected, events)
    if judgement_for(task, relation, len(events)) == "temporal":
        return ClipJudgement(correct=judge_temporal(detected, events), presence=presence)
    return ClipJudgement(correct=presence, presence=presence)
