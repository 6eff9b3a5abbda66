"""Everything the app does to its database: clips, annotators and tokens, assignment, labels, ratings.

Assignment (the heart of it):

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

Listening tests work the same way with *rating items* (one prompt's clip ``index`` across models,
rated by ``raters_per_item`` people); the clips of an item are shown in an order shuffled for each
rater, and the API names them only by random ids, so raters cannot tell which model made which.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import threading
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from baton.annotation.db import Database
from baton.annotation.models import (
    Annotator,
    Clip,
    Label,
    LabelAssignment,
    Rating,
    RatingAssignment,
    RatingItem,
    ServerSetting,
)
from baton.artifacts import LabelRecord, SampleRecord, Vote, parse_record, store_path
from baton.errors import InputError

T = TypeVar("T")

FLAGS: dict[str, str] = {
    "unsure": "I cannot tell",
    "bad-audio": "The audio is broken, silent or cut",
    "bad-prompt": "The prompt makes no sense",
    "other": "Something else (say what in the comment)",
}
MAX_COMMENT = 2000
MAX_SECONDS = 24 * 3600.0
AUTH_CACHE_SECONDS = 5.0
ADMIN_NAME = "admin"
GOLD_MODEL = "gold"  # the model name of gold clips loaded without one
# The settings that define a campaign's work, kept in ``server_settings`` by the first ``serve``, and
# the ``serve`` flag of each (for messages).
CAMPAIGN_FLAGS: dict[str, str] = {
    "labels_per_clip": "--k",
    "raters_per_item": "--raters-per-item",
    "tasks": "--collect",
    "pairs_per_prompt": "--pairs-per-prompt",
    "pairs_seed": "--pairs-seed",
    "select": "--select",
    "round_size": "--round-size",
    "random_share": "--random-share",
    "budget": "--budget",
}
CAMPAIGN_KEYS = tuple(CAMPAIGN_FLAGS)


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


# --- tokens --------------------------------------------------------------------------------------


def new_token() -> str:
    """A random secret of 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Only this SHA-256 is stored; a stolen database holds no usable login."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_uid() -> str:
    return secrets.token_hex(8)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError("an annotator's name is 1 to 200 printable characters", field="name")
    return name


# --- views handed to the pages and the API ---------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorView:
    id: int
    name: str
    is_admin: bool


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


class Busy:
    """Every open clip is held by another transaction right now (see ``AnnotationStore._claim``)."""


BUSY = Busy()


@dataclass(frozen=True)
class Answered:
    label: int
    repeated: bool  # the same answer was already stored (a retried request)
    next: ClipView | None
    progress: Progress


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


@dataclass
class ImportCounts:
    votes: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    new_clips: int = 0
    new_annotators: int = 0


def _put_setting(session: Session, key: str, value: str, now: datetime) -> None:
    """Store one of serve's settings (``server_settings``), new or replacing the one there."""
    row = session.get(ServerSetting, key, with_for_update=True)
    if row is None:
        session.add(ServerSetting(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


# --- the store -----------------------------------------------------------------------------------


class AnnotationStore:
    """The app's operations over one :class:`~baton.annotation.db.Database`."""

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
        # Active selection: only clips a round has chosen are given out (baton.annotation.rounds).
        self.in_rounds = False
        # Caches of facts that change rarely, each cleared by this store's own changes to them. A
        # token reset by another process takes effect here within AUTH_CACHE_SECONDS.
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

    # -- clips ------------------------------------------------------------------------------------

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

    # -- what serve remembers ----------------------------------------------------------------------

    def remember_url(self, url: str) -> None:
        """Keep the address the server is reached at, for links made by the other commands."""
        now = self.clock()

        self._write(lambda session: _put_setting(session, "url", url, now))

    def server_url(self) -> str | None:
        """The address the last ``serve`` of this database was reached at, if one ran."""
        with self.db.read() as session:
            setting = session.get(ServerSetting, "url")
            return None if setting is None else setting.value

    def campaign_settings(self) -> dict[str, str]:
        """The settings that define the campaign's work, as the first ``serve`` stored them."""
        with self.db.read() as session:
            rows = session.execute(select(ServerSetting).where(ServerSetting.key.in_(CAMPAIGN_KEYS)))
            return {row.key: row.value for row in rows.scalars()}

    def fix_campaign(
        self, given: dict[str, str | None], defaults: dict[str, str], *, change: bool = False
    ) -> dict[str, str]:
        """The campaign's settings (``CAMPAIGN_KEYS``, as text): stored on the first start, kept after.

        ``given`` holds the values asked for this time (``None``: not given): a setting not stored
        yet takes the given value or its default; a stored one stays unless ``change`` is set, and a
        different given value is refused, so that a restart cannot quietly change what the campaign
        asks of its annotators. The store then works with the settings returned.
        """
        now = self.clock()

        def work(session: Session) -> dict[str, str]:
            settings = {}
            for key in CAMPAIGN_KEYS:
                row = session.get(ServerSetting, key, with_for_update=True)
                wanted = given.get(key)
                if row is None or (change and wanted is not None and wanted != row.value):
                    settings[key] = wanted if wanted is not None else defaults[key]
                    _put_setting(session, key, settings[key], now)
                elif wanted is None or wanted == row.value:
                    settings[key] = row.value
                else:
                    flag = CAMPAIGN_FLAGS[key]
                    raise InputError(
                        f"the campaign in this database was set up with {flag} {row.value}, and {flag} "
                        f"{wanted} was given now: leave {flag} out (or give {row.value}) to go on as it "
                        "is, or add --change-settings to change the campaign",
                        path=self.db.describe(),
                        field=key,
                    )
            return settings

        settings = self._write(work)
        self.k = int(settings["labels_per_clip"])
        self.raters = int(settings["raters_per_item"])
        return settings

    # -- annotators and tokens ----------------------------------------------------------------------

    def add_annotator(
        self, name: str, *, admin: bool = False, reset: bool = False
    ) -> tuple[AnnotatorView, str]:
        """A new annotator (or, with ``reset``, a new secret for one who exists); returns the secret."""
        name = check_name(name)
        token = new_token()
        now = self.clock()

        def work(session: Session) -> AnnotatorView:
            person = session.execute(select(Annotator).where(Annotator.name == name)).scalar_one_or_none()
            if person is None:
                person = Annotator(name=name, is_admin=admin, created_at=now)
                session.add(person)
            elif person.token_hash is not None and not reset:
                raise InputError(
                    f"annotator '{name}' already exists; --reset gives them a new link "
                    "(the old one stops working)",
                    field="name",
                )
            person.token_hash = hash_token(token)
            person.is_admin = person.is_admin or admin
            with self._cache_lock:
                self._auth.clear()
            session.flush()
            return AnnotatorView(person.id, person.name, person.is_admin)

        return self._write(work), token

    def revoke(self, name: str) -> None:
        """Make an annotator's login stop working (their answers stay)."""

        def work(session: Session) -> None:
            person = session.execute(select(Annotator).where(Annotator.name == name)).scalar_one_or_none()
            if person is None:
                raise InputError(f"no annotator called '{name}'", field="name")
            person.token_hash = None

        self._write(work)
        with self._cache_lock:
            self._auth.clear()

    def ensure_admin(self) -> str | None:
        """Create the ``admin`` account when no admin exists; returns its secret then, else ``None``."""
        with self.db.read() as session:
            has_admin = session.execute(
                select(exists().where(Annotator.is_admin.is_(True), Annotator.token_hash.is_not(None)))
            ).scalar()
        if has_admin:
            return None
        name = ADMIN_NAME
        with self.db.read() as session:
            taken = set(session.execute(select(Annotator.name)).scalars())
        while name in taken:
            name = f"{ADMIN_NAME}-{secrets.token_hex(2)}"
        return self.add_annotator(name, admin=True)[1]

    def cached_annotator(self, token: str) -> AnnotatorView | None:
        """The annotator of a token seen in the last few seconds, without touching the database."""
        cached = self._auth.get(hash_token(token))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def authenticate(self, token: str | None) -> AnnotatorView | None:
        """The annotator a token belongs to, or ``None`` (looked up by the token's hash)."""
        if not token or len(token) > 200:
            return None
        cached = self.cached_annotator(token)
        if cached is not None:
            return cached
        digest = hash_token(token)
        with self.db.read() as session:
            person = session.execute(
                select(Annotator).where(Annotator.token_hash == digest)
            ).scalar_one_or_none()
        if person is None:
            return None
        view = AnnotatorView(person.id, person.name, person.is_admin)
        with self._cache_lock:
            self._auth[digest] = (view, time.monotonic() + AUTH_CACHE_SECONDS)
        return view

    def annotators(self) -> list[AnnotatorView]:
        with self.db.read() as session:
            people = session.execute(select(Annotator).order_by(Annotator.id)).scalars()
            return [AnnotatorView(p.id, p.name, p.is_admin) for p in people]

    # -- labelling --------------------------------------------------------------------------------
    #
    # The hot path (an answer, the next clip, progress) runs prebuilt Core statements (see ``_Sql``
    # at the end of this module) in one transaction: building SQLAlchemy expressions anew for every
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
            if self.in_rounds
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
        statements: _Claim,
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

    # -- listening tests ----------------------------------------------------------------------------

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
        from baton.annotation.mos import QUESTIONS

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

    # -- reading everything back ----------------------------------------------------------------------

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

    def all_clips(self) -> list[Clip]:
        with self.db.read() as session:
            return list(session.execute(select(Clip).order_by(Clip.position)).scalars())

    def models(self) -> list[str]:
        with self.db.read() as session:
            return list(session.execute(select(Clip.model).distinct().order_by(Clip.model)).scalars())

    def label_records(
        self, out_dir: str | Path | None, model: str | None = None, *, drop_early: bool = False
    ) -> list[LabelRecord]:
        """One :class:`LabelRecord` per clip with at least one vote, in load order; audio paths are
        written relative to ``out_dir`` (the folder of the labels file), or absolute without one.

        Gold clips are left out. Each record's ``dawid_skene`` is the clip's probability of matching
        from Dawid-Skene fitted to every vote in the database (gold clips as known items), beside the
        majority ``label``. ``drop_early``: leave out votes given before the clip could be heard.
        """
        from baton.annotation.aggregate import dawid_skene

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
                    clip_root, clip_path = _imported_audio(record.path, root)
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


@dataclass(frozen=True)
class LabelRow:
    label: Label
    clip: Clip
    annotator: str


# --- helpers -------------------------------------------------------------------------------------


def lock_row(session: Session, entity: Any, row_id: int) -> Any:
    """A row of ``entity`` by id, locked for this transaction (PostgreSQL) and read fresh."""
    query = select(entity).where(entity.id == row_id).with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one()


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


def heard_too_soon(elapsed: float, duration: float | None) -> bool | None:
    """Whether an answer ``elapsed`` seconds after a clip of ``duration`` seconds was given came before
    it could have been heard to the end (``None`` when the duration is unknown)."""
    return None if duration is None else elapsed < duration


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


def _imported_audio(path: str | None, base: Path) -> tuple[str | None, str | None]:
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


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _retryable(exc: Exception) -> bool:
    """A PostgreSQL deadlock, serialization failure or unique violation (two requests raced)."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001", "23505")


def label_table(rows: Iterable[LabelRow], task: str | None = None) -> dict[int, dict[str, int]]:
    """Votes as ``{clip id: {annotator: 0 or 1}}`` (skips left out), for the agreement statistics."""
    table: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        if row.label.skipped or (task is not None and row.clip.task != task):
            continue
        table[row.clip.id][row.annotator] = int(row.label.value)  # type: ignore[arg-type]
    return dict(table)


# --- the labelling hot path's statements, built once ------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    skip_locked: Any  # the first open clip, locked, skipping clips other transactions hold
    peek: Any  # the first open clip's id, without locking (to wait for it when all are held)


class _Sql:
    """Core statements with bind parameters: ``now``, ``annotator``, ``k``, ``clip``, ``uid``, ..."""

    def __init__(self) -> None:
        from sqlalchemy import bindparam, delete, insert, update

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

        def claim(*scope: Any) -> _Claim:
            # Clips are served in load order. With active selection (baton.annotation.rounds) only the
            # clips a round has chosen are open (the ``*_in_round`` scopes): the rule picks which, and
            # within them the load order keeps each prompt's clips in a row.
            first = select(*columns).where(*scope, open_to_them).order_by(clips.c.position).limit(1)
            peek = select(clips.c.id).where(*scope, open_to_them).order_by(clips.c.position).limit(1)
            return _Claim(first.with_for_update(skip_locked=True, of=clips), peek)

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
