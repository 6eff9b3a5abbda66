"""Hugging Face's "audiofolder" layout: a folder of audio files and a ``metadata.jsonl``.

Each line of ``metadata.jsonl`` describes one clip: ``file_name`` (the audio file, relative to the
folder) and any other columns. baton writes, per kind of record:

- labels: ``sample_id, prompt_id, text, task, events, index, label, mean, votes, source``
- rewards: ``sample_id, prompt_id, text, task, events, score, probability, model``
- samples: ``sample_id, prompt_id, text, task, events, index, seed, backend, sample_rate, duration``

By default no audio is copied: ``file_name`` points at the existing files, relative to the folder
(so it may start with ``../``). baton, pandas and ``datasets.load_dataset("json", ...)`` read that,
but Hugging Face's ``audiofolder`` loader only finds files inside the folder: export with
``copy_audio`` (``--copy-audio``) for a self-contained folder, whose clips are hard-linked (copied
where a link is impossible) to ``audio/<sample id>.<ext>``.

Reading takes the folder (or its ``metadata.jsonl``) back into records: ``votes`` (or else
``label``/``mean``, as one vote) make labels, ``probability``/``score`` make rewards, anything else
samples. A missing ``text`` is taken from a BATON file name; missing ids are derived from it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from baton.artifacts import (
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
    Notes,
    UniqueClips,
    build_record,
    is_url,
    probability_logit,
    rebase_path,
    resolve_clip,
    sigmoid,
)
from baton.interchange.jsonread import read_json_lines, read_text

METADATA_FILE = "metadata.jsonl"
AUDIO_DIR = "audio"
DEFAULT_ANNOTATOR = "audiofolder"


# --- export --------------------------------------------------------------------------------------


def write_audiofolder(
    out_dir: str | Path,
    records: Sequence[Record],
    *,
    records_path: str | Path,
    copy_audio: bool = False,
) -> int:
    """Write ``out_dir/metadata.jsonl`` for the records (read from ``records_path``); returns the row count."""
    out_dir = Path(out_dir)
    records_path = Path(records_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    placed: dict[str, str] = {}
    lines = []
    for record in records:
        sample_id = record.record_key()
        audio = getattr(record, "path", None)
        if not audio:
            raise InputError(
                f"clip '{sample_id}' has no audio path, and an audiofolder row needs one",
                path=records_path,
                field="path",
            )
        if is_url(audio):
            raise InputError(
                f"clip '{sample_id}': an audiofolder needs local files, not {audio}",
                path=records_path,
                field="path",
            )
        if copy_audio:
            file_name = _place_audio(resolve_path(audio, records_path.parent), out_dir, sample_id, placed)
        else:
            file_name = rebase_path(audio, records_path.parent, out_dir)
        lines.append(json.dumps({"file_name": file_name, **_columns(record)}, ensure_ascii=False))
    atomic_write_text(out_dir / METADATA_FILE, "".join(line + "\n" for line in lines))
    return len(lines)


def _columns(record: Record) -> dict[str, Any]:
    if isinstance(record, LabelRecord):
        return {
            "sample_id": record.sample_id,
            "prompt_id": record.prompt_id,
            "text": record.text,
            "task": record.task,
            "events": record.events,
            "index": record.index,
            "label": record.label,
            "mean": record.mean,
            "votes": [vote.model_dump(mode="json") for vote in record.votes],
            "source": record.source,
        }
    if isinstance(record, RewardRecord):
        return {
            "sample_id": record.sample_id,
            "prompt_id": record.prompt_id,
            "text": record.text,
            "task": record.task,
            "events": record.events,
            "score": record.score,
            "probability": record.probability,
            "model": record.model,
        }
    if isinstance(record, SampleRecord):
        return {
            "sample_id": record.id,
            "prompt_id": record.prompt_id,
            "text": record.text,
            "task": record.task,
            "events": record.events,
            "index": record.index,
            "seed": record.seed,
            "backend": record.backend,
            "sample_rate": record.sample_rate,
            "duration": record.duration,
        }
    raise TypeError(f"cannot write a {type(record).__name__} to an audiofolder")


def _place_audio(source: Path, out_dir: Path, sample_id: str, placed: dict[str, str]) -> str:
    """Hard-link (or copy) a clip into ``out_dir/audio/`` and return its ``file_name``."""
    if not source.is_file():
        raise InputError(f"audio of clip '{sample_id}' not found", path=source)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id) + source.suffix
    if name in placed and placed[name] != sample_id:
        raise InputError(
            f"clips '{placed[name]}' and '{sample_id}' would share the file name '{name}'", path=source
        )
    placed[name] = sample_id
    target = out_dir / AUDIO_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)
    return f"{AUDIO_DIR}/{name}"


# --- import --------------------------------------------------------------------------------------


def metadata_path(path: str | Path) -> Path:
    """The ``metadata.jsonl`` of an audiofolder given as the folder or as the file itself."""
    path = Path(path)
    if not path.is_dir():
        return path
    metadata = path / METADATA_FILE
    if not metadata.is_file():
        other = "; baton reads metadata.jsonl only" if (path / "metadata.csv").is_file() else ""
        raise InputError(f"no {METADATA_FILE} in this folder{other}", path=path)
    return metadata


def read_audiofolder(
    path: str | Path,
    *,
    out_dir: str | Path,
    kind: str | None = None,
    task: str | None = None,
    notes: Notes | None = None,
) -> tuple[str, list[Record]]:
    """The records of an audiofolder, with paths rewritten relative to ``out_dir``; returns (kind, records)."""
    notes = notes if notes is not None else Notes()
    metadata = metadata_path(path)
    lines = read_json_lines(read_text(metadata), metadata)
    if lines.trailing_commas:
        notes.warn(f"{metadata}: {lines.trailing_commas} lines end in ','; read them as JSON Lines")
    if not lines.rows:
        raise InputError("holds no rows", path=metadata)
    kind = kind or _kind_of(lines.rows[0][1])
    folder = metadata.parent
    unique = UniqueClips(metadata)
    per_caption: Counter[str] = Counter()
    records: list[Record] = []
    for line, row in lines.rows:
        file_name = row.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            raise InputError(
                "required field is missing (the audio file, relative to the folder)",
                path=metadata,
                line=line,
                field="file_name",
            )
        text = _text(row, file_name, metadata, line)
        given = {key: row.get(key) for key in ("sample_id", "prompt_id", "index")}
        clip = resolve_clip(PurePosixPath(file_name).name, text, given, per_caption[text])
        per_caption[text] += 1
        unique.add(clip.sample_id, line)
        common = {
            "prompt_id": clip.prompt_id,
            "text": text,
            "events": row.get("events") or [],
            "task": task or row.get("task"),
            "path": rebase_path(file_name, folder, out_dir),
        }
        if kind == "labels":
            records.append(_label(row, clip.sample_id, clip.index, common, metadata, line))
        elif kind == "rewards":
            records.append(_reward(row, clip.sample_id, common, metadata, line))
        else:
            settings = {key: row.get(key) for key in ("seed", "sample_rate", "duration")}
            records.append(
                build_record(
                    SampleRecord,
                    metadata,
                    line,
                    id=clip.sample_id,
                    index=clip.index,
                    backend=row.get("backend") or "unknown",
                    **common,
                    **settings,
                )
            )
    return kind, records


def _kind_of(row: dict[str, Any]) -> str:
    if any(key in row for key in ("votes", "label", "mean")):
        return "labels"
    if any(key in row for key in ("probability", "score")):
        return "rewards"
    return "samples"


def _text(row: dict[str, Any], file_name: str, path: Path, line: int) -> str:
    for key in ("text", "caption", "captions"):
        value = row.get(key)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise InputError("must be a non-empty string", path=path, line=line, field=key)
            return value
    clip = try_parse_baton_filename(file_name)
    if clip is None:
        raise InputError("required field is missing (the clip's caption)", path=path, line=line, field="text")
    return clip.caption


def _label(
    row: dict[str, Any], sample_id: str, index: int, common: dict[str, Any], path: Path, line: int
) -> LabelRecord:
    fields = {"sample_id": sample_id, "index": index, "source": row.get("source"), **common}
    votes = row.get("votes")
    if votes is None:
        value = row.get("mean", row.get("label"))
        if value is None:
            raise InputError(
                "a label row needs 'votes', 'mean' or 'label'", path=path, line=line, field="votes"
            )
        votes = [{"annotator": DEFAULT_ANNOTATOR, "value": value}]
    if not isinstance(votes, list) or not votes:
        raise InputError("must be a non-empty list of votes", path=path, line=line, field="votes")
    if "mean" in row and "label" in row:
        # Keep the label and mean as written: they need not be the plain majority of the votes.
        return build_record(
            LabelRecord, path, line, votes=votes, mean=row["mean"], label=row["label"], **fields
        )
    checked = [_vote(vote, path, line, i) for i, vote in enumerate(votes)]
    return build_record(LabelRecord.from_votes, path, line, votes=checked, **fields)


def _vote(value: Any, path: Path, line: int, i: int) -> Vote:
    if not isinstance(value, dict):
        raise InputError(
            "a vote must be an object with 'annotator' and 'value'", path=path, line=line, field=f"votes.{i}"
        )
    return build_record(Vote, path, line, f"votes.{i}.", **value)


def _reward(
    row: dict[str, Any], sample_id: str, common: dict[str, Any], path: Path, line: int
) -> RewardRecord:
    probability, score = row.get("probability"), row.get("score")
    if probability is None and score is None:
        raise InputError(
            "a reward row needs 'probability' or 'score'", path=path, line=line, field="probability"
        )
    if probability is None and isinstance(score, (int, float)):
        probability = sigmoid(score)
    if score is None and isinstance(probability, (int, float)):
        score = probability_logit(probability)
    return build_record(
        RewardRecord,
        path,
        line,
        sample_id=sample_id,
        score=score,
        probability=probability,
        model=row.get("model") or "unknown",
        **common,
    )
