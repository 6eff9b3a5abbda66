"""Listening tests, given out as clips are for labelling (:mod:`.labels`), but as *rating items* (one prompt's clip ``index`` across models,
rated by ``raters_per_item`` people); the clips of an item are shown in an order shuffled for each
rater, and the API names them only by random ids, so raters cannot tell which model made which.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from baton.annotation.models import (
    Annotator,
    Clip,
    Rating,
    RatingAssignment,
    RatingItem,
)
from baton.annotation.mos import QUESTIONS
from baton.annotation.store.annotators import AnnotatorView
from baton.annotation.store.base import MAX_SECONDS, Conflict, NotFound, StoreCore, StoreError, lock_row


@dataclass(frozen=True)
class ItemView:
    """A listening-test item: the text, and its clips in this rater's blind order (uids only)."""

    uid: str
    text: str
    clips: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "item": self.uid,
            "text": self.text,
            "clips": [
                {"clip": uid, "name": chr(ord("A") + i), "audio": f"/audio/{uid}"}
                for i, uid in enumerate(self.clips)
            ],
        }


class RatingStore(StoreCore):
    """Listening tests: the item to rate, a rater's scores, progress, every rating."""

    def _item_clips(self, session: Session, item: RatingItem) -> list[Clip]:
        return list(
            session.execute(
                select(Clip)
                .where(
                    Clip.prompt_id == item.prompt_id, Clip.clip_index == item.clip_index, Clip.gold.is_(None)
                )
                .order_by(Clip.model)
            ).scalars()
        )

    def _raters_taken(self, session: Session, item_id: int, annotator_id: int, now: datetime) -> int:
        done = session.execute(
            select(func.count(func.distinct(Rating.annotator_id))).where(Rating.item_id == item_id)
        ).scalar_one()
        leased = session.execute(
            select(func.count(RatingAssignment.id)).where(
                RatingAssignment.item_id == item_id,
                RatingAssignment.expires_at > now,
                RatingAssignment.annotator_id != annotator_id,
            )
        ).scalar_one()
        return done + leased

    def _lock_item(self, session: Session, item_id: int) -> RatingItem:
        return lock_row(session, RatingItem, item_id)

    def next_item(self, annotator: AnnotatorView) -> ItemView | None:
        """The listening-test item this rater should rate now, its clips in a blind shuffled order."""
        now = self.clock()

        def work(session: Session) -> ItemView | None:
            held = session.execute(
                select(RatingAssignment)
                .where(RatingAssignment.annotator_id == annotator.id)
                .order_by(RatingAssignment.created_at.desc())
            ).scalars()
            for lease in list(held):
                if lease.expires_at > now:
                    lease.expires_at = now + self.lease
                    item = session.get_one(RatingItem, lease.item_id)
                    return ItemView(item.uid, item.text, list(lease.order))
                item = self._lock_item(session, lease.item_id)
                if self._raters_taken(session, item.id, annotator.id, now) < self.raters:
                    lease.expires_at = now + self.lease
                    return ItemView(item.uid, item.text, list(lease.order))
                session.delete(lease)
            rated = exists().where(Rating.item_id == RatingItem.id, Rating.annotator_id == annotator.id)
            done = (
                select(func.count(func.distinct(Rating.annotator_id)))
                .where(Rating.item_id == RatingItem.id)
                .correlate(RatingItem)
                .scalar_subquery()
            )
            leased = (
                select(func.count(RatingAssignment.id))
                .where(
                    RatingAssignment.item_id == RatingItem.id,
                    RatingAssignment.expires_at > now,
                    RatingAssignment.annotator_id != annotator.id,
                )
                .correlate(RatingItem)
                .scalar_subquery()
            )
            item = self.claim_first(
                session,
                RatingItem,
                [~rated, done + leased < self.raters],
                lambda item: self._raters_taken(session, item.id, annotator.id, now),
                self.raters,
            )
            if item is None:
                return None
            order = [clip.uid for clip in self._item_clips(session, item)]
            random.SystemRandom().shuffle(order)
            session.add(
                RatingAssignment(
                    item_id=item.id,
                    annotator_id=annotator.id,
                    order=order,
                    created_at=now,
                    expires_at=now + self.lease,
                )
            )
            return ItemView(item.uid, item.text, order)

        return self._write(work)

    def submit_ratings(
        self,
        annotator: AnnotatorView,
        item_uid: str,
        scores: dict[str, dict[str, int]],
        seconds: float | None = None,
    ) -> bool:
        """Store a rater's scores for every clip of an item (``{clip uid: {question: 1-5}}``).

        Returns ``True`` when the same scores were already stored (a retried request).
        """
        now = self.clock()
        if seconds is not None and not 0 <= seconds <= MAX_SECONDS:
            raise StoreError("seconds must be between 0 and 86400")
        for uid, by_question in scores.items():
            if set(by_question) != set(QUESTIONS):
                raise StoreError(f"clip '{uid}' needs a score for each of: {', '.join(QUESTIONS)}")
            for question, score in by_question.items():
                if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
                    raise StoreError(f"clip '{uid}', {question}: a score is a whole number from 1 to 5")

        def work(session: Session) -> bool:
            item_id = session.execute(
                select(RatingItem.id).where(RatingItem.uid == item_uid)
            ).scalar_one_or_none()
            if item_id is None:
                raise NotFound(f"no listening-test item with id '{item_uid}'")
            self._lock_item(session, item_id)
            stored = session.execute(
                select(Clip.uid, Rating.question, Rating.score)
                .join(Clip, Clip.id == Rating.clip_id)
                .where(Rating.item_id == item_id, Rating.annotator_id == annotator.id)
            ).all()
            if stored:
                again: dict[str, dict[str, int]] = defaultdict(dict)
                for uid, question, score in stored:
                    again[uid][question] = score
                if dict(again) == scores:
                    return True
                raise Conflict("you already rated this item (in another tab or window?)")
            lease = session.execute(
                select(RatingAssignment).where(
                    RatingAssignment.item_id == item_id, RatingAssignment.annotator_id == annotator.id
                )
            ).scalar_one_or_none()
            if lease is None:
                raise Conflict(
                    "this item was not given to you (another tab or window may have moved on); "
                    "ask for your next item"
                )
            if set(scores) != set(lease.order) or len(scores) != len(lease.order):
                raise StoreError(f"rate exactly the clips of item '{item_uid}': {', '.join(lease.order)}")
            if (
                lease.expires_at <= now
                and self._raters_taken(session, item_id, annotator.id, now) >= self.raters
            ):
                session.delete(lease)
                raise Conflict("your hold on this item ran out and it has all its raters by now")
            clip_ids = dict(
                session.execute(select(Clip.uid, Clip.id).where(Clip.uid.in_(list(scores)))).all()
            )
            share = None if seconds is None else seconds / len(scores)
            for uid in lease.order:
                for question, score in scores[uid].items():
                    session.add(
                        Rating(
                            item_id=item_id,
                            clip_id=clip_ids[uid],
                            annotator_id=annotator.id,
                            question=question,
                            score=score,
                            seconds=share,
                            created_at=now,
                        )
                    )
            session.delete(lease)
            return False

        return self._write(work)

    def rating_progress(self, annotator: AnnotatorView) -> dict[str, int]:
        with self.db.read() as session:
            mine = session.execute(
                select(func.count(func.distinct(Rating.item_id))).where(Rating.annotator_id == annotator.id)
            ).scalar_one()
            items = session.execute(select(func.count(RatingItem.id))).scalar_one()
            per_item = (
                select(func.count(func.distinct(Rating.annotator_id)).label("n"))
                .group_by(Rating.item_id)
                .subquery()
            )
            capped = case((per_item.c.n > self.raters, self.raters), else_=per_item.c.n)
            done = session.execute(select(func.coalesce(func.sum(capped), 0))).scalar()
        return {"mine": mine, "ratings": int(done or 0), "needed": items * self.raters}

    def mos_rows(self) -> list[tuple[str, str, str | None, str, int, int]]:
        """Every rating as (model, question, task, rater, score, item), for :mod:`baton.annotation.mos`."""
        with self.db.read() as session:
            return [
                tuple(row)  # type: ignore[misc]
                for row in session.execute(
                    select(
                        Clip.model, Rating.question, Clip.task, Annotator.name, Rating.score, Rating.item_id
                    )
                    .join(Clip, Clip.id == Rating.clip_id)
                    .join(Annotator, Annotator.id == Rating.annotator_id)
                    .order_by(Rating.id)
                )
            ]
