"""The labelling hot path's statements, built once: building SQLAlchemy expressions anew for every
request cost more than the database work itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, insert, select, update

from baton.annotation.models import (
    Clip,
    Label,
    LabelAssignment,
)


@dataclass(frozen=True)
class Claim:
    skip_locked: Any  # the first open clip, locked, skipping clips other transactions hold
    peek: Any  # the first open clip's id, without locking (to wait for it when all are held)


class _Sql:
    """Core statements with bind parameters: ``now``, ``annotator``, ``k``, ``clip``, ``uid``, ..."""

    def __init__(self) -> None:
        clips, labels, leases = Clip.__table__, Label.__table__, LabelAssignment.__table__
        columns = [
            clips.c.id, clips.c.uid, clips.c.sample_id, clips.c.model, clips.c.prompt_id, clips.c.text,
            clips.c.events, clips.c.task, clips.c.relation, clips.c.clip_index, clips.c.duration, clips.c.votes,
            clips.c.gold,
        ]  # fmt: skip
        now, annotator, k = bindparam("now"), bindparam("annotator"), bindparam("k")

        def live_leases(clip: Any) -> Any:
            """Other people's unexpired leases of a clip."""
            return (
                select(func.count(leases.c.id))
                .where(
                    leases.c.clip_id == clip, leases.c.expires_at > now, leases.c.annotator_id != annotator
                )
                .scalar_subquery()
            )

        self.clip_by_id = select(*columns).where(clips.c.id == bindparam("clip"))
        self.lock_clip_by_id = self.clip_by_id.with_for_update()
        self.lock_clip_by_uid = select(*columns).where(clips.c.uid == bindparam("uid")).with_for_update()
        self.others_live = select(live_leases(bindparam("clip")))
        self.my_label = select(labels.c.id, labels.c.value, labels.c.skipped).where(
            labels.c.clip_id == bindparam("clip"), labels.c.annotator_id == annotator
        )
        self.my_last_label = (
            select(labels.c.id, labels.c.clip_id, labels.c.skipped)
            .where(labels.c.annotator_id == annotator, labels.c.source == "app")
            .order_by(labels.c.id.desc())
            .limit(1)
        )
        self.my_lease = select(leases.c.id, leases.c.created_at, leases.c.expires_at).where(
            leases.c.clip_id == bindparam("clip"), leases.c.annotator_id == annotator
        )
        self.held = (
            select(leases.c.id, leases.c.clip_id, leases.c.expires_at)
            .where(leases.c.annotator_id == annotator)
            .order_by(leases.c.id.desc())  # newest first (a lease's created_at may be set back: _lease)
        )
        self.renew = (
            update(leases).where(leases.c.id == bindparam("lease")).values(expires_at=bindparam("expires"))
        )
        self.drop_lease = delete(leases).where(leases.c.id == bindparam("lease"))
        self.add_lease = insert(leases)
        self.add_label = insert(labels).returning(labels.c.id)
        self.drop_label = delete(labels).where(labels.c.id == bindparam("label"))
        self.add_votes = (
            update(clips)
            .where(clips.c.id == bindparam("clip"))
            .values(votes=clips.c.votes + bindparam("delta"))
        )
        self.last_prompt = (
            select(clips.c.prompt_id, clips.c.model)
            .join(labels, labels.c.clip_id == clips.c.id)
            .where(labels.c.annotator_id == annotator, clips.c.gold.is_(None))
            .order_by(labels.c.id.desc())
            .limit(1)
        )
        self.siblings = (
            select(clips.c.id)
            .where(clips.c.model == bindparam("model"), clips.c.prompt_id == bindparam("prompt"))
            .order_by(clips.c.clip_index, clips.c.position)
        )
        self.mine = select(func.count(labels.c.id)).where(labels.c.annotator_id == annotator)
        # The campaign: clips with audio here (imported clips without it are never given out), not gold.
        capped = case((clips.c.votes > k, k), else_=clips.c.votes)
        self.campaign = select(func.coalesce(func.sum(capped), 0), func.count(clips.c.id)).where(
            clips.c.root.is_not(None), clips.c.gold.is_(None)
        )

        answered = exists().where(labels.c.clip_id == clips.c.id, labels.c.annotator_id == annotator)
        self.open_gold = (
            select(*columns)
            .where(clips.c.gold.is_not(None), clips.c.root.is_not(None), ~answered)
            .order_by(clips.c.position)
            .limit(1)
        )
        open_to_them = and_(
            clips.c.root.is_not(None),
            clips.c.gold.is_(None),
            clips.c.votes < k,
            clips.c.votes + live_leases(clips.c.id) < k,
            ~answered,
            clips.c.id.not_in(bindparam("tried", expanding=True)),
        )

        def claim(*scope: Any) -> Claim:
            # Clips are served in load order. With active selection (baton.annotation.rounds) only the
            # clips a round has chosen are open (the ``*_in_round`` scopes): the rule picks which, and
            # within them the load order keeps each prompt's clips in a row.
            first = select(*columns).where(*scope, open_to_them).order_by(clips.c.position).limit(1)
            peek = select(clips.c.id).where(*scope, open_to_them).order_by(clips.c.position).limit(1)
            return Claim(first.with_for_update(skip_locked=True, of=clips), peek)

        self.open_in_prompt = claim(
            clips.c.prompt_id == bindparam("prompt"), clips.c.model == bindparam("model")
        )
        self.open_anywhere = claim()
        chosen = clips.c.round.is_not(None)
        self.open_in_prompt_in_round = claim(
            clips.c.prompt_id == bindparam("prompt"), clips.c.model == bindparam("model"), chosen
        )
        self.open_anywhere_in_round = claim(chosen)


SQL = _Sql()
