"""Preference pairs in the style of Tango 2's Audio-Alpaca: ``prompt``, ``chosen``, ``rejected``.

Audio-Alpaca (``declare-lab/audio-alpaca``) holds about 15k triplets: a text prompt, the preferred
clip and the rejected one, with ``strategy`` saying how the pair was made. Here it is JSON Lines,
one triplet a line, the clips as audio paths, and baton adds the votes behind each pair::

    {"prompt": "A dog barks, then a bell rings", "chosen": "/runs/gen/audio/p1-3.wav",
     "rejected": "/runs/gen/audio/p1-0.wav", "strategy": "human", "preference": 0.833,
     "votes": [{"annotator": "ann", "choice": "chosen"}, ...], "id": "p1-0~p1-3",
     "prompt_id": "p1", "chosen_id": "p1-3", "rejected_id": "p1-0", "task": "temporal"}

Export writes absolute audio paths (as the Tango export does: baton cannot know where the training
script will run) and leaves out undecided pairs (as many votes for each clip), which have no chosen
clip. Import reads ``prompt`` (or Tango's ``captions``), ``chosen`` and ``rejected`` (or
``reject``), each clip a path or an object with a ``path``; relative paths are read from the file's
folder and written relative to the pairs file's. Votes may be a list of ``{annotator, choice}`` or
counts ``{"chosen": n, "rejected": n, "tie": n}`` (then the preference alone is kept); a pair without
votes has preference 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from baton.artifacts import PairRecord, PairVote, atomic_write_text, resolve_path
from baton.errors import InputError
from baton.interchange.common import Notes, build_record, caption_prompt_id, is_url, rebase_path
from baton.interchange.jsonread import read_json_lines, read_text

CHOICES = ("chosen", "rejected", "tie")


def write_alpaca(
    path: str | Path, records: Sequence[PairRecord], *, records_dir: str | Path, notes: Notes | None = None
) -> int:
    """Write decided pairs as Audio-Alpaca JSON Lines; returns how many were written."""
    notes = notes if notes is not None else Notes()
    lines, undecided = [], 0
    for record in records:
        if not record.decided:
            undecided += 1
            continue
        row = {
            "prompt": record.text,
            "chosen": _absolute(record.chosen_path, records_dir),
            "rejected": _absolute(record.rejected_path, records_dir),
            "strategy": record.strategy or "human",
            "preference": round(record.preference, 6),
            "votes": [{"annotator": v.annotator, "choice": v.choice} for v in record.votes],
            "id": record.id,
            "prompt_id": record.prompt_id,
            "chosen_id": record.chosen,
            "rejected_id": record.rejected,
        }
        if record.task is not None:
            row["task"] = record.task
        if record.events:
            row["events"] = record.events
        lines.append(json.dumps(row, ensure_ascii=False))
    if undecided:
        notes.warn(f"left out {undecided} undecided pair(s): as many votes for each clip, so no chosen one")
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def _absolute(path: str | None, records_dir: str | Path) -> str | None:
    if path is None or is_url(path):
        return path
    return os.path.abspath(resolve_path(path, records_dir))


def read_alpaca(path: str | Path, *, out_dir: str | Path) -> list[PairRecord]:
    """The pairs of an Audio-Alpaca JSON Lines file (paths rewritten relative to ``out_dir``)."""
    path = Path(path)
    records: list[PairRecord] = []
    seen: dict[str, int] = {}
    for line, row in read_json_lines(read_text(path), path).rows:
        text = _field(row, ("prompt", "captions"), path, line)
        if isinstance(text, list):  # Tango's captions may be a list: its first caption
            text = text[0] if text else None
        if not isinstance(text, str) or not text.strip():
            raise InputError("the prompt must be a non-empty string", path=path, line=line, field="prompt")
        clips, ids = {}, {}
        for name, aliases in (("chosen", ("chosen",)), ("rejected", ("rejected", "reject"))):
            written = _audio_path(_field(row, aliases, path, line), path, line, name)
            clips[name] = rebase_path(written, path.parent, out_dir)
            # A clip's id: the file's, else its path as written without the suffix (stems may repeat).
            ids[name] = row.get(f"{name}_id") or PurePosixPath(written).with_suffix("").as_posix()
        votes, preference = _votes(row.get("votes"), path, line)
        record = build_record(
            PairRecord,
            path,
            line,
            id=str(row.get("id") or f"{ids['chosen']}~{ids['rejected']}"),
            prompt_id=str(row.get("prompt_id") or caption_prompt_id(text)),
            text=text.strip(),
            events=row.get("events") or [],
            task=row.get("task"),
            chosen=str(ids["chosen"]),
            rejected=str(ids["rejected"]),
            chosen_path=clips["chosen"],
            rejected_path=clips["rejected"],
            votes=votes,
            preference=preference,
            strategy=row.get("strategy"),
            source=path.name,
        )
        if record.id in seen:
            raise InputError(
                f"pair '{record.id}' appears again (first on line {seen[record.id]})", path=path, line=line
            )
        seen[record.id] = line
        records.append(record)
    if not records:
        raise InputError("the file holds no pairs", path=path)
    return records


def _field(row: dict[str, Any], names: tuple[str, ...], path: Path, line: int) -> Any:
    for name in names:
        if name in row:
            return row[name]
    raise InputError("required field is missing", path=path, line=line, field=names[0])


def _audio_path(value: Any, path: Path, line: int, name: str) -> str:
    """A clip as a path string (a Hugging Face audio object gives its ``path``)."""
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise InputError(
            "must be the clip's audio path (or an object with a 'path')", path=path, line=line, field=name
        )
    return value


def _votes(value: Any, path: Path, line: int) -> tuple[list[PairVote], float]:
    """The votes of a row and the preference they make (1.0 without votes)."""
    if value is None:
        return [], 1.0
    if isinstance(value, dict):
        counts = {c: value.get(c, 0) for c in CHOICES}
        unknown = sorted(set(value) - set(CHOICES))
        if unknown or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts.values()):
            raise InputError(
                "vote counts are whole numbers under chosen, rejected and tie",
                path=path,
                line=line,
                field="votes",
            )
        total = sum(counts.values())
        share = 1.0 if total == 0 else (counts["chosen"] + counts["tie"] / 2) / total
        return [], _checked_preference(share, path, line)
    if not isinstance(value, list):
        raise InputError("votes must be a list or counts", path=path, line=line, field="votes")
    votes = [
        build_record(PairVote, path, line, f"votes.{i}.", **_vote_fields(v, path, line, i))
        for i, v in enumerate(value)
    ]
    if not votes:
        return [], 1.0
    share = sum({"chosen": 1.0, "rejected": 0.0, "tie": 0.5}[v.choice] for v in votes) / len(votes)
    return votes, _checked_preference(share, path, line)


def _vote_fields(value: Any, path: Path, line: int, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(
            "a vote is an object {annotator, choice}", path=path, line=line, field=f"votes.{index}"
        )
    return value


def _checked_preference(share: float, path: Path, line: int) -> float:
    if share < 0.5:
        raise InputError(
            "more votes for the rejected clip than for the chosen one", path=path, line=line, field="votes"
        )
    return share
