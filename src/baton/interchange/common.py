"""Small pieces every format shares: warnings, audio paths, probabilities, tasks and clip ids."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from rich.markup import escape

from baton.artifacts import TASKS
from baton.console import warn
from baton.errors import InputError
from baton.interchange.baton_names import try_parse_baton_filename

# A probability of exactly 0 or 1 (BATON's SED scores hold both) has an infinite logit; scores are
# taken at [EPS, 1 - EPS] instead, which bounds them to about +-13.8.
PROBABILITY_EPS = 1e-6

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LABEL_COUNT = re.compile(r"(?<![0-9])([23])label", re.IGNORECASE)


class Notes:
    """The warnings of one import or export: each is printed once and kept for the caller."""

    def __init__(self, *, echo: bool = True) -> None:
        self.messages: list[str] = []
        self.echo = echo

    def warn(self, message: str) -> None:
        self.messages.append(message)
        if self.echo:
            warn(escape(message))  # a path may hold "[...]", which is not markup

    def __len__(self) -> int:
        return len(self.messages)


def is_url(path: str) -> bool:
    """``http://...``, ``s3://...``, ``gs://...`` and the like: never rewritten."""
    return bool(_URL.match(path))


def rebase_path(path: str, from_dir: str | Path, to_dir: str | Path) -> str:
    """A path written relative to ``from_dir``, rewritten relative to ``to_dir`` (URLs and absolute paths as they are)."""
    if is_url(path) or Path(path).is_absolute():
        return path
    target = os.path.abspath(Path(from_dir) / path)
    return Path(os.path.relpath(target, os.path.abspath(to_dir))).as_posix()


def clip_probability(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)


def probability_logit(probability: float) -> float:
    """``log(p / (1 - p))`` with ``p`` kept inside ``[EPS, 1 - EPS]``, so 0 and 1 give finite scores."""
    p = min(max(probability, PROBABILITY_EPS), 1.0 - PROBABILITY_EPS)
    return math.log(p / (1.0 - p))


def sigmoid(score: float) -> float:
    """``1 / (1 + exp(-score))``, written so that neither sign overflows."""
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    return math.exp(score) / (1.0 + math.exp(score))


def infer_task(*hints: str | None) -> str | None:
    """The task a dataset or file name states: ``2label`` -> integrity, ``3label`` -> temporal.

    The first hint that states one wins, so pass the most specific first (a row's dataset, then
    the file's name).
    """
    for hint in hints:
        if not hint:
            continue
        match = LABEL_COUNT.search(hint)
        if match:
            return "integrity" if match[1] == "2" else "temporal"
        lowered = hint.lower()
        for task in TASKS:
            if task in lowered and task != "single":
                return task
    return None


def caption_prompt_id(text: str) -> str:
    """A stable prompt id for a caption that comes with no BATON number: ``caption-`` and 8 hex digits."""
    digest = hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()
    return f"caption-{digest[:8]}"


@dataclass(frozen=True)
class ClipIdentity:
    sample_id: str
    prompt_id: str
    index: int


def resolve_clip(file_name: str | None, text: str, given: dict[str, Any], order: int) -> ClipIdentity:
    """A clip's sample id, prompt id and index: what the file states, else what its name says.

    ``given`` holds the ids the file states (baton's own columns). Else a BATON file name gives
    prompt ``"0088"``, index 0 and sample ``"0088-0"``; else the prompt id is a hash of the caption
    (:func:`caption_prompt_id`), the index ``order`` (the row's number among that caption's rows)
    and the sample id the audio file's stem, or ``<prompt id>-<order>`` without a file.
    """
    clip = try_parse_baton_filename(file_name)
    if clip is not None:
        prompt_id, index, sample_id = clip.prompt_id, clip.index, clip.sample_id
    else:
        prompt_id, index = caption_prompt_id(text), order
        sample_id = PurePosixPath(file_name).stem if file_name else f"{prompt_id}-{order}"
    return ClipIdentity(
        sample_id=given.get("sample_id") or sample_id,
        prompt_id=given.get("prompt_id") or prompt_id,
        index=given["index"] if given.get("index") is not None else index,
    )


class UniqueClips:
    """Refuses a sample id that was seen before, naming the line of both."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.first_line: dict[str, int] = {}

    def add(self, sample_id: str, line: int) -> None:
        if sample_id in self.first_line:
            raise InputError(
                f"clip '{sample_id}' appears again (first at line {self.first_line[sample_id]})",
                path=self.path,
                line=line,
            )
        self.first_line[sample_id] = line


R = TypeVar("R", bound=BaseModel)


def build_record(
    make: Callable[..., R], source: str | Path, line: int, field_prefix: str = "", /, **fields: Any
) -> R:
    """``make(**fields)`` (a record class or ``LabelRecord.from_votes``), with a validation error
    turned into one naming the file, line and field."""
    try:
        return make(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise InputError(
            first["msg"], path=source, line=line, field=f"{field_prefix}{name}" or None
        ) from None
