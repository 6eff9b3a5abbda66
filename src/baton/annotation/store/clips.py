"""Clips: loading a samples file's clips (and gold clips), finding a clip's audio safely, listing them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baton.annotation.models import (
    Clip,
    RatingItem,
)
from baton.annotation.store.annotators import AnnotatorView
from baton.annotation.store.base import Forbidden, NotFound, StoreCore, StoreError, new_uid
from baton.artifacts import SampleRecord, parse_record, store_path
from baton.errors import InputError

GOLD_MODEL = "gold"  # the model name of gold clips loaded without one


@dataclass
class LoadResult:
    path: Path
    model: str
    added: int = 0
    unchanged: int = 0
    moved: int = 0

    def summary(self) -> str:
        parts = [f"{self.added} new clips"]
        if self.unchanged:
            parts.append(f"{self.unchanged} already loaded")
        if self.moved:
            parts.append(f"{self.moved} with a new audio location")
        return f"{self.path} (model '{self.model}'): " + ", ".join(parts)


class ClipStore(StoreCore):
    """The clips of the campaign."""

    def load_samples(
        self,
        path: str | Path,
        model: str | None = None,
        *,
        records: list[tuple[SampleRecord, int]] | None = None,
        gold: bool = False,
    ) -> LoadResult:
        """Add a samples file's clips (a rerun adds only new ones). Audio must lie inside its folder.

        ``records``: the file's :func:`read_samples`, when the caller has read it already. ``gold``:
        the clips are gold clips, each with its answer in ``settings.gold`` (1/true: it matches its
        prompt, 0/false: it does not); their model is ``gold`` unless ``model`` names one."""
        path = Path(path)
        records = read_samples(path) if records is None else records
        answers = {record.id: gold_answer(record, path, line) for record, line in records} if gold else {}
        if gold and model is None:
            model = GOLD_MODEL
        root = path.parent.resolve()
        models = {model or record.backend for record, _ in records}
        result = LoadResult(path=path, model=", ".join(sorted(models)))
        now = self.clock()

        def work(session: Session) -> None:
            position = session.execute(select(func.max(Clip.position))).scalar() or 0
            existing = {
                (c.model, c.sample_id): c
                for c in session.execute(select(Clip).where(Clip.model.in_(models))).scalars()
            }
            item_keys = {
                tuple(row) for row in session.execute(select(RatingItem.prompt_id, RatingItem.clip_index))
            }
            item_position = session.execute(select(func.max(RatingItem.position))).scalar() or 0
            for record, line in records:
                name = model or record.backend
                old = existing.get((name, record.id))
                if old is not None:
                    _check_same_clip(old, record, path, line)
                    if (old.root, old.path) != (str(root), record.path):
                        old.root, old.path = str(root), record.path
                        result.moved += 1
                    else:
                        result.unchanged += 1
                    continue
                position += 1
                clip = _clip_from_sample(record, name, root, position, path.name, now)
                clip.gold = answers.get(record.id)
                session.add(clip)
                result.added += 1
                key = (record.prompt_id, record.index)
                if not gold and key not in item_keys:
                    item_keys.add(key)
                    item_position += 1
                    session.add(
                        RatingItem(
                            uid=new_uid(),
                            prompt_id=record.prompt_id,
                            clip_index=record.index,
                            text=record.text,
                            position=item_position,
                            created_at=now,
                        )
                    )

        self._write(work)
        with self._cache_lock:
            self._siblings.clear()
        return result

    def count_clips(self) -> int:
        with self.db.read() as session:
            return session.execute(select(func.count(Clip.id))).scalar_one()

    def audio_path(self, uid: str, annotator: AnnotatorView) -> Path:
        """The audio file of a registered clip, refused if it lies outside its samples folder."""
        with self.db.read() as session:
            clip = session.execute(select(Clip).where(Clip.uid == uid)).scalar_one_or_none()
        if clip is None:
            raise NotFound(f"no clip with id '{uid}'")
        if clip.root is None or clip.path is None:
            raise NotFound(f"clip '{uid}' has no audio in this database")
        return safe_audio_path(Path(clip.root), clip.path)

    def all_clips(self) -> list[Clip]:
        with self.db.read() as session:
            return list(session.execute(select(Clip).order_by(Clip.position)).scalars())

    def models(self) -> list[str]:
        with self.db.read() as session:
            return list(session.execute(select(Clip.model).distinct().order_by(Clip.model)).scalars())


def gold_answer(record: SampleRecord, path: Path, line: int) -> int:
    """A gold clip's known answer, from its ``settings.gold``: 1 (or true) matches, 0 (false) not."""
    value = record.settings.get("gold")
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise InputError(
        "a gold clip states its answer: 1 or true (it matches its prompt), 0 or false (it does not)"
        + ("" if value is None else f", got {value!r}"),
        path=path,
        line=line,
        field="settings.gold",
    )


def read_samples(path: Path) -> list[tuple[SampleRecord, int]]:
    """The samples of a file with their line numbers; ids unique; audio inside the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such samples file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    records: list[tuple[SampleRecord, int]] = []
    seen: dict[str, int] = {}
    root = path.parent.resolve()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = parse_record(line, SampleRecord, path, lineno)
        if record.id in seen:
            raise InputError(
                f"'{record.id}' appears again (first on line {seen[record.id]})",
                path=path,
                line=lineno,
                field="id",
            )
        seen[record.id] = lineno
        try:
            safe_audio_path(root, record.path)
        except StoreError as exc:
            raise InputError(exc.message, path=path, line=lineno, field="path") from None
        records.append((record, lineno))
    if not records:
        raise InputError("the file holds no sample records", path=path)
    return records


def safe_audio_path(root: Path, relative: str) -> Path:
    """``root / relative`` if it is a file inside ``root`` once every symlink is resolved."""
    if Path(relative).is_absolute() or relative.startswith(("\\", "/")):
        raise Forbidden(f"audio path '{relative}' is absolute; audio is served only from the samples folder")
    if ".." in Path(relative.replace("\\", "/")).parts:
        raise Forbidden(f"audio path '{relative}' climbs out of the samples folder ('..')")
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / relative))
    if not target.is_relative_to(real_root):
        raise Forbidden(f"audio path '{relative}' leads out of the samples folder (a symlink)")
    if not target.is_file():
        raise NotFound(f"audio file '{relative}' does not exist in {root}")
    return target


def exported_audio_path(clip: Clip, out_dir: str | Path | None) -> str | None:
    """How an exported file in ``out_dir`` names a clip's audio (absolute without ``out_dir``; a URL
    or a path that was never resolved stays as stored)."""
    if clip.path is None or "://" in clip.path:
        return clip.path
    full = Path(clip.root) / clip.path if clip.root is not None else Path(clip.path)
    if out_dir is None:
        return full.as_posix()
    return store_path(full, out_dir) if full.is_absolute() else clip.path


def imported_audio(path: str | None, base: Path) -> tuple[str | None, str | None]:
    """(root, path) of an imported clip: playable when its audio is a file inside ``base``; otherwise
    no root (never served or given out) and the path as written, made absolute when relative."""
    if path is None:
        return None, None
    try:
        safe_audio_path(base, path)
        return str(base), path
    except StoreError:
        if "://" in path or Path(path).is_absolute():
            return None, path
        return None, os.path.normpath(base / path)


def _clip_from_sample(
    record: SampleRecord, model: str, root: Path, position: int, source: str, now: datetime
) -> Clip:
    return Clip(
        uid=new_uid(),
        model=model,
        sample_id=record.id,
        prompt_id=record.prompt_id,
        text=record.text,
        events=list(record.events),
        task=record.task,
        relation=record.relation,
        clip_index=record.index,
        root=str(root),
        path=record.path,
        seed=record.seed,
        backend=record.backend,
        sample_rate=record.sample_rate,
        duration=record.duration,
        settings=dict(record.settings),
        position=position,
        source=source,
        created_at=now,
    )


def _check_same_clip(old: Clip, record: SampleRecord, path: Path, line: int) -> None:
    for name, before, now in (
        ("prompt_id", old.prompt_id, record.prompt_id),
        ("text", old.text, record.text),
        ("events", list(old.events or []), list(record.events)),
        ("task", old.task, record.task),
        ("index", old.clip_index, record.index),
    ):
        if before != now:
            raise InputError(
                f"clip '{record.id}' of model '{old.model}' is already in the database with another "
                f"{name} ({before!r}); give this file's model another name (--samples NAME=FILE)",
                path=path,
                line=line,
                field=name,
            )
