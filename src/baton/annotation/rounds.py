"""Active selection in the labelling app (``serve --select uncertain``): labelling goes in rounds.

A round is ``round_size`` clips chosen together; only clips a round has chosen are given out (the
store's ``in_rounds``), with every guarantee of the label task (k votes from k people, leases, undo).
When every clip of the current round has its k votes, the next round is chosen:

1. the labels so far (each clip's mean vote) train the reward model: an ensemble of small heads on
   the frozen encoders' cached embeddings (:func:`baton.reward.select.fit_ensemble`; about a second);
2. the rule (:mod:`baton.reward.select`) scores the clips not chosen yet and takes the next round,
   ``random_share`` of it at random;
3. the chosen clips get the round's number, in one transaction that first checks that no other
   process chose this round meanwhile.

The first round, and any round before the labels hold both a 1 and a 0, is drawn at random. It all
runs in the request whose answer completed the round, after that answer is committed (no label can be
lost to it); requests meanwhile are told to wait (``waiting``), and a second request that finds the
round complete does not start a second retrain. The round is kept in the database (``clips.round``),
so a restarted server goes on with the same round, or chooses the next one if the last ended
before it could.

A clip that every annotator skipped never gets its k votes, and the round waits for it: with few
annotators, a larger team or ``--k`` fewer ends it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from baton.annotation.models import Clip, Label
from baton.annotation.store import AnnotationStore
from baton.errors import InputError

# (labelled clips' ids and targets, candidate ids, how many, round number) -> the chosen ids
Chooser = Callable[[dict[int, float], list[int], int, int], list[int]]


@dataclass
class RoundSettings:
    rule: str = "bald"  # baton.reward.select.DEFAULT_RULE (not imported: it would import torch)
    round_size: int = 50
    random_share: float = 0.25
    budget: int = 0  # clips to choose in all (0: every clip)
    seed: int = 0
    encoder: str = "world"
    cache: Path | None = None


@dataclass
class RoundStatus:
    round: int | None  # the current round (None: none chosen yet)
    chosen: int  # clips of the current round
    complete: int  # of them, those with their k votes
    left: int  # clips no round has chosen yet
    chosen_in_all: int  # clips every round so far has chosen
    finished: bool  # no round will follow the current one
    retrains: int = 0  # rounds this server chose with the reward model
    last_retrain_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LabelRounds:
    """The rounds of one campaign over one store (one per server process)."""

    store: AnnotationStore
    settings: RoundSettings
    chooser: Chooser | None = None  # default: the reward model's rule (RewardChooser)
    retrains: int = 0
    last_retrain_seconds: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.settings.round_size < 1:
            raise InputError("must be at least 1", field="round_size")
        if self.settings.budget < 0:
            raise InputError("must be 0 (every clip) or more", field="budget")
        if self.chooser is None:
            self.chooser = RewardChooser(self.store, self.settings)
        self.store.in_rounds = True

    # -- the state, read from the database ------------------------------------------------------

    def status(self) -> RoundStatus:
        campaign = (Clip.gold.is_(None), Clip.root.is_not(None))
        with self.store.db.read() as session:
            current = session.execute(select(func.max(Clip.round))).scalar_one()
            chosen = complete = 0
            if current is not None:
                in_round = (Clip.round == current, *campaign)
                chosen = session.execute(select(func.count(Clip.id)).where(*in_round)).scalar_one()
                complete = session.execute(
                    select(func.count(Clip.id)).where(*in_round, Clip.votes >= self.store.k)
                ).scalar_one()
            left = session.execute(
                select(func.count(Clip.id)).where(Clip.round.is_(None), *campaign)
            ).scalar_one()
            in_all = session.execute(
                select(func.count(Clip.id)).where(Clip.round.is_not(None), *campaign)
            ).scalar_one()
        finished = left == 0 or 0 < self.settings.budget <= in_all
        return RoundStatus(
            current, chosen, complete, left, in_all, finished, self.retrains, self.last_retrain_seconds
        )

    def waiting(self) -> bool:
        """Whether more clips will come (a person with nothing to do now should ask again)."""
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

    def candidates(self) -> list[int]:
        with self.store.db.read() as session:
            return list(
                session.execute(
                    select(Clip.id)
                    .where(Clip.round.is_(None), Clip.gold.is_(None), Clip.root.is_not(None))
                    .order_by(Clip.position)
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
            labels = self.labels()
            size = min(self.settings.round_size, status.left)
            if self.settings.budget:
                size = min(size, self.settings.budget - status.chosen_in_all)
            chosen = self.chooser(labels, self.candidates(), size, number)  # type: ignore[misc]
            if labels:
                self.retrains += 1
                self.last_retrain_seconds = round(time.perf_counter() - started, 3)
            return self._write_round(number, chosen)
        finally:
            self._lock.release()

    def _write_round(self, number: int, chosen: Sequence[int]) -> bool:
        def work(session: Any) -> bool:
            # Another process may have chosen this round meanwhile: then its choice stands.
            current = session.execute(select(func.max(Clip.round))).scalar_one()
            if (current is None and number != 0) or (current is not None and current >= number):
                return False
            session.execute(
                update(Clip).where(Clip.id.in_(list(chosen)), Clip.round.is_(None)).values(round=number)
            )
            return True

        return self.store._write(work)


class RewardChooser:
    """The reward model's rule (:mod:`baton.reward.select`) over the campaign's clips.

    Each clip's encoder features are computed once (through the reward feature cache) and kept; every
    round then fits the ensemble on them anew. Before the labels hold both a 1 and a 0, clips are drawn
    at random."""

    def __init__(self, store: AnnotationStore, settings: RoundSettings) -> None:
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        from baton.reward.select import SelectSettings

        self.store = store
        self.settings = settings
        self.select = SelectSettings(
            rule=settings.rule, random_share=settings.random_share, seed=settings.seed
        )
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

    def features(self, clip_ids: Sequence[int]) -> Any:
        """The pooled encoder features of these clips, as one :class:`FeatureBatch`."""
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        import torch

        from baton.reward.heads import FeatureBatch

        missing = [i for i in clip_ids if i not in self._features]
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

    def __call__(self, labels: dict[int, float], candidates: list[int], size: int, number: int) -> list[int]:
        # Start-up: torch and the reward model load only when labelling runs in rounds of active selection.
        import torch

        from baton.reward.select import choose, fit_ensemble, hash_seed, select_batch

        both = any(v > 0.5 for v in labels.values()) and any(v < 0.5 for v in labels.values())
        if self.select.rule == "random" or not both:
            return choose(candidates, None, size, 1.0, hash_seed(self.select.seed, "round", number))
        labelled = sorted(labels)
        features = self.features(labelled + candidates)
        targets = torch.tensor([labels[i] for i in labelled] + [float("nan")] * len(candidates))
        heads = fit_ensemble(features, targets, list(range(len(labelled))), self.select, round_number=number)
        rows = list(range(len(labelled), len(labelled) + len(candidates)))
        picked = select_batch(heads, features, rows, size, self.select, round_number=number)
        return [candidates[row - len(labelled)] for row in picked]
