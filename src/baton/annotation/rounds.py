"""Active selection in the labelling app (``serve --select uncertain``): labelling goes in rounds.

It works alike for the label task's clips and the A/B task's pairs (the round's *items*). A round
is ``round_size`` items chosen together; only items a round has chosen are given out (the store's
``in_rounds``), with every guarantee of their task (k answers from k people, leases, undo). When
every item of the current round has its k answers, the next round is chosen:

1. what people said so far (:class:`Known`: each clip's mean vote, and each pair's share of answers
   for its first clip) trains the reward model: an ensemble of small heads on the frozen encoders'
   cached embeddings (:func:`baton.reward.select.fit_ensemble`; about a second), the labels by their
   loss, decided pairs by Bradley-Terry;
2. the rule (:mod:`baton.reward.select`) scores the items not chosen yet and takes the next round,
   ``random_share`` of it at random. A clip is scored by the probability that it matches its prompt,
   a pair by the probability that its first clip is the better (each head: the sigmoid of the
   difference of the two clips' scores), read by the same rule;
3. the chosen items get the round's number (``clips.round``, ``pairs.round``), in one transaction
   that first checks that no other process chose this round meanwhile.

The first round, and any round before there is something to learn from (labels holding both a 1 and
a 0; for pairs, also a pair more people preferred one way), is drawn at random. It all runs in the
request whose answer completed the round, after that answer is committed (no answer can be lost to
it); requests meanwhile are told to wait (``waiting``), and a second request that finds the round
complete does not start a second retrain. The round is kept in the database, so a restarted server
goes on with the same round, or chooses the next one if the last ended before it could.

An item that every annotator skipped never gets its k answers, and the round waits for it: with few
annotators, a larger team or ``--k`` fewer ends it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select, text, update

from baton.annotation.models import Clip, Label, Pair, Preference
from baton.annotation.store import AnnotationStore
from baton.errors import InputError

TASKS = ("labels", "pairs")  # the tasks that can go in rounds
NOUNS = {"labels": "clips", "pairs": "pairs"}
# PostgreSQL advisory lock keys (any fixed numbers of baton's own) under which each task's round is written.
ROUND_LOCKS = {"labels": 72_610_001, "pairs": 72_610_002}


@dataclass
class Known:
    """What people have said so far, as the reward model learns from it."""

    labels: dict[int, float]  # campaign clip id -> its mean vote (skips are not votes)
    # The A/B task's: answered pair id -> the share of its answers for its first clip (a tie counts half),
    preferences: dict[int, float] = field(default_factory=dict)
    # and every campaign pair's clips: pair id -> (first clip id, second clip id).
    ends: dict[int, tuple[int, int]] = field(default_factory=dict)


# (what is known, candidate item ids, how many, round number) -> the chosen ids
Chooser = Callable[[Known, list[int], int, int], list[int]]


@dataclass
class RoundSettings:
    rule: str = "bald"  # baton.reward.select.DEFAULT_RULE (not imported: it would import torch)
    round_size: int = 50
    random_share: float = 0.25
    budget: int = 0  # items to choose in all (0: every item)
    seed: int = 0
    encoder: str = "world"
    cache: Path | None = None


@dataclass
class RoundStatus:
    round: int | None  # the current round (None: none chosen yet)
    chosen: int  # items of the current round
    complete: int  # of them, those with their k answers
    left: int  # items no round has chosen yet
    chosen_in_all: int  # items every round so far has chosen
    finished: bool  # no round will follow the current one
    retrains: int = 0  # rounds this server chose with the reward model
    last_retrain_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Rounds:
    """The rounds of one task (``labels`` or ``pairs``) of one campaign over one store (one per task
    and server process)."""

    store: AnnotationStore
    settings: RoundSettings
    task: str = "labels"
    chooser: Chooser | None = None  # default: the reward model's rule (RewardChooser)
    retrains: int = 0
    last_retrain_seconds: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"must be one of {', '.join(TASKS)}, got '{self.task}'", field="task")
        if self.settings.round_size < 1:
            raise InputError("must be at least 1", field="round_size")
        if self.settings.budget < 0:
            raise InputError("must be 0 (every item) or more", field="budget")
        if self.chooser is None:
            self.chooser = RewardChooser(self.store, self.settings, self.task)
        self.store.in_rounds.add(self.task)

    @property
    def table(self) -> Any:
        """The items' table: ``Clip`` or ``Pair`` (each has ``round``, ``votes``, ``position``)."""
        return Pair if self.task == "pairs" else Clip

    def _campaign(self) -> tuple[Any, ...]:
        """The conditions of an item of the campaign: no gold, and for clips, audio here."""
        if self.task == "pairs":
            return (Pair.gold.is_(None),)  # pairs are formed of clips with audio here only
        return (Clip.gold.is_(None), Clip.root.is_not(None))

    # -- the state, read from the database ------------------------------------------------------

    def status(self) -> RoundStatus:
        item, campaign = self.table, self._campaign()
        with self.store.db.read() as session:
            current = session.execute(select(func.max(item.round))).scalar_one()
            chosen = complete = 0
            if current is not None:
                in_round = (item.round == current, *campaign)
                chosen = session.execute(select(func.count(item.id)).where(*in_round)).scalar_one()
                complete = session.execute(
                    select(func.count(item.id)).where(*in_round, item.votes >= self.store.k)
                ).scalar_one()
            left = session.execute(
                select(func.count(item.id)).where(item.round.is_(None), *campaign)
            ).scalar_one()
            in_all = session.execute(
                select(func.count(item.id)).where(item.round.is_not(None), *campaign)
            ).scalar_one()
        finished = left == 0 or 0 < self.settings.budget <= in_all
        return RoundStatus(
            current, chosen, complete, left, in_all, finished, self.retrains, self.last_retrain_seconds
        )

    def summary(self) -> dict[str, Any]:
        """The status with the task and its settings, for the dashboard and ``/api/admin/stats``."""
        settings = self.settings
        return {
            "task": self.task,
            "noun": NOUNS[self.task],  # what its items are: clips or pairs
            "rule": settings.rule,
            "round_size": settings.round_size,
            "random_share": settings.random_share,
            "budget": settings.budget,
            **self.status().as_json(),
        }

    def waiting(self) -> bool:
        """Whether more items will come (a person with nothing to do now should ask again)."""
        status = self.status()
        return status.complete < status.chosen or not status.finished

    def labels(self) -> dict[int, float]:
        """Each campaign clip's mean vote (skips are not votes); imported votes of clips without audio
        here are left out (the encoders cannot hear them)."""
        with self.store.db.read() as session:
            rows = session.execute(
                select(Label.clip_id, func.avg(Label.value))
                .join(Clip, Clip.id == Label.clip_id)
                .where(
                    Label.skipped.is_(False),
                    Label.value.is_not(None),
                    Clip.gold.is_(None),
                    Clip.root.is_not(None),
                )
                .group_by(Label.clip_id)
            ).all()
        return {clip_id: float(mean) for clip_id, mean in rows}

    def known(self) -> Known:
        """The labels so far, and for pairs, the pairs' answers so far and every pair's clips."""
        known = Known(self.labels())
        if self.task != "pairs":
            return known
        for_first = case((Preference.choice == "first", 1.0), (Preference.choice == "second", 0.0), else_=0.5)
        with self.store.db.read() as session:
            answered = session.execute(
                select(Preference.pair_id, func.avg(for_first))
                .join(Pair, Pair.id == Preference.pair_id)
                .where(Pair.gold.is_(None))
                .group_by(Preference.pair_id)
            ).all()
            ends = session.execute(select(Pair.id, Pair.first_id, Pair.second_id).where(Pair.gold.is_(None)))
            known.ends = {pair_id: (first, second) for pair_id, first, second in ends}
        known.preferences = {pair_id: float(share) for pair_id, share in answered}
        return known

    def candidates(self) -> list[int]:
        item = self.table
        with self.store.db.read() as session:
            return list(
                session.execute(
                    select(item.id).where(item.round.is_(None), *self._campaign()).order_by(item.position)
                ).scalars()
            )

    # -- moving on ------------------------------------------------------------------------------

    def advance(self) -> bool:
        """Choose the next round if the current one is complete (or none exists); ``True`` when a
        round was chosen. Returns at once when another request of this server is choosing."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            status = self.status()
            if status.complete < status.chosen or status.finished:
                return False
            number = 0 if status.round is None else status.round + 1
            started = time.perf_counter()
            # The candidates before what is known: a pair another server forms meanwhile is then in
            # known.ends, or not a candidate.
            candidates = self.candidates()
            known = self.known()
            size = min(self.settings.round_size, status.left)
            if self.settings.budget:
                size = min(size, self.settings.budget - status.chosen_in_all)
            chosen = self.chooser(known, candidates, size, number)  # type: ignore[misc]
            if known.labels or known.preferences:
                self.retrains += 1
                self.last_retrain_seconds = round(time.perf_counter() - started, 3)
            return self._write_round(number, chosen)
        finally:
            self._lock.release()

    def _write_round(self, number: int, chosen: Sequence[int]) -> bool:
        item = self.table

        def work(session: Any) -> bool:
            # Another process may have chosen this round meanwhile: then its choice stands. On
            # PostgreSQL a lock held to the commit makes the check and the write one step (SQLite
            # runs one write transaction at a time).
            if not self.store.db.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUND_LOCKS[self.task]})
            current = session.execute(select(func.max(item.round))).scalar_one()
            if (current is None and number != 0) or (current is not None and current >= number):
                return False
            session.execute(
                update(item).where(item.id.in_(list(chosen)), item.round.is_(None)).values(round=number)
            )
            return True

        return self.store._write(work)


class ClipFeatures:
    """The frozen encoders and each campaign clip's pooled features, computed once (through the
    reward feature cache) and kept; one per server, shared by the tasks' choosers."""

    def __init__(self, store: AnnotationStore, settings: RoundSettings) -> None:
        self.store = store
        self.settings = settings
        self._features: dict[int, tuple[Any, Any]] = {}  # clip id -> (pooled audio [Da], text [Dt])
        self._encoder: Any = None

    def encoder(self) -> Any:
        """The frozen encoders (loaded on first use; ``serve`` loads them at start, so that a wrong
        ``--select-encoder`` is said before anyone labels)."""
        if self._encoder is None:
            # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
            from baton.reward.encoders import load_encoder

            self._encoder = load_encoder(self.settings.encoder)
        return self._encoder

    def __call__(self, clip_ids: Sequence[int]) -> Any:
        """The pooled encoder features of these clips, as one :class:`FeatureBatch` (rows in order)."""
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        import torch

        from baton.reward.heads import FeatureBatch

        missing = list(dict.fromkeys(i for i in clip_ids if i not in self._features))
        if missing:
            # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
            from baton.cache import cache_dir
            from baton.reward.cache import FeatureCache, audio_features, text_features

            encoder = self.encoder()
            cache = FeatureCache(cache_dir(self.settings.cache), encoder.identity["fingerprint"])
            with self.store.db.read() as session:
                clips = {c.id: c for c in session.execute(select(Clip).where(Clip.id.in_(missing))).scalars()}
            audio = audio_features(encoder, [Path(clips[i].root) / clips[i].path for i in missing], cache)
            text = text_features(encoder, [clips[i].text for i in missing], cache)
            for i, a, t in zip(missing, audio, text, strict=True):
                self._features[i] = (a.pooled, t.pooled)
        return FeatureBatch(
            torch.stack([self._features[i][0] for i in clip_ids]),
            torch.stack([self._features[i][1] for i in clip_ids]),
        )


class RewardChooser:
    """The reward model's rule (:mod:`baton.reward.select`) over the campaign's clips or pairs.

    Every round fits the ensemble anew on the clips' kept features. Before there is something to
    learn from (labels holding both a 1 and a 0, or for pairs a decided pair), items are drawn at
    random."""

    def __init__(
        self,
        store: AnnotationStore,
        settings: RoundSettings,
        task: str = "labels",
        features: ClipFeatures | None = None,
    ) -> None:
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        from baton.reward.select import SelectSettings

        self.task = task
        self.features = features or ClipFeatures(store, settings)
        self.select = SelectSettings(
            rule=settings.rule, random_share=settings.random_share, seed=settings.seed
        )

    def __call__(self, known: Known, candidates: list[int], size: int, number: int) -> list[int]:
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        from baton.reward.select import choose, hash_seed

        labels = known.labels
        both = any(v > 0.5 for v in labels.values()) and any(v < 0.5 for v in labels.values())
        decided = {pair: share for pair, share in known.preferences.items() if share != 0.5}
        learnable = both or (self.task == "pairs" and bool(decided))
        if self.select.rule == "random" or not learnable or not candidates:
            return choose(candidates, None, size, 1.0, hash_seed(self.select.seed, "round", number))
        if self.task == "pairs":
            return self._choose_pairs(known, decided, candidates, size, number)
        return self._choose_clips(labels, candidates, size, number)

    def _choose_clips(
        self, labels: dict[int, float], candidates: list[int], size: int, number: int
    ) -> list[int]:
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        import torch

        from baton.reward.select import fit_ensemble, select_batch

        labelled = sorted(labels)
        features = self.features(labelled + candidates)
        targets = torch.tensor([labels[i] for i in labelled] + [float("nan")] * len(candidates))
        heads = fit_ensemble(features, targets, list(range(len(labelled))), self.select, round_number=number)
        rows = list(range(len(labelled), len(labelled) + len(candidates)))
        picked = select_batch(heads, features, rows, size, self.select, round_number=number)
        return [candidates[row - len(labelled)] for row in picked]

    def _choose_pairs(
        self, known: Known, decided: dict[int, float], candidates: list[int], size: int, number: int
    ) -> list[int]:
        """Rows: the labelled clips (their mean votes), then each clip of a decided or candidate pair
        once more (no target: a labelled clip is not counted twice by the labels' loss)."""
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        import torch

        from baton.reward.select import fit_ensemble, select_pair_batch

        labelled = sorted(known.labels)
        in_pairs = list(dict.fromkeys(c for pair in [*decided, *candidates] for c in known.ends[pair]))
        row = {clip: len(labelled) + n for n, clip in enumerate(in_pairs)}
        features = self.features(labelled + in_pairs)
        targets = torch.tensor([known.labels[i] for i in labelled] + [float("nan")] * len(in_pairs))
        # People's decided pairs as (preferred, other) rows, weighted by how clear the verdict was,
        # as `baton reward train --pairs` weighs them.
        won = [
            (row[first], row[second]) if share > 0.5 else (row[second], row[first])
            for pair, share in decided.items()
            for first, second in [known.ends[pair]]
        ]
        human_pairs = torch.tensor(won, dtype=torch.long).reshape(-1, 2)
        human_weights = torch.tensor([2.0 * abs(share - 0.5) for share in decided.values()])
        heads = fit_ensemble(
            features,
            targets,
            list(range(len(labelled))),
            self.select,
            round_number=number,
            human_pairs=human_pairs,
            human_weights=human_weights,
        )
        asked = torch.tensor([[row[c] for c in known.ends[pair]] for pair in candidates], dtype=torch.long)
        picked = select_pair_batch(heads, features, asked, size, self.select, round_number=number)
        return [candidates[i] for i in picked]
