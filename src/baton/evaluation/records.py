"""The per-clip judgements ``baton evaluate`` writes beside each model's clips (``judgements.jsonl``).

A :class:`baton.artifacts.Record`, so it is read and written like every stage file (schema tag,
strict reading, atomic writing). A figure a scorer could not give (no reward model, a prompt
without events, no reference clip to pair with) is ``null``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from baton.artifacts import Record, Task

JUDGEMENTS_FILE = "judgements.jsonl"


class JudgementRecord(Record):
    """How one clip was judged: by the event detector, the CLAP, the reward model and the classifier."""

    kind: ClassVar[str] = "judgement"
    key: ClassVar[str] = "sample_id"

    sample_id: str = Field(min_length=1)
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    index: int = Field(ge=0)
    seed: int | None = None
    path: str | None = Field(default=None, description="the clip, relative to this file's folder")
    correct: bool | None = Field(default=None, description="right for its task, by the event detector")
    presence: bool | None = Field(default=None, description="every named event detected")
    detected: list[str] | None = Field(default=None, description="classes read, by first onset")
    clap_score: float | None = None
    reward: float | None = Field(default=None, ge=0.0, le=1.0)
    kl_softmax: float | None = Field(default=None, description="KL(reference || clip), softmax form")
    kl_sigmoid: float | None = None
    reference_id: str | None = Field(default=None, description="the reference clip it was paired with")
