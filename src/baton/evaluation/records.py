"""The per-clip judgements ``baton evaluate`` writes beside each model's clips (``judgements.jsonl``).

A :class:`baton.artifacts.Record`, so it is read and written like every stage file (schema tag,
strict reading, atomic writing). A figure a scorer could not give (no reward model, a prompt
without events, no reference clip to pair with) is ``null``. A clip's ``path`` is relative to the
judgements file's folder, or absolute (the rule of :mod:`baton.artifacts`); :func:`clip_file` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from baton.artifacts import Record, Task, resolve_path

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


def clip_file(record: JudgementRecord, folder: str | Path) -> Path | None:
    """The clip a judgement names, ``folder`` being its judgements file's folder (``None``: it names none).

    Older judgements files named a clip from the folder ``baton evaluate`` ran in when ``--out`` was
    relative (``runs/demo/evaluation/base/audio/x.wav``). When a relative path leads to no file, the
    longest tail of it that leads to one from ``folder`` (``audio/x.wav``) is taken, so that the
    reports of such runs still play their clips.
    """
    if record.path is None:
        return None
    named = Path(record.path)
    path = resolve_path(record.path, folder)
    if named.is_absolute() or path.is_file():
        return path
    for start in range(1, len(named.parts)):
        tail = Path(folder).joinpath(*named.parts[start:])
        if tail.is_file():
            return tail
    return path
