"""BATON's rating files that group clips under their caption or under a page of the rating app.

``data/RM/grouped_ratings_*.json`` (the human annotation, grouped by caption)::

    {"grouped_ratings": {"<caption>": {"0000_<caption>_0.wav": 1.0, ...}, ...}}

``src/rewardmodel/human_*label_test.json`` (the reward model's human test set, as saved by the rating
app: one ``data`` mapping per page of clips, and the app's position)::

    {"ratings": [{"data": {"0262_<caption>_4.wav": 1, ...}}, ...], "current_index": 1485}

Neither holds an audio path: only the clip's file name, which carries the prompt id, the caption and
the clip index (see :mod:`baton.interchange.baton_names`). Each clip becomes one
:class:`TangoRow` whose line is the line of its file name. (TangoRow, the row every reader of
:mod:`baton.interchange.tango` makes, is declared here because that module reads grouped files
through this one.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from baton.errors import InputError
from baton.interchange.baton_names import try_parse_baton_filename
from baton.interchange.common import Notes
from baton.interchange.jsonread import LocatedDict, LocatedList

# What a row's value is: BATON's feedback, a sound-event-detection score, Tango 2's pre-score, a rating.
ValueKind = Literal["feedback", "sed", "pre_score", "rating"]


@dataclass(frozen=True)
class TangoRow:
    """One clip of any of BATON's or Tango's files, before it becomes a record."""

    line: int
    text: str
    location: str | None  # the audio path as written; None where the file names the clip only
    file_name: str | None  # the audio file's name (the last part of ``location``, or the name given)
    dataset: str | None
    value: float | None  # the feedback, rating, SED or pre_score; None in a caption file
    value_kind: ValueKind | None
    extras: dict[str, Any] = field(default_factory=dict)  # baton's own columns, when baton wrote the file


def is_grouped_document(doc: Any) -> bool:
    return isinstance(doc, dict) and ("grouped_ratings" in doc or "ratings" in doc)


def grouped_rows(doc: LocatedDict, path: str | Path, notes: Notes) -> tuple[str, list[TangoRow]]:
    """The clips of either grouped file, and which shape it was (``grouped-ratings`` or ``human-ratings``)."""
    if "grouped_ratings" in doc:
        _ignore_other_keys(doc, {"grouped_ratings"}, path, notes)
        return "grouped-ratings", _grouped_ratings(doc, path)
    _ignore_other_keys(doc, {"ratings", "current_index"}, path, notes)
    return "human-ratings", _human_ratings(doc, path)


def _grouped_ratings(doc: LocatedDict, path: str | Path) -> list[TangoRow]:
    groups = doc["grouped_ratings"]
    if not isinstance(groups, LocatedDict):
        raise InputError(
            "must map each caption to its clips' ratings",
            path=path,
            line=doc.lines["grouped_ratings"],
            field="grouped_ratings",
        )
    rows = []
    for caption, clips in groups.items():
        if not isinstance(clips, LocatedDict):
            raise InputError(
                "must map each clip's file name to its rating",
                path=path,
                line=groups.lines[caption],
                field="grouped_ratings",
            )
        if not caption.strip():
            raise InputError(
                "a caption is empty", path=path, line=groups.lines[caption], field="grouped_ratings"
            )
        for name, value in clips.items():
            line = clips.lines[name]
            rating = _rating(value, path, line, field=name)
            rows.append(
                TangoRow(
                    line=line,
                    text=caption,
                    location=None,
                    file_name=name,
                    dataset=None,
                    value=rating,
                    value_kind="rating",
                )
            )
    return rows


def _human_ratings(doc: LocatedDict, path: str | Path) -> list[TangoRow]:
    pages = doc["ratings"]
    if not isinstance(pages, LocatedList):
        raise InputError(
            "must be an array of pages of ratings", path=path, line=doc.lines["ratings"], field="ratings"
        )
    rows = []
    for page, page_line in zip(pages, pages.lines, strict=True):
        if not isinstance(page, LocatedDict) or not isinstance(page.get("data"), LocatedDict):
            raise InputError(
                "a page must be an object whose 'data' maps clip file names to ratings",
                path=path,
                line=page_line,
                field="ratings.data",
            )
        clips = page["data"]
        for name, value in clips.items():
            line = clips.lines[name]
            rating = _rating(value, path, line, field=name)
            clip = try_parse_baton_filename(name)
            if clip is None:
                # This file has no caption but the one in the file name, so the name must fit.
                raise InputError(
                    f"'{name}' is not a BATON clip name ('<prompt id>_<caption>_<index>.wav'), "
                    "and this file has no other caption",
                    path=path,
                    line=line,
                    field="ratings.data",
                )
            rows.append(
                TangoRow(
                    line=line,
                    text=clip.caption,
                    location=None,
                    file_name=name,
                    dataset=None,
                    value=rating,
                    value_kind="rating",
                )
            )
    return rows


def _rating(value: Any, path: str | Path, line: int, *, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(
            f"a rating must be a number from 0 to 1, got {value!r}", path=path, line=line, field=field
        )
    if not 0.0 <= value <= 1.0:
        raise InputError(f"a rating must be from 0 to 1, got {value}", path=path, line=line, field=field)
    return float(value)


def _ignore_other_keys(doc: LocatedDict, known: set[str], path: str | Path, notes: Notes) -> None:
    for key in doc:
        if key not in known:
            notes.warn(
                f"{path}, line {doc.lines[key]}: field '{key}' is not part of BATON's rating files; ignored"
            )
