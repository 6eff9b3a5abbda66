"""Labelling clips. Assignment (the heart of it):

* every clip should get ``labels_per_clip`` (k) votes from k different people; a skip is an answer
  (the clip is never shown to that person again) but not a vote, so the clip then needs someone else;
* a clip given to someone is *leased* to them for ``lease_seconds``: while the lease lives the clip
  counts as taken, so no more than k people ever work on a clip at once. A lease that runs out frees
  the slot; its holder may still answer while nobody else has taken the slot;
* a returning annotator first gets back what they hold (they continue where they left off), then
  the rest of the prompt they were on (clips of one prompt come in a row, as BATON's annotators
  heard them), then the first clip in load order that still needs votes, so clips fill up in order
  and complete k-vote clips accumulate from the first minute;
* a label is accepted only from someone the clip was given to; the unique (clip, annotator)
  constraint makes a second label of the same clip by the same person impossible even if every
  other check failed.

Race-freedom: the counts that decide (votes + live leases of a clip) are taken after the clip's row
is locked: ``SELECT ... FOR UPDATE`` on PostgreSQL (candidates with ``SKIP LOCKED``, so 50 people
asking at once each get a different free clip without waiting), the database-wide write lock on
SQLite (``BEGIN IMMEDIATE``). Every transaction that changes a clip's leases or labels holds that
lock first, and waits for a lock only while holding no other clip's lock, so there is no deadlock.

Gold clips (``load_samples(..., gold=True)``: clips whose answer the organiser knows) are not part
of the k-vote campaign: any number of people may answer one, and with ``gold_every`` = N an
annotator's N-th, 2N-th, ... answer is asked on a gold clip they have not answered yet, so that each
person's accuracy can be measured. An answer is flagged ``early`` when it comes sooner after the
clip was given than the clip lasts: it cannot have been heard to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from baton.annotation.models import Label
from baton.annotation.store.annotators import AnnotatorView
from baton.annotation.store.base import BUSY, MAX_SECONDS, Busy, Conflict, NotFound, StoreCore, StoreError
from baton.annotation.store.statements import SQL, Claim

FLAGS: dict[str, str] = {
    "unsure": "I cannot tell",
    "bad-audio": "The audio is broken, silent or cut",
    "bad-prompt": "The prompt makes no sense",
    "other": "Something else (say what in the comment)",
}
MAX_COMMENT = 2000


def view_fields(view: Any, uid_key: str) -> dict[str, Any]:
    """A page view's fields as its JSON has them: ``uid`` under ``uid_key`` ("clip", "pair"), then the rest
    in their order."""
    return {uid_key: view.uid, **{f.name: getattr(view, f.name) for f in fields(view) if f.name != "uid"}}


@dataclass(frozen=True)
class ClipView:
    """A clip as the labelling page shows it (``number`` of ``of`` clips of its prompt)."""

    uid: str
    sample_id: str
    model: str
    prompt_id: str
    text: str
    events: list[str]
    task: str | None
    relation: str | None
    index: int | None
    duration: float | None
    number: int
    of: int

    def as_json(self) -> dict[str, Any]:
        return {
            **view_fields(self, "clip"),
            "audio": f"/audio/{self.uid}",
            "peaks": f"/api/clips/{self.uid}/peaks",
        }


@dataclass(frozen=True)
class Answer:
    """An annotator's answer: a vote (``value`` 1 or 0) or a skip, with an optional flag and comment."""

    value: int | None
    skipped: bool = False
    flag: str | None = None
    comment: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.skipped and self.value is not None:
            raise StoreError("a skip carries no value; send either a value (1 or 0) or skip")
        if not self.skipped and self.value not in (0, 1):
            raise StoreError("value must be 1 (matches the prompt) or 0 (does not), or skip the clip")
        if self.flag is not None and self.flag not in FLAGS:
            raise StoreError(f"flag must be one of: {', '.join(FLAGS)}")
        if self.comment is not None and len(self.comment) > MAX_COMMENT:
            raise StoreError(f"a comment is at most {MAX_COMMENT} characters")
        if self.seconds is not None and not 0 <= self.seconds <= MAX_SECONDS:
            raise StoreError("seconds must be between 0 and 86400")

    def same_as(self, label: Label) -> bool:
        return (label.value, label.skipped) == (self.value, self.skipped)


@dataclass(frozen=True)
class Progress:
    mine: int  # this annotator's answers (votes and skips)
    votes: int  # votes over all clips, each clip counted up to k
    needed: int  # clips x k

    def as_json(self) -> dict[str, Any]:
        return {"mine": self.mine, "votes": self.votes, "needed": self.needed}


@dataclass(frozen=True)
class Answered:
    label: int
    repeated: bool  # the same answer was already stored (a retried request)
    next: ClipView | None
    progress: Progress


class LabelStore(StoreCore):
    """Labelling: the clip to give, an answer, undo, progress."""

    # -- labelling --------------------------------------------------------------------------------
    #
    # The hot path (an answer, the next clip, progress) runs prebuilt Core statements (see
    # :mod:`baton.annotation.store.statements`) in one transaction: building SQLAlchemy expressions anew for every
    # request cost more than the database work itself.

    def next_clip(self, annotator: AnnotatorView) -> ClipView | None:
        """The clip this annotator should label now (the one they hold, or a newly leased one)."""
        clip = self._write(lambda session: self._next_clip(session.connection(), annotator.id, self.clock()))
        assert not isinstance(clip, Busy)  # it waits instead
        return clip

    def _params(self, annotator_id: int, now: datetime, **more: Any) -> dict[str, Any]:
        return {"annotator": annotator_id, "now": now, "k": self.k, **more}

    def _taken(self, conn: Any, clip: Any, annotator_id: int, now: datetime) -> int:
        """Votes plus other people's live leases of a clip (call with the clip locked and read fresh)."""
        return (
            clip.votes
            + conn.execute(SQL.others_live, self._params(annotator_id, now, clip=clip.id)).scalar_one()
        )

    def _next_clip(
        self,
        conn: Any,
        annotator_id: int,
        now: datetime,
        prompt: tuple[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> ClipView | None | Busy:
        """The clip to give (see the module's docstring). Without ``wait``, :data:`BUSY` when every open
        clip is held by another transaction right now (never returned on SQLite)."""
        params = self._params(annotator_id, now)
        # 1. What they hold, newest first (an undone clip comes back before the one it interrupted).
        for lease in conn.execute(SQL.held, params).all():
            if lease.expires_at > now:  # still counted as taken: nobody else can have had the slot
                conn.execute(SQL.renew, {"lease": lease.id, "expires": now + self.lease})
                return self._clip_view(conn, conn.execute(SQL.clip_by_id, {"clip": lease.clip_id}).one())
            clip = conn.execute(SQL.lock_clip_by_id, {"clip": lease.clip_id}).one()
            if clip.gold is not None or self._taken(conn, clip, annotator_id, now) < self.k:
                conn.execute(SQL.renew, {"lease": lease.id, "expires": now + self.lease})
                return self._clip_view(conn, clip)
            conn.execute(SQL.drop_lease, {"lease": lease.id})  # the slot went to someone else meanwhile

        mine = None
        if self.quota is not None or self.gold_every is not None:
            mine = conn.execute(SQL.mine, params).scalar_one()
        if self.quota is not None and mine >= self.quota:
            return None

        # 2. Every gold_every-th answer: a gold clip they have not answered (no limit of k on those).
        if self.gold_every is not None and (mine + 1) % self.gold_every == 0:
            clip = conn.execute(SQL.open_gold, params).first()
            if clip is not None:
                self._lease(conn, clip.id, annotator_id, now)
                return self._clip_view(conn, clip)

        # 3. A new clip: the rest of the prompt they were on, else the first open clip in load order.
        if prompt is None:
            last = conn.execute(SQL.last_prompt, params).first()
            prompt = None if last is None else (last.prompt_id, last.model)
        # (A preferred clip that someone else holds right now is passed over, never waited for.)
        in_prompt, anywhere = (
            (SQL.open_in_prompt_in_round, SQL.open_anywhere_in_round)
            if "labels" in self.in_rounds
            else (SQL.open_in_prompt, SQL.open_anywhere)
        )
        scopes = [] if prompt is None else [(in_prompt, {"prompt": prompt[0], "model": prompt[1]}, False)]
        scopes.append((anywhere, {}, wait))
        for statements, extra, may_wait in scopes:
            clip = self._claim(conn, statements, {**params, **extra}, annotator_id, now, wait=may_wait)
            if clip is BUSY and statements is anywhere:
                return BUSY
            if clip is not None and clip is not BUSY:
                self._lease(conn, clip.id, annotator_id, now)
                return self._clip_view(conn, clip)
        return None

    def _lease(
        self, conn: Any, clip_id: int, annotator_id: int, now: datetime, *, heard: float = 0.0
    ) -> None:
        """Give a clip to an annotator until ``now`` + the lease. ``heard``: seconds of it they have
        heard already (a clip given back by undo), so that an answer right away is not early."""
        conn.execute(
            SQL.add_lease,
            {
                "clip_id": clip_id,
                "annotator_id": annotator_id,
                "created_at": now - timedelta(seconds=heard),
                "expires_at": now + self.lease,
            },
        )

    def _claim(
        self,
        conn: Any,
        statements: Claim,
        params: dict[str, Any],
        annotator_id: int,
        now: datetime,
        *,
        wait: bool,
    ) -> Any:
        """The first open clip of a scope, locked, still open once locked; ``None`` when there is none.

        Clips that other transactions hold are skipped first (``SKIP LOCKED``): with 50 people asking at
        once each gets a different free clip without waiting. When every open clip is held, it waits for
        the first one (the transaction holding it may well leave it open), or without ``wait`` returns
        :data:`BUSY`. (On SQLite the single writer makes the first answer final.)
        """
        tried: list[int] = []
        for _ in range(100):
            args = {**params, "tried": tried}
            clip = conn.execute(statements.skip_locked, args).first()
            if clip is None:
                if self.db.is_sqlite:
                    return None
                clip_id = conn.execute(statements.peek, args).scalar_one_or_none()
                if clip_id is None:
                    return None
                if not wait:
                    return BUSY
                clip = conn.execute(SQL.lock_clip_by_id, {"clip": clip_id}).one()
            if self.db.is_sqlite or self._taken(conn, clip, annotator_id, now) < self.k:
                return clip
            tried.append(clip.id)  # taken after all, by whoever held it before us
        return None

    def _clip_view(self, conn: Any, clip: Any) -> ClipView:
        key = (clip.model, clip.prompt_id)
        ids = self._siblings.get(key)
        if ids is None or clip.id not in ids:
            ids = list(conn.execute(SQL.siblings, {"model": clip.model, "prompt": clip.prompt_id}).scalars())
            with self._cache_lock:
                self._siblings[key] = ids
        return ClipView(
            uid=clip.uid,
            sample_id=clip.sample_id,
            model=clip.model,
            prompt_id=clip.prompt_id,
            text=clip.text,
            events=list(clip.events or []),
            task=clip.task,
            relation=clip.relation,
            index=clip.clip_index,
            duration=clip.duration,
            number=ids.index(clip.id) + 1,
            of=len(ids),
        )

    def answer(
        self, annotator: AnnotatorView, uid: str, answer: Answer, *, then_next: bool = True
    ) -> Answered:
        """Record an answer for a clip given to this annotator and (``then_next``) lease the next one.

        One transaction: when this returns, the answer is durably stored. A repeat of an answer already
        stored (a retried request) changes nothing and says so.
        """

        def work(session: Session) -> Answered:
            conn = session.connection()
            now = self.clock()
            label_id, repeated, clip = self._store_answer(conn, annotator.id, uid, answer, now)
            following = None
            if then_next:
                # Holding the answered clip's lock, never wait for another clip: two people waiting
                # for each other's clip would deadlock.
                prompt = (clip.prompt_id, clip.model)
                following = self._next_clip(conn, annotator.id, now, prompt=prompt, wait=False)
            return Answered(label_id, repeated, following, self._progress(conn, annotator.id))

        done = self._write(work)
        if done.next is BUSY:  # the answer is committed; now wait for a clip, holding nothing
            return Answered(done.label, done.repeated, self.next_clip(annotator), done.progress)
        return done

    def submit_label(self, annotator: AnnotatorView, uid: str, answer: Answer) -> tuple[int, bool]:
        """Record an answer; returns (label id, was it a repeat)."""
        done = self.answer(annotator, uid, answer, then_next=False)
        return done.label, done.repeated

    def _store_answer(
        self, conn: Any, annotator_id: int, uid: str, answer: Answer, now: datetime
    ) -> tuple[int, bool, Any]:
        clip = conn.execute(SQL.lock_clip_by_uid, {"uid": uid}).first()
        if clip is None:
            raise NotFound(f"no clip with id '{uid}'")
        mine = {"clip": clip.id, "annotator": annotator_id}
        done = conn.execute(SQL.my_label, mine).first()
        if done is not None:
            if (done.value, bool(done.skipped)) == (answer.value, answer.skipped):
                return done.id, True, clip  # a retried request: the answer is already stored
            raise Conflict(
                "you already answered this clip (in another tab or window?); undo that answer first to change it"
            )
        lease = conn.execute(SQL.my_lease, mine).first()
        if lease is None:
            raise Conflict(
                "this clip was not given to you (another tab or window may have moved on); ask for your next clip"
            )
        if (
            clip.gold is None
            and lease.expires_at <= now
            and self._taken(conn, clip, annotator_id, now) >= self.k
        ):
            raise Conflict(
                f"your hold on this clip ran out and it has since got all its {self.k} labels; "
                "your answer was not needed"
            )
        elapsed = max(0.0, (now - lease.created_at).total_seconds())
        seconds = elapsed if answer.seconds is None else answer.seconds
        conn.execute(SQL.drop_lease, {"lease": lease.id})
        label_id = conn.execute(
            SQL.add_label,
            {
                "clip_id": clip.id,
                "annotator_id": annotator_id,
                "value": answer.value,
                "skipped": answer.skipped,
                "flag": answer.flag,
                "comment": (answer.comment or "").strip() or None,
                "seconds": seconds,
                "source": "app",
                "early": heard_too_soon(elapsed, clip.duration),
                "created_at": now,
            },
        ).scalar_one()
        if not answer.skipped:
            conn.execute(SQL.add_votes, {"clip": clip.id, "delta": 1})
        return label_id, False, clip

    def undo(self, annotator: AnnotatorView, clip: str | None = None) -> ClipView | None:
        """Take back this annotator's latest answer: the clip is theirs again. ``None``: nothing to undo."""
        return self.undo_with_progress(annotator, clip)[0]

    def undo_with_progress(
        self, annotator: AnnotatorView, clip: str | None = None
    ) -> tuple[ClipView | None, Progress]:
        """:meth:`undo`, with the progress after it.

        With ``clip`` (the clip the page believes was answered last) a repeated request is harmless: if
        that answer is already undone and the clip is back with the annotator, it is returned again
        and nothing more is undone; if the latest answer is for another clip, nothing is undone.
        """

        def work(session: Session) -> tuple[ClipView | None, Progress]:
            conn = session.connection()
            now = self.clock()
            last = conn.execute(SQL.my_last_label, {"annotator": annotator.id}).first()
            target = None if last is None else conn.execute(SQL.lock_clip_by_id, {"clip": last.clip_id}).one()
            if clip is not None and (target is None or target.uid != clip):
                return self._already_undone(conn, annotator.id, clip), self._progress(conn, annotator.id)
            if last is None or target is None:
                return None, self._progress(conn, annotator.id)
            conn.execute(SQL.drop_label, {"label": last.id})
            if not last.skipped:
                conn.execute(SQL.add_votes, {"clip": target.id, "delta": -1})
            self._lease(conn, target.id, annotator.id, now, heard=target.duration or 0.0)
            return self._clip_view(conn, target), self._progress(conn, annotator.id)

        return self._write(work)

    def _already_undone(self, conn: Any, annotator_id: int, uid: str) -> ClipView:
        """The clip of a repeated undo, if its answer is gone and the clip is back with the annotator."""
        target = conn.execute(SQL.lock_clip_by_uid, {"uid": uid}).first()
        if target is None:
            raise NotFound(f"no clip with id '{uid}'")
        mine = {"clip": target.id, "annotator": annotator_id}
        if conn.execute(SQL.my_label, mine).first() is None and conn.execute(SQL.my_lease, mine).first():
            return self._clip_view(conn, target)
        raise Conflict(
            "your latest answer is for another clip (given in another tab or window?); nothing was undone"
        )

    def last_answered(self, annotator: AnnotatorView) -> str | None:
        """The clip id of this annotator's latest answer given in the app (what undo would take back)."""
        with self.db.read() as session:
            conn = session.connection()
            last = conn.execute(SQL.my_last_label, {"annotator": annotator.id}).first()
            if last is None:
                return None
            return conn.execute(SQL.clip_by_id, {"clip": last.clip_id}).one().uid

    def progress(self, annotator: AnnotatorView) -> Progress:
        with self.db.read() as session:
            return self._progress(session.connection(), annotator.id)

    def _progress(self, conn: Any, annotator_id: int) -> Progress:
        mine = conn.execute(SQL.mine, {"annotator": annotator_id}).scalar_one()
        votes, clips = conn.execute(SQL.campaign, {"k": self.k}).one()
        return Progress(mine=mine, votes=int(votes), needed=clips * self.k)


def heard_too_soon(elapsed: float, duration: float | None) -> bool | None:
    """Whether an answer ``elapsed`` seconds after a clip of ``duration`` seconds was given came before
    it could have been heard to the end (``None`` when the duration is unknown)."""
    return None if duration is None else elapsed < duration
