"""Reading the labels back as records (with Dawid-Skene beside the majority) and importing records'
votes as labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baton.annotation.aggregate import dawid_skene
from baton.annotation.models import (
    Annotator,
    Clip,
    Label,
)
from baton.annotation.store.annotators import check_name
from baton.annotation.store.base import StoreCore, iso, new_uid
from baton.annotation.store.clips import exported_audio_path, imported_audio
from baton.artifacts import LabelRecord, Vote
from baton.errors import InputError


@dataclass
class ImportCounts:
    votes: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    new_clips: int = 0
    new_annotators: int = 0


@dataclass(frozen=True)
class LabelRow:
    label: Label
    clip: Clip
    annotator: str


class RecordStore(StoreCore):
    """Every label, as rows and as label records; label records imported."""

    def all_labels(self) -> list[LabelRow]:
        """Every answer with its clip and annotator, in the order they were given."""
        with self.db.read() as session:
            rows = session.execute(
                select(Label, Clip, Annotator.name)
                .join(Clip, Clip.id == Label.clip_id)
                .join(Annotator, Annotator.id == Label.annotator_id)
                .order_by(Label.id)
            ).all()
        return [LabelRow(label, clip, name) for label, clip, name in rows]

    def label_records(
        self, out_dir: str | Path | None, model: str | None = None, *, drop_early: bool = False
    ) -> list[LabelRecord]:
        """One :class:`LabelRecord` per clip with at least one vote, in load order; audio paths are
        written relative to ``out_dir`` (the folder of the labels file), or absolute without one.

        Gold clips are left out. Each record's ``dawid_skene`` is the clip's probability of matching
        from Dawid-Skene fitted to every vote in the database (gold clips as known items), beside the
        majority ``label``. ``drop_early``: leave out votes given before the clip could be heard.
        """
        rows = [
            row for row in self.all_labels() if not row.label.skipped and not (drop_early and row.label.early)
        ]
        if model is None:
            models = {row.clip.model for row in rows if row.clip.gold is None}
            if len(models) > 1:
                raise InputError(
                    f"the database holds votes on clips of several models ({', '.join(sorted(models))}), "
                    "whose sample ids may clash; export one model at a time with --model",
                    field="model",
                )
        gold = {row.clip.id: row.clip.gold for row in rows if row.clip.gold is not None}
        fitted = dawid_skene(label_table(rows), classes=(0, 1), known=gold)
        by_clip: dict[int, list[LabelRow]] = defaultdict(list)
        clips: dict[int, Clip] = {}
        for row in rows:
            if row.clip.gold is not None or (model is not None and row.clip.model != model):
                continue
            by_clip[row.clip.id].append(row)
            clips[row.clip.id] = row.clip
        records = []
        for clip_id in sorted(by_clip, key=lambda i: clips[i].position):
            clip = clips[clip_id]
            votes = [
                Vote(
                    annotator=row.annotator,
                    value=float(row.label.value),  # type: ignore[arg-type]
                    seconds=None if row.label.seconds is None else round(row.label.seconds, 3),
                    created_at=iso(row.label.created_at),
                )
                for row in by_clip[clip_id]
            ]
            records.append(
                LabelRecord.from_votes(
                    votes,
                    sample_id=clip.sample_id,
                    prompt_id=clip.prompt_id,
                    text=clip.text,
                    events=list(clip.events or []),
                    task=clip.task,
                    index=clip.clip_index,
                    path=exported_audio_path(clip, out_dir),
                    dawid_skene=round(fitted.posteriors[clip_id][1], 6),
                    source="baton-annotate",
                )
            )
        return records

    def import_labels(
        self, records: Sequence[LabelRecord], *, source: str, base: str | Path, model: str | None = None
    ) -> ImportCounts:
        """Add the votes of label records as labels (annotators without a login are created as needed).

        A clip is matched by sample id (and ``model``); an unknown clip is added, its audio path read
        relative to ``base`` (the labels file's folder). A vote already stored is counted as a
        duplicate; a different vote by the same person on the same clip is a conflict and is left out.
        """
        counts = ImportCounts()
        now = self.clock()
        root = Path(base).resolve()

        def work(session: Session) -> ImportCounts:
            people = {a.name: a for a in session.execute(select(Annotator)).scalars()}
            position = session.execute(select(func.max(Clip.position))).scalar() or 0
            for record in records:
                query = select(Clip).where(Clip.sample_id == record.sample_id)
                if model is not None:
                    query = query.where(Clip.model == model)
                found = list(session.execute(query).scalars())
                if len(found) > 1:
                    raise InputError(
                        f"clip '{record.sample_id}' is in the database for several models "
                        f"({', '.join(c.model for c in found)}); choose one with --model",
                        field="model",
                    )
                if found:
                    clip = self._lock_clip(session, found[0].id)
                else:
                    position += 1
                    clip_root, clip_path = imported_audio(record.path, root)
                    clip = Clip(
                        uid=new_uid(),
                        model=model or "imported",
                        sample_id=record.sample_id,
                        prompt_id=record.prompt_id,
                        text=record.text,
                        events=list(record.events),
                        task=record.task,
                        clip_index=record.index,
                        root=clip_root,
                        path=clip_path,
                        backend="unknown",
                        settings={},
                        position=position,
                        votes=0,
                        source=source,
                        created_at=now,
                    )
                    session.add(clip)
                    session.flush()
                    counts.new_clips += 1
                stored = {
                    label.annotator_id: label
                    for label in session.execute(select(Label).where(Label.clip_id == clip.id)).scalars()
                }
                for vote in record.votes:
                    if vote.value not in (0.0, 1.0):
                        raise InputError(
                            f"clip '{record.sample_id}' has a vote of {vote.value} by '{vote.annotator}'; "
                            "the app stores yes/no votes (1 or 0) only",
                            path=source,
                            field="votes",
                        )
                    person = people.get(vote.annotator)
                    if person is None:
                        person = Annotator(name=check_name(vote.annotator), is_admin=False, created_at=now)
                        session.add(person)
                        session.flush()
                        people[person.name] = person
                        counts.new_annotators += 1
                    old = stored.get(person.id)
                    if old is not None:
                        if old.value == int(vote.value) and not old.skipped:
                            counts.duplicates += 1
                        else:
                            counts.conflicts.append(
                                f"{record.sample_id}: '{vote.annotator}' voted {old.value} here "
                                f"and {int(vote.value)} in the file"
                            )
                        continue
                    label = Label(
                        clip_id=clip.id,
                        annotator_id=person.id,
                        value=int(vote.value),
                        skipped=False,
                        seconds=vote.seconds,
                        source=source,
                        created_at=_parse_time(vote.created_at) or now,
                    )
                    session.add(label)
                    clip.votes += 1
                    stored[person.id] = label
                    counts.votes += 1
            return counts

        try:
            return self._write(work, attempts=1)
        finally:
            with self._cache_lock:
                self._siblings.clear()


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def label_table(rows: Iterable[LabelRow], task: str | None = None) -> dict[int, dict[str, int]]:
    """Votes as ``{clip id: {annotator: 0 or 1}}`` (skips left out), for the agreement statistics."""
    table: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        if row.label.skipped or (task is not None and row.clip.task != task):
            continue
        table[row.clip.id][row.annotator] = int(row.label.value)  # type: ignore[arg-type]
    return dict(table)
