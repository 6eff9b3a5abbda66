"""Tango's and BATON's JSON files: captions, human feedback and reward scores.

Tango trains from JSON Lines rows ``{"dataset", "location", "captions"}``; BATON adds a score to each
row: ``"feedback"`` (the human label, 0 or 1) in ``data/HA/*_HA.json`` and the finetune files, or
``"SED"`` (the reward model's probability) in ``data/RM/*_RA.json``. Around those, the released
repository holds a few more shapes, all read here:

=====================================  =====================================================
file                                   shape
=====================================  =====================================================
``data/HA/*.json``, ``data/RM/*_RA``   JSON Lines, ``feedback`` or ``SED`` per row
``data/Audiocaps/train_audiocaps``     JSON Lines of captions (no score)
``test_audiocaps_2label/3label.json``  a JSON array of the same rows
``test_audiocaps_subset.json``         array rows one a line ending in ``},`` but no brackets:
                                       read as JSON Lines, with a warning
``src/rewardmodel/2label_RA.json``     a JSON array of ``{"audio", "pre_score": [p]}``; the
                                       caption comes from the BATON file name
``data/RM/grouped_ratings_*.json``,    ratings grouped by caption or by page
``human_*label_test.json``             (:mod:`baton.interchange.grouped`)
=====================================  =====================================================

Paths. Tango resolves a ``location`` from the folder it runs in, not from the file. On import a
location is kept exactly as written (BATON's ``Baton/data/Audio/...`` paths included), so a relative
one then reads, like every path in a baton file, relative to the records file's folder: put the
records where that holds, or rewrite the paths knowingly. On export a relative record path is made
absolute (resolved from the records file's folder), since baton cannot know where Tango will run.

Known problem in the release: every row of ``data/RM/3label_RA.json`` (dataset ``3label_RA``)
points into ``2label_Integrity_RD_Audio`` although its captions are the temporal (3-event) ones;
the finetune file ``3label_finetune.json`` points the same clips into ``3label_Temporal_RD_Audio``.
Reading warns once with the count and keeps the paths as written.

On export baton adds ``sample_id``, ``prompt_id``, ``task``, ``index`` and ``events`` to each row so
that a round trip keeps the clips' identity; Tango reads only the columns it is told to.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from baton.artifacts import (
    TASKS,
    LabelRecord,
    Record,
    RewardRecord,
    SampleRecord,
    Vote,
    atomic_write_text,
    resolve_path,
)
from baton.errors import InputError
from baton.interchange.baton_names import try_parse_baton_filename
from baton.interchange.common import (
    LABEL_COUNT,
    ClipIdentity,
    Notes,
    UniqueClips,
    clip_probability,
    infer_task,
    is_url,
    probability_logit,
    resolve_clip,
)
from baton.interchange.grouped import TangoRow, ValueKind, grouped_rows, is_grouped_document
from baton.interchange.jsonread import LocatedDict, LocatedList, load_located, read_json_lines, read_text

# The name of each kind of score in the file, for messages.
VALUE_FIELDS: dict[str, str] = {
    "feedback": "feedback",
    "sed": "SED",
    "pre_score": "pre_score",
    "rating": "rating",
}
TANGO_FIELDS = ("dataset", "location", "captions", "feedback", "SED")
BATON_EXTRA_FIELDS = ("sample_id", "prompt_id", "task", "index", "events")
DEFAULT_ANNOTATOR = "baton"


@dataclass(frozen=True)
class CaptionRow:
    """One caption of a caption file, with its audio path and dataset when the file gives them."""

    text: str
    location: str | None
    dataset: str | None
    line: int


@dataclass
class TangoFile:
    """The rows of one file, its shape, and the warnings reading it gave."""

    path: Path
    shape: str  # json-lines, json-array, pre-scores, grouped-ratings or human-ratings
    rows: list[TangoRow]
    notes: Notes

    @property
    def value_kind(self) -> ValueKind | None:
        return self.rows[0].value_kind if self.rows else None


# --- reading -------------------------------------------------------------------------------------


def read_caption_file(path: str | Path) -> list[CaptionRow]:
    """The captions of any Tango/AudioCaps/BATON caption file, in file order, each with its line.

    ``location`` is the audio path, or for BATON's grouped rating files (which give no path) the
    clip's file name, which still carries BATON's prompt number.
    """
    tango = read_tango_file(path)
    return [
        CaptionRow(text=row.text, location=row.location or row.file_name, dataset=row.dataset, line=row.line)
        for row in tango.rows
    ]


def read_tango_file(path: str | Path, notes: Notes | None = None) -> TangoFile:
    """Read any of the shapes in this module's table into rows, or raise naming the file and line."""
    path = Path(path)
    notes = notes if notes is not None else Notes()
    text = read_text(path)
    head = text.lstrip()
    if not head:
        raise InputError("the file is empty", path=path)

    if head[0] == "[":
        doc = load_located(text, path)
        shape, rows = _array_rows(doc, path, notes)
    elif head[0] == "{" and is_grouped_document(_whole_document_or_none(text)):
        shape, rows = grouped_rows(load_located(text, path), path, notes)
    elif head[0] == "{":
        lines = read_json_lines(text, path)
        if lines.trailing_commas:
            notes.warn(
                f"{path}: {lines.trailing_commas} of {len(lines.rows)} lines end in ',' (the rows of a JSON "
                "array without its brackets); read them as JSON Lines"
            )
        unknown: dict[str, list[int]] = {}
        rows = [_tango_row(obj, path, lineno, unknown) for lineno, obj in lines.rows]
        _warn_unknown_fields(unknown, path, notes)
        shape = "json-lines"
    else:
        first_line = text[: len(text) - len(head)].count("\n") + 1
        raise InputError(
            "not a Tango/BATON file: expected JSON Lines rows ({...} on each line) or a JSON array",
            path=path,
            line=first_line,
        )
    if not rows:
        raise InputError("the file holds no rows", path=path)
    _check_one_value_kind(rows, path)
    _check_captions_match_names(rows, path, notes)
    _check_label_count_of_folders(rows, path, notes)
    return TangoFile(path=path, shape=shape, rows=rows, notes=notes)


def _whole_document_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _array_rows(doc: Any, path: Path, notes: Notes) -> tuple[str, list[TangoRow]]:
    if not isinstance(doc, LocatedList):
        raise InputError("expected a JSON array of rows", path=path, line=1)
    unknown: dict[str, list[int]] = {}
    rows = []
    pre_scores = 0
    for item, line in zip(doc, doc.lines, strict=True):
        if not isinstance(item, LocatedDict):
            raise InputError("a row must be a JSON object", path=path, line=line)
        if "pre_score" in item:
            rows.append(_pre_score_row(item, path, line))
            pre_scores += 1
        else:
            rows.append(_tango_row(item, path, line, unknown))
    _warn_unknown_fields(unknown, path, notes)
    if pre_scores and pre_scores != len(rows):
        raise InputError("mixes pre_score rows with Tango rows", path=path)
    return ("pre-scores" if pre_scores else "json-array"), rows


def _tango_row(obj: dict[str, Any], path: Path, line: int, unknown: dict[str, list[int]]) -> TangoRow:
    for key in obj:
        if key not in TANGO_FIELDS and key not in BATON_EXTRA_FIELDS:
            unknown.setdefault(key, []).append(obj.lines[key] if isinstance(obj, LocatedDict) else line)
    if "captions" not in obj:
        raise InputError("required field is missing", path=path, line=line, field="captions")
    text = obj["captions"]
    if not isinstance(text, str) or not text.strip():
        raise InputError("must be a non-empty string", path=path, line=line, field="captions")
    location = _optional_string(obj, "location", path, line)
    dataset = _optional_string(obj, "dataset", path, line)
    if "feedback" in obj and "SED" in obj:
        raise InputError("a row has either 'feedback' or 'SED', not both", path=path, line=line, field="SED")
    value_kind: ValueKind | None = None
    value = None
    for key, kind in (("feedback", "feedback"), ("SED", "sed")):
        if key in obj:
            value, value_kind = _unit_number(obj[key], path, line, key), kind  # type: ignore[assignment]
    return TangoRow(
        line=line,
        text=text,
        location=location,
        file_name=PurePosixPath(location.replace("\\", "/")).name if location else None,
        dataset=dataset,
        value=value,
        value_kind=value_kind,
        extras=_extras(obj, path, line),
    )


def _pre_score_row(obj: dict[str, Any], path: Path, line: int) -> TangoRow:
    audio = obj.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise InputError(
            "required field is missing (the clip's audio path)", path=path, line=line, field="audio"
        )
    scores = obj["pre_score"]
    if isinstance(scores, list) and len(scores) == 1:
        scores = scores[0]
    elif isinstance(scores, list):
        raise InputError(f"expected one score, got {len(scores)}", path=path, line=line, field="pre_score")
    value = _unit_number(scores, path, line, "pre_score", clip=True)
    name = PurePosixPath(audio.replace("\\", "/")).name
    clip = try_parse_baton_filename(name)
    if clip is None:
        raise InputError(
            f"'{name}' is not a BATON clip name ('<prompt id>_<caption>_<index>.wav'); "
            "a pre_score row has no other caption",
            path=path,
            line=line,
            field="audio",
        )
    return TangoRow(
        line=line,
        text=clip.caption,
        location=audio,
        file_name=name,
        dataset=None,
        value=value,
        value_kind="pre_score",
    )


def _optional_string(obj: dict[str, Any], key: str, path: Path, line: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("must be a string", path=path, line=line, field=key)
    return value or None


def _unit_number(value: Any, path: Path, line: int, key: str, *, clip: bool = False) -> float:
    """A score from 0 to 1. ``clip`` takes a reward model's output as it is and clips it later."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"must be a number from 0 to 1, got {value!r}", path=path, line=line, field=key)
    if not clip and not 0.0 <= value <= 1.0:
        raise InputError(f"must be from 0 to 1, got {value}", path=path, line=line, field=key)
    return float(value)


def _extras(obj: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key in ("sample_id", "prompt_id"):
        if obj.get(key) is not None:
            if not isinstance(obj[key], str) or not obj[key]:
                raise InputError("must be a non-empty string", path=path, line=line, field=key)
            extras[key] = obj[key]
    if obj.get("task") is not None:
        if obj["task"] not in TASKS:
            raise InputError(f"must be one of {', '.join(TASKS)}", path=path, line=line, field="task")
        extras["task"] = obj["task"]
    if obj.get("index") is not None:
        if isinstance(obj["index"], bool) or not isinstance(obj["index"], int) or obj["index"] < 0:
            raise InputError("must be a whole number, 0 or more", path=path, line=line, field="index")
        extras["index"] = obj["index"]
    if obj.get("events") is not None:
        if not isinstance(obj["events"], list) or not all(isinstance(e, str) for e in obj["events"]):
            raise InputError("must be a list of event ids", path=path, line=line, field="events")
        extras["events"] = list(obj["events"])
    return extras


def _warn_unknown_fields(unknown: dict[str, list[int]], path: Path, notes: Notes) -> None:
    for key, lines in unknown.items():
        where = f"line {lines[0]}" if len(lines) == 1 else f"{len(lines)} rows, first at line {lines[0]}"
        notes.warn(f"{path}: field '{key}' is not a Tango field ({where}); ignored")


def _check_one_value_kind(rows: list[TangoRow], path: Path) -> None:
    first = rows[0]
    for row in rows:
        if row.value_kind == first.value_kind:
            continue
        if row.value_kind is None:
            raise InputError(
                f"required field is missing (line {first.line} has one)",
                path=path,
                line=row.line,
                field=VALUE_FIELDS[first.value_kind],  # type: ignore[index]
            )
        if first.value_kind is None:
            raise InputError(
                f"has '{VALUE_FIELDS[row.value_kind]}' but line {first.line} has no score; a file holds "
                "captions only or captions with scores",
                path=path,
                line=row.line,
                field=VALUE_FIELDS[row.value_kind],
            )
        raise InputError(
            f"has '{VALUE_FIELDS[row.value_kind]}' but line {first.line} has "
            f"'{VALUE_FIELDS[first.value_kind]}'; a file holds one or the other",
            path=path,
            line=row.line,
            field=VALUE_FIELDS[row.value_kind],
        )


def _check_captions_match_names(rows: list[TangoRow], path: Path, notes: Notes) -> None:
    differ = []
    for row in rows:
        clip = try_parse_baton_filename(row.file_name)
        if clip is not None and " ".join(clip.caption.split()) != " ".join(row.text.split()):
            differ.append(row.line)
    if differ:
        notes.warn(
            f"{path}: {len(differ)} rows have a caption that differs from the one in their file name "
            f"(first at line {differ[0]}); the row's caption is used"
        )


def _check_label_count_of_folders(rows: list[TangoRow], path: Path, notes: Notes) -> None:
    """Warn when a ``3label`` dataset's rows point into a ``2label`` folder (or the reverse)."""
    mismatched: dict[tuple[str, str], list[int]] = {}
    totals = Counter(row.dataset for row in rows)
    for row in rows:
        if not row.dataset or not row.location:
            continue
        stated = LABEL_COUNT.search(row.dataset)
        folder = str(PurePosixPath(row.location.replace("\\", "/")).parent)
        found = LABEL_COUNT.search(folder)
        if stated and found and stated[1] != found[1]:
            mismatched.setdefault((row.dataset, folder), []).append(row.line)
    for (dataset, folder), lines in mismatched.items():
        notes.warn(
            f"{path}: {len(lines)} of {totals[dataset]} rows of dataset '{dataset}' point into the folder "
            f"'{folder}' of another task (first at line {lines[0]}); the paths are kept as written: check "
            f"that the audio there really is {dataset}'s"
        )


# --- rows to records -----------------------------------------------------------------------------


def clip_identities(tango: TangoFile) -> list[ClipIdentity | None]:
    """Each row's sample id, prompt id and clip index (see :func:`~baton.interchange.common.resolve_clip`).

    A clip with several captions (AudioCaps gives each clip up to five, one row each) is a sample
    per caption: the first caption's keeps the clip's id, the n-th one's is ``<id>-c<n>``. In a file
    of captions alone, a row that repeats an earlier row's clip and caption adds nothing: it is
    ``None`` (left out), with one warning. Anywhere else a repeated clip, or an id the file states
    itself twice, is an error naming both lines.
    """
    identities: list[ClipIdentity | None] = []
    unique = UniqueClips(tango.path)
    per_caption: Counter[str] = Counter()
    captions_of: dict[str, list[str]] = {}  # a derived sample id -> its clip's captions so far
    repeated: list[int] = []
    for row in tango.rows:
        clip = resolve_clip(row.file_name, row.text, row.extras, per_caption[row.text])
        if not row.extras.get("sample_id"):
            captions = captions_of.setdefault(clip.sample_id, [])
            caption = " ".join(row.text.split())
            if caption not in captions:
                captions.append(caption)
                if len(captions) > 1:
                    clip = replace(clip, sample_id=f"{clip.sample_id}-c{len(captions)}")
            elif tango.value_kind is None:
                repeated.append(row.line)
                identities.append(None)
                continue
        per_caption[row.text] += 1
        unique.add(clip.sample_id, row.line)
        identities.append(clip)
    if repeated:
        tango.notes.warn(
            f"{tango.path}: {len(repeated)} rows repeat an earlier row's clip and caption (first at line "
            f"{repeated[0]}); left out"
        )
    return identities


def _row_task(row: TangoRow, tango: TangoFile, task: str | None) -> str | None:
    return task or row.extras.get("task") or infer_task(row.dataset, tango.path.name)


def tango_to_labels(tango: TangoFile, *, task: str | None = None) -> list[LabelRecord]:
    """One label per row: a single vote (annotator: the row's dataset, or ``baton``) with the released value."""
    _require_values(tango, "labels")
    records = []
    for row, clip in zip(tango.rows, clip_identities(tango), strict=True):
        vote = Vote(annotator=row.dataset or DEFAULT_ANNOTATOR, value=clip_probability(row.value))  # type: ignore[arg-type]
        records.append(
            LabelRecord.from_votes(
                [vote],
                sample_id=clip.sample_id,
                prompt_id=clip.prompt_id,
                text=row.text,
                events=row.extras.get("events", []),
                task=_row_task(row, tango, task),
                index=clip.index,
                path=row.location,
                source=tango.path.name,
            )
        )
    return records


def tango_to_rewards(tango: TangoFile, *, task: str | None = None) -> list[RewardRecord]:
    """One reward per row: probability = the score clipped to [0, 1], score = its logit."""
    _require_values(tango, "rewards")
    records = []
    for row, clip in zip(tango.rows, clip_identities(tango), strict=True):
        probability = clip_probability(row.value)  # type: ignore[arg-type]
        records.append(
            RewardRecord(
                sample_id=clip.sample_id,
                prompt_id=clip.prompt_id,
                text=row.text,
                events=row.extras.get("events", []),
                task=_row_task(row, tango, task),
                path=row.location,
                score=probability_logit(probability),
                probability=probability,
                model=row.dataset or tango.path.stem,
            )
        )
    return records


def tango_to_samples(tango: TangoFile, *, task: str | None = None) -> list[SampleRecord]:
    """One sample per row that names its audio (the score, if any, is left out)."""
    records = []
    for row, clip in zip(tango.rows, clip_identities(tango), strict=True):
        if clip is None:  # the same clip and caption as an earlier row
            continue
        if not row.location:
            raise InputError(
                "a sample needs the clip's audio path", path=tango.path, line=row.line, field="location"
            )
        records.append(
            SampleRecord(
                id=clip.sample_id,
                prompt_id=clip.prompt_id,
                text=row.text,
                events=row.extras.get("events", []),
                task=_row_task(row, tango, task),
                index=clip.index,
                path=row.location,
                backend=row.dataset or "unknown",
            )
        )
    return records


def _require_values(tango: TangoFile, kind: str) -> None:
    if tango.value_kind is None:
        raise InputError(
            f"holds captions without feedback or scores, so there are no {kind} to import: for prompts "
            "use `baton prompts --from-captions`; to import the clips as samples pass --kind samples",
            path=tango.path,
        )


# --- writing -------------------------------------------------------------------------------------


def write_tango(
    path: str | Path,
    records: Sequence[Record],
    *,
    records_dir: str | Path,
    soft: bool = False,
    dataset: str | None = None,
    notes: Notes | None = None,
) -> int:
    """Write records as Tango JSON Lines; returns how many rows were written.

    Labels give ``feedback`` (the majority label, or with ``soft`` the mean vote; a tie has no
    majority and is left out unless ``soft``), rewards give ``SED`` (the probability), samples give
    caption rows. ``dataset`` names every row; by default a label's single annotator (BATON's files
    name the dataset there), a reward's model, a sample's backend, else ``baton``.
    """
    path = Path(path)
    notes = notes if notes is not None else Notes()
    lines, ties, no_audio = [], 0, 0
    for record in records:
        row: dict[str, Any] = {"dataset": dataset or _default_dataset(record)}
        audio = getattr(record, "path", None)
        row["location"] = _absolute(audio, records_dir) if audio else None
        no_audio += audio is None
        row["captions"] = record.text  # type: ignore[attr-defined]
        if isinstance(record, LabelRecord):
            if soft:
                row["feedback"] = record.mean
            elif record.label is None:
                ties += 1
                continue
            else:
                row["feedback"] = record.label
            row.update(
                _extra_columns(record.sample_id, record.prompt_id, record.task, record.index, record.events)
            )
        elif isinstance(record, RewardRecord):
            row["SED"] = record.probability
            row.update(_extra_columns(record.sample_id, record.prompt_id, record.task, None, record.events))
        elif isinstance(record, SampleRecord):
            row.update(_extra_columns(record.id, record.prompt_id, record.task, record.index, record.events))
        else:
            raise TypeError(f"cannot write a {type(record).__name__} as a Tango row")
        lines.append(json.dumps(row, ensure_ascii=False))
    if ties:
        notes.warn(
            f"{ties} clips have tied votes (no majority) and were left out; --soft writes their mean vote"
        )
    if no_audio:
        notes.warn(
            f"{no_audio} clips have no audio path; their 'location' is null, which Tango cannot train on"
        )
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def _absolute(audio: str, records_dir: str | Path) -> str:
    if is_url(audio):
        return audio
    return Path(os.path.abspath(resolve_path(audio, records_dir))).as_posix()


def _default_dataset(record: Record) -> str:
    if isinstance(record, LabelRecord) and len({v.annotator for v in record.votes}) == 1:
        return record.votes[0].annotator
    if isinstance(record, RewardRecord) and record.model != "unknown":
        return record.model
    if isinstance(record, SampleRecord) and record.backend != "unknown":
        return record.backend
    return DEFAULT_ANNOTATOR


def _extra_columns(
    sample_id: str, prompt_id: str, task: str | None, index: int | None, events: Iterable[str]
) -> dict[str, Any]:
    extra: dict[str, Any] = {"sample_id": sample_id, "prompt_id": prompt_id}
    if task is not None:
        extra["task"] = task
    if index is not None:
        extra["index"] = index
    events = list(events)
    if events:
        extra["events"] = events
    return extra
