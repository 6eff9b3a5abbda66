"""The A/B task: two clips of one prompt, played one after the other; which fits the prompt better?

Which pairs are asked (:meth:`PairQueue.form`, run by ``serve`` when it offers the task): the clips
of one model and one prompt are paired among themselves, every pair of them by default, or
``per_prompt`` pairs chosen by :func:`choose_pairs` so that each clip is in about as many pairs as
any other. The choice is drawn from the seed, the model and the prompt id alone, so a restart (or
another machine) forms the same pairs. Pairs are added, never taken away: clips loaded later add
their pairs. Gold clips of one prompt (see :mod:`baton.annotation.store`) are paired when their
known answers differ, which makes the better one the pair's known answer.

Assignment gives the label task's guarantees (:mod:`baton.annotation.store`): every pair gets
``k`` answers from ``k`` different people, leased so that no more than ``k`` work on it at once, never
shown twice to one person (a unique constraint on (pair, annotator)), the rest of a prompt's pairs in
a row, answers durable before the reply, the same row locks (``FOR UPDATE``, ``SKIP LOCKED``) and
undo. The answer says which clip *as played*: ``1`` the one played first, ``2`` the second, ``3``
neither (both wrong, or equally good). Each rater hears a pair's clips in an order of their own
(half the raters the other way round, fixed per pair and rater), and the store keeps the answer in
the pair's own terms (``first``, ``second``, ``tie``), so the order cannot favour a clip.

Which pairs may be served is one query (:meth:`PairQueue._open_pairs`) and their order another
(:meth:`PairQueue.serving_order`, load order). With active selection (:mod:`baton.annotation.rounds`)
only the pairs a round has chosen are open; within them the load order keeps each prompt's pairs in a
row.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session, aliased

from baton.annotation.models import Annotator, Clip, Pair, PairAssignment, Preference
from baton.annotation.store import AnnotationStore
from baton.annotation.store.annotators import AnnotatorView
from baton.annotation.store.base import (
    BUSY,
    MAX_SECONDS,
    Busy,
    Conflict,
    NotFound,
    StoreError,
    iso,
    lock_row,
    new_uid,
)
from baton.annotation.store.clips import exported_audio_path
from baton.annotation.store.labels import Progress, heard_too_soon, view_fields
from baton.artifacts import PairRecord
from baton.errors import InputError

K = TypeVar("K")
# What each key means, and the choice it is stored as when the pair is played in its own order.
KEYS = {1: "first", 2: "second", 3: "tie"}
CHOICE_HELP = (
    "choice must be 1 (the clip played first is better), 2 (the second) or 3 (neither: both wrong, or equal)"
)


def choose_pairs(members: Sequence[K], per_prompt: int | None, seed: str) -> list[tuple[K, K]]:
    """The pairs of one prompt's clips to ask about, in the order to serve them.

    Every pair (``per_prompt`` None, or at least their number) in an order shuffled by ``seed``; else
    ``per_prompt`` of them, picked one at a time as the pair whose clips are in the fewest pairs so
    far (the busier clip first, then both together; the shuffled order breaks ties). Each pair keeps
    its clips in the order of ``members``.
    """
    candidates = list(combinations(range(len(members)), 2))
    random.Random(seed).shuffle(candidates)
    if per_prompt is not None and per_prompt < len(candidates):
        uses = [0] * len(members)
        chosen = []
        for _ in range(per_prompt):
            best = min(candidates, key=lambda ab: (max(uses[ab[0]], uses[ab[1]]), uses[ab[0]] + uses[ab[1]]))
            candidates.remove(best)
            chosen.append(best)
            uses[best[0]] += 1
            uses[best[1]] += 1
        candidates = chosen
    return [(members[a], members[b]) for a, b in candidates]


def played_first_is_second(pair_id: int, annotator_id: int) -> bool:
    """Whether this rater hears the pair's second clip first: half the raters do, fixed per (pair, rater)."""
    return hashlib.sha256(f"{pair_id}:{annotator_id}".encode()).digest()[0] & 1 == 1


def stored_choice(key: int, swapped: bool) -> str:
    """The answer in the pair's terms for a key pressed on the clips as played."""
    if key not in KEYS:
        raise StoreError(CHOICE_HELP)
    choice = KEYS[key]
    if swapped and choice != "tie":
        choice = "second" if choice == "first" else "first"
    return choice


# --- views -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairView:
    """A pair as the page shows it: the prompt, the two clips in this rater's order, its place among the
    prompt's pairs (``number`` of ``of``)."""

    uid: str
    model: str
    prompt_id: str
    text: str
    events: list[str]
    task: str | None
    relation: str | None
    clips: list[dict[str, Any]]  # played order: {clip, sample_id, duration, audio}
    number: int
    of: int

    def as_json(self) -> dict[str, Any]:
        return view_fields(self, "pair")


@dataclass(frozen=True)
class PairAnswered:
    preference: int
    repeated: bool  # the same answer was already stored (a retried request)
    next: PairView | None
    progress: Progress


@dataclass(frozen=True)
class PreferenceRow:
    preference: Preference
    pair: Pair
    first: Clip
    second: Clip
    annotator: str


def preference_table(rows: Iterable[PreferenceRow], task: str | None = None) -> dict[int, dict[str, str]]:
    """Answers as ``{pair id: {annotator: first | second | tie}}``, for agreement and aggregation."""
    table: dict[int, dict[str, str]] = {}
    for row in rows:
        if task is None or row.first.task == task:
            table.setdefault(row.pair.id, {})[row.annotator] = row.preference.choice
    return table


# --- the queue ---------------------------------------------------------------------------------------


class PairQueue:
    """The A/B task over an :class:`AnnotationStore`'s database, with its k, leases, quota, gold rate
    and clock."""

    def __init__(self, store: AnnotationStore) -> None:
        self.store = store
        self.db = store.db

    # -- forming pairs ------------------------------------------------------------------------------

    def form(self, per_prompt: int | None = None, seed: int = 0) -> int:
        """Add the pairs of every prompt's clips (those with audio here); returns how many were new."""
        if per_prompt is not None and per_prompt < 1:
            raise InputError("must be at least 1 (or none for every pair)", field="pairs_per_prompt")
        now = self.store.clock()

        def work(session: Session) -> int:
            groups: dict[tuple[str, str], list[Clip]] = {}
            for clip in session.execute(
                select(Clip).where(Clip.root.is_not(None)).order_by(Clip.position)
            ).scalars():
                groups.setdefault((clip.model, clip.prompt_id), []).append(clip)
            existing = {tuple(row) for row in session.execute(select(Pair.first_id, Pair.second_id))}
            position = session.execute(select(func.max(Pair.position))).scalar() or 0
            added = 0
            for (model, prompt_id), members in groups.items():
                members.sort(key=lambda c: (c.clip_index if c.clip_index is not None else -1, c.position))
                ordinary = [c for c in members if c.gold is None]
                chosen = choose_pairs(ordinary, per_prompt, f"{seed}/{model}/{prompt_id}")
                gold = [c for c in members if c.gold is not None]
                chosen += [(a, b) for a, b in combinations(gold, 2) if a.gold != b.gold]
                for first, second in chosen:
                    if (first.id, second.id) in existing:
                        continue
                    position += 1
                    known = None
                    if first.gold is not None:
                        known = "first" if first.gold > second.gold else "second"  # type: ignore[operator]
                    session.add(
                        Pair(
                            uid=new_uid(),
                            model=model,
                            prompt_id=prompt_id,
                            first_id=first.id,
                            second_id=second.id,
                            position=position,
                            votes=0,
                            gold=known,
                            created_at=now,
                        )
                    )
                    added += 1
            return added

        return self.store._write(work)

    def count(self) -> int:
        with self.db.read() as session:
            return session.execute(select(func.count(Pair.id)).where(Pair.gold.is_(None))).scalar_one()

    # -- serving ------------------------------------------------------------------------------------

    def next(self, annotator: AnnotatorView) -> PairView | None:
        """The pair this rater should answer now (the one they hold, or a newly leased one)."""
        view = self.store._write(lambda session: self._next(session, annotator.id, self.store.clock()))
        assert not isinstance(view, Busy)  # it waits instead
        return view

    def _lock(self, session: Session, pair_id: int) -> Pair:
        return lock_row(session, Pair, pair_id)

    def _taken(self, session: Session, pair: Pair, annotator_id: int, now: datetime) -> int:
        """Answers plus other people's live leases of a pair (call with the pair locked)."""
        leased = session.execute(
            select(func.count(PairAssignment.id)).where(
                PairAssignment.pair_id == pair.id,
                PairAssignment.expires_at > now,
                PairAssignment.annotator_id != annotator_id,
            )
        ).scalar_one()
        return pair.votes + leased

    def serving_order(self) -> Any:
        """The order open pairs are given in: load order (each prompt's pairs in a row). A rule that
        picks the pairs to ask next (say, where the reward model is least sure) returns its own."""
        return Pair.position

    def _open_pairs(self, annotator_id: int, now: datetime) -> list[Any]:
        """The conditions of a pair this rater may be given: not gold, fewer than k answers and live
        leases of others, not answered by them."""
        answered = exists().where(Preference.pair_id == Pair.id, Preference.annotator_id == annotator_id)
        leased = (
            select(func.count(PairAssignment.id))
            .where(
                PairAssignment.pair_id == Pair.id,
                PairAssignment.expires_at > now,
                PairAssignment.annotator_id != annotator_id,
            )
            .correlate(Pair)
            .scalar_subquery()
        )
        k = self.store.k
        conditions = [Pair.gold.is_(None), Pair.votes < k, Pair.votes + leased < k, ~answered]
        if "pairs" in self.store.in_rounds:  # active selection: only the pairs a round has chosen
            conditions.append(Pair.round.is_not(None))
        return conditions

    def _next(
        self,
        session: Session,
        annotator_id: int,
        now: datetime,
        prompt: tuple[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> PairView | None | Busy:
        """As :meth:`AnnotationStore._next_clip`, for pairs."""
        store = self.store
        # 1. What they hold, newest first.
        held = session.execute(
            select(PairAssignment)
            .where(PairAssignment.annotator_id == annotator_id)
            .order_by(PairAssignment.id.desc())
        ).scalars()
        for lease in list(held):
            if lease.expires_at > now:
                lease.expires_at = now + store.lease
                return self._view(session, session.get_one(Pair, lease.pair_id), lease.swapped)
            pair = self._lock(session, lease.pair_id)
            if pair.gold is not None or self._taken(session, pair, annotator_id, now) < store.k:
                lease.expires_at = now + store.lease
                return self._view(session, pair, lease.swapped)
            session.delete(lease)  # the slot went to someone else meanwhile

        mine = session.execute(
            select(func.count(Preference.id)).where(Preference.annotator_id == annotator_id)
        ).scalar_one()
        if store.quota is not None and mine >= store.quota:
            return None

        # 2. Every gold_every-th answer: a gold pair they have not answered.
        if store.gold_every is not None and (mine + 1) % store.gold_every == 0:
            answered = exists().where(Preference.pair_id == Pair.id, Preference.annotator_id == annotator_id)
            gold = session.execute(
                select(Pair).where(Pair.gold.is_not(None), ~answered).order_by(Pair.position).limit(1)
            ).scalar_one_or_none()
            if gold is not None:
                return self._lease(session, gold, annotator_id, now)

        # 3. The rest of the prompt they were on, else the first open pair.
        if prompt is None:
            last = session.execute(
                select(Pair.model, Pair.prompt_id)
                .join(Preference, Preference.pair_id == Pair.id)
                .where(Preference.annotator_id == annotator_id, Pair.gold.is_(None))
                .order_by(Preference.id.desc())
                .limit(1)
            ).first()
            prompt = None if last is None else (last.model, last.prompt_id)
        conditions = self._open_pairs(annotator_id, now)
        scopes = [] if prompt is None else [([Pair.model == prompt[0], Pair.prompt_id == prompt[1]], False)]
        scopes.append(([], wait))
        for scope, may_wait in scopes:
            pair = store.claim_first(
                session,
                Pair,
                [*scope, *conditions],
                lambda pair: self._taken(session, pair, annotator_id, now),
                store.k,
                wait=may_wait,
                order=self.serving_order(),
            )
            if pair is BUSY and not scope:
                return BUSY
            if pair is not None and pair is not BUSY:
                return self._lease(session, pair, annotator_id, now)  # type: ignore[arg-type]
        return None

    def _lease(self, session: Session, pair: Pair, annotator_id: int, now: datetime) -> PairView:
        swapped = played_first_is_second(pair.id, annotator_id)
        session.add(
            PairAssignment(
                pair_id=pair.id,
                annotator_id=annotator_id,
                swapped=swapped,
                created_at=now,
                expires_at=now + self.store.lease,
            )
        )
        return self._view(session, pair, swapped)

    def _view(self, session: Session, pair: Pair, swapped: bool) -> PairView:
        first, second = session.get_one(Clip, pair.first_id), session.get_one(Clip, pair.second_id)
        siblings = list(
            session.execute(
                select(Pair.id)
                .where(Pair.model == pair.model, Pair.prompt_id == pair.prompt_id)
                .order_by(Pair.position)
            ).scalars()
        )
        played = [second, first] if swapped else [first, second]
        return PairView(
            uid=pair.uid,
            model=pair.model,
            prompt_id=pair.prompt_id,
            text=first.text,
            events=list(first.events or []),
            task=first.task,
            relation=first.relation,
            clips=[
                {"clip": c.uid, "sample_id": c.sample_id, "duration": c.duration, "audio": f"/audio/{c.uid}"}
                for c in played
            ],
            number=siblings.index(pair.id) + 1,
            of=len(siblings),
        )

    # -- answers ------------------------------------------------------------------------------------

    def answer(
        self,
        annotator: AnnotatorView,
        uid: str,
        key: int,
        seconds: float | None = None,
        *,
        then_next: bool = True,
    ) -> PairAnswered:
        """Record a rater's answer on a pair given to them (``key`` 1, 2 or 3, as played) and
        (``then_next``) lease the next pair. One transaction: durable when this returns; a repeat of
        an answer already stored changes nothing and says so."""
        if key not in KEYS:
            raise StoreError(CHOICE_HELP)
        if seconds is not None and not 0 <= seconds <= MAX_SECONDS:
            raise StoreError("seconds must be between 0 and 86400")

        def work(session: Session) -> PairAnswered:
            now = self.store.clock()
            pair_id = session.execute(select(Pair.id).where(Pair.uid == uid)).scalar_one_or_none()
            if pair_id is None:
                raise NotFound(f"no pair with id '{uid}'")
            pair = self._lock(session, pair_id)
            mine = (Preference.pair_id == pair.id, Preference.annotator_id == annotator.id)
            stored = session.execute(select(Preference).where(*mine)).scalar_one_or_none()
            if stored is not None:
                if stored_choice(key, stored.swapped) != stored.choice:
                    raise Conflict(
                        "you already answered this pair (in another tab or window?); undo that answer "
                        "first to change it"
                    )
                preference, repeated = stored, True  # a retried request: the answer is already stored
            else:
                preference, repeated = self._store(session, pair, annotator.id, key, seconds, now), False
            following = None
            if then_next:
                # Holding this pair's lock, never wait for another (two people would deadlock).
                following = self._next(session, annotator.id, now, (pair.model, pair.prompt_id), wait=False)
            return PairAnswered(preference.id, repeated, following, self._progress(session, annotator.id))  # type: ignore[arg-type]

        done = self.store._write(work)
        if done.next is BUSY:  # the answer is committed; now wait for a pair, holding nothing
            return replace(done, next=self.next(annotator))
        return done

    def _store(
        self, session: Session, pair: Pair, annotator_id: int, key: int, seconds: float | None, now: datetime
    ) -> Preference:
        """Store a new answer on a locked pair, in place of the rater's lease."""
        lease = session.execute(
            select(PairAssignment).where(
                PairAssignment.pair_id == pair.id, PairAssignment.annotator_id == annotator_id
            )
        ).scalar_one_or_none()
        if lease is None:
            raise Conflict(
                "this pair was not given to you (another tab or window may have moved on); ask for your next pair"
            )
        if (
            pair.gold is None
            and lease.expires_at <= now
            and self._taken(session, pair, annotator_id, now) >= self.store.k
        ):
            raise Conflict(
                f"your hold on this pair ran out and it has since got all its {self.store.k} answers; "
                "your answer was not needed"
            )
        elapsed = max(0.0, (now - lease.created_at).total_seconds())
        preference = Preference(
            pair_id=pair.id,
            annotator_id=annotator_id,
            choice=stored_choice(key, lease.swapped),
            swapped=lease.swapped,
            seconds=elapsed if seconds is None else seconds,
            early=heard_too_soon(elapsed, self._duration(session, pair)),
            source="app",
            created_at=now,
        )
        session.delete(lease)
        session.add(preference)
        pair.votes += 1
        session.flush()
        return preference

    def _duration(self, session: Session, pair: Pair) -> float | None:
        """How long the two clips take, played one after the other (``None`` if either is unknown)."""
        durations = [session.get_one(Clip, i).duration for i in (pair.first_id, pair.second_id)]
        return None if None in durations else sum(durations)  # type: ignore[arg-type]

    def undo(self, annotator: AnnotatorView, pair: str | None = None) -> tuple[PairView | None, Progress]:
        """Take back this rater's latest answer: the pair is theirs again, in the same order. With
        ``pair`` (the pair the page believes was answered last) a repeated request undoes no more."""

        def work(session: Session) -> tuple[PairView | None, Progress]:
            now = self.store.clock()
            last = session.execute(
                select(Preference)
                .where(Preference.annotator_id == annotator.id, Preference.source == "app")
                .order_by(Preference.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            target = None if last is None else self._lock(session, last.pair_id)
            if pair is not None and (target is None or target.uid != pair):
                return self._already_undone(session, annotator.id, pair), self._progress(
                    session, annotator.id
                )
            if last is None or target is None:
                return None, self._progress(session, annotator.id)
            swapped = last.swapped
            session.delete(last)
            target.votes -= 1
            session.flush()
            # They heard the clips before: an answer right away is not early.
            heard = self._duration(session, target) or 0.0
            session.add(
                PairAssignment(
                    pair_id=target.id,
                    annotator_id=annotator.id,
                    swapped=swapped,
                    created_at=now - timedelta(seconds=heard),
                    expires_at=now + self.store.lease,
                )
            )
            return self._view(session, target, swapped), self._progress(session, annotator.id)

        return self.store._write(work)

    def _already_undone(self, session: Session, annotator_id: int, uid: str) -> PairView:
        target = session.execute(select(Pair).where(Pair.uid == uid)).scalar_one_or_none()
        if target is None:
            raise NotFound(f"no pair with id '{uid}'")
        answered = session.execute(
            select(Preference.id).where(
                Preference.pair_id == target.id, Preference.annotator_id == annotator_id
            )
        ).first()
        lease = session.execute(
            select(PairAssignment).where(
                PairAssignment.pair_id == target.id, PairAssignment.annotator_id == annotator_id
            )
        ).scalar_one_or_none()
        if answered is None and lease is not None:
            return self._view(session, target, lease.swapped)
        raise Conflict(
            "your latest answer is for another pair (given in another tab or window?); nothing was undone"
        )

    def last_answered(self, annotator: AnnotatorView) -> str | None:
        """The pair id of this rater's latest answer given in the app (what undo would take back)."""
        with self.db.read() as session:
            return session.execute(
                select(Pair.uid)
                .join(Preference, Preference.pair_id == Pair.id)
                .where(Preference.annotator_id == annotator.id, Preference.source == "app")
                .order_by(Preference.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def progress(self, annotator: AnnotatorView) -> Progress:
        with self.db.read() as session:
            return self._progress(session, annotator.id)

    def _progress(self, session: Session, annotator_id: int) -> Progress:
        k = self.store.k
        mine = session.execute(
            select(func.count(Preference.id)).where(Preference.annotator_id == annotator_id)
        ).scalar_one()
        capped = case((Pair.votes > k, k), else_=Pair.votes)
        votes, pairs = session.execute(
            select(func.coalesce(func.sum(capped), 0), func.count(Pair.id)).where(Pair.gold.is_(None))
        ).one()
        return Progress(mine=mine, votes=int(votes), needed=pairs * k)

    # -- reading everything back --------------------------------------------------------------------

    def all_preferences(self) -> list[PreferenceRow]:
        """Every answer with its pair, both clips and the rater, in the order they were given."""
        first, second = aliased(Clip), aliased(Clip)
        with self.db.read() as session:
            rows = session.execute(
                select(Preference, Pair, first, second, Annotator.name)
                .join(Pair, Pair.id == Preference.pair_id)
                .join(first, first.id == Pair.first_id)
                .join(second, second.id == Pair.second_id)
                .join(Annotator, Annotator.id == Preference.annotator_id)
                .order_by(Preference.id)
            ).all()
        return [PreferenceRow(*row) for row in rows]

    def pair_records(
        self, out_dir: str | Path | None, model: str | None = None, *, drop_early: bool = False
    ) -> list[PairRecord]:
        """One :class:`PairRecord` per answered pair (gold pairs left out), in serving order; audio
        paths relative to ``out_dir`` (absolute without one). ``drop_early``: leave out answers given
        before both clips could be heard."""
        rows = [
            row
            for row in self.all_preferences()
            if row.pair.gold is None and not (drop_early and row.preference.early)
        ]
        if model is None:
            models = {row.pair.model for row in rows}
            if len(models) > 1:
                raise InputError(
                    f"the database holds answers on pairs of several models ({', '.join(sorted(models))}), "
                    "whose sample ids may clash; export one model at a time with --model",
                    field="model",
                )
        by_pair: dict[int, list[PreferenceRow]] = {}
        for row in rows:
            if model is None or row.pair.model == model:
                by_pair.setdefault(row.pair.id, []).append(row)
        records = []
        for members in sorted(by_pair.values(), key=lambda m: m[0].pair.position):
            head = members[0]
            records.append(
                PairRecord.from_votes(
                    (head.first.sample_id, exported_audio_path(head.first, out_dir)),
                    (head.second.sample_id, exported_audio_path(head.second, out_dir)),
                    [
                        (
                            row.annotator,
                            row.preference.choice,
                            None if row.preference.seconds is None else round(row.preference.seconds, 3),
                            iso(row.preference.created_at),
                        )
                        for row in members
                    ],
                    id=f"{head.first.sample_id}~{head.second.sample_id}",
                    prompt_id=head.pair.prompt_id,
                    text=head.first.text,
                    events=list(head.first.events or []),
                    task=head.first.task,
                    strategy="human",
                    source="baton-annotate",
                )
            )
        return records
