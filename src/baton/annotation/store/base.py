"""The store's ground, shared by every part of it: its errors, ids and times, and :class:`StoreCore`
(the database, the campaign's numbers, the caches, the write transaction and the claim of a first open row).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from baton.annotation.db import Database
from baton.annotation.models import Clip
from baton.errors import InputError

if TYPE_CHECKING:
    from baton.annotation.store.annotators import AnnotatorView

T = TypeVar("T")

MAX_SECONDS = 24 * 3600.0


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status the app answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    status = 404


class Conflict(StoreError):
    status = 409


class Forbidden(StoreError):
    status = 403


def new_uid() -> str:
    return secrets.token_hex(8)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Busy:
    """Every open clip is held by another transaction right now (see ``AnnotationStore._claim``)."""


BUSY = Busy()


class StoreCore:
    """The app's operations over one :class:`~baton.annotation.db.Database`: what every part of
    :class:`~baton.annotation.store.AnnotationStore` stands on."""

    def __init__(
        self,
        db: Database,
        *,
        labels_per_clip: int = 3,
        raters_per_item: int = 5,
        lease_seconds: float = 900.0,
        max_labels_per_annotator: int | None = None,
        gold_every: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if labels_per_clip < 1:
            raise InputError("must be at least 1", field="labels_per_clip")
        if raters_per_item < 1:
            raise InputError("must be at least 1", field="raters_per_item")
        if lease_seconds <= 0:
            raise InputError("must be positive", field="lease_seconds")
        if gold_every is not None and gold_every < 2:
            raise InputError(
                "must be at least 2 (every answer a gold one would leave no work)", field="gold_every"
            )
        self.db = db
        self.k = labels_per_clip
        self.raters = raters_per_item
        self.lease = timedelta(seconds=lease_seconds)
        self.quota = max_labels_per_annotator
        self.gold_every = gold_every
        self.clock = clock
        # Active selection: the tasks ("labels", "pairs") whose items are given out only once a round
        # has chosen them (baton.annotation.rounds).
        self.in_rounds: set[str] = set()
        # Caches of facts that change rarely, each cleared by this store's own changes to them. A
        # token reset by another process takes effect here within
        # annotators.AUTH_CACHE_SECONDS.
        self._siblings: dict[tuple[str, str], list[int]] = {}
        self._auth: dict[str, tuple[AnnotatorView, float]] = {}
        self._cache_lock = threading.Lock()

    # -- transactions ------------------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T], attempts: int = 5) -> T:
        """Run ``work`` in a write transaction; on PostgreSQL retry a deadlock or a lost insert race."""
        for attempt in range(attempts):
            try:
                return self.db.transaction(work)
            except (IntegrityError, DBAPIError) as exc:
                if self.db.is_sqlite or attempt == attempts - 1 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _lock_clip(self, session: Session, clip_id: int) -> Clip:
        """The clip's row, locked for this transaction (PostgreSQL) and read fresh."""
        query = select(Clip).where(Clip.id == clip_id).with_for_update()
        return session.execute(query.execution_options(populate_existing=True)).scalar_one()

    def claim_first(
        self,
        session: Session,
        entity: Any,
        conditions: list[Any],
        taken: Callable[[Any], int],
        limit: int,
        *,
        wait: bool = True,
        order: Any = None,
    ) -> Any:
        """The first row of ``entity`` (listening-test items, pairs) in ``order`` (default: its
        ``position``, the load order) that meets ``conditions``, locked and still open once locked
        (``taken(row) < limit``); ``None`` when there is none.

        As for clips: rows other transactions hold are skipped (PostgreSQL ``SKIP LOCKED``); when every
        open row is held, the first one is waited for and checked again, or without ``wait``
        :data:`BUSY` is returned.
        """
        tried: list[int] = []
        for _ in range(100):
            query = select(entity).where(*conditions, entity.id.not_in(tried))
            query = query.order_by(entity.position if order is None else order).limit(1)
            row = session.execute(query.with_for_update(skip_locked=True)).scalar_one_or_none()
            if row is None:
                if self.db.is_sqlite:
                    return None
                row_id = session.execute(query.with_only_columns(entity.id)).scalar_one_or_none()
                if row_id is None:
                    return None
                if not wait:
                    return BUSY
                row = lock_row(session, entity, row_id)
            if self.db.is_sqlite or taken(row) < limit:
                return row
            tried.append(row.id)
        return None


def lock_row(session: Session, entity: Any, row_id: int) -> Any:
    """A row of ``entity`` by id, locked for this transaction (PostgreSQL) and read fresh."""
    query = select(entity).where(entity.id == row_id).with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one()


def _retryable(exc: Exception) -> bool:
    """A PostgreSQL deadlock, serialization failure or unique violation (two requests raced)."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001", "23505")
