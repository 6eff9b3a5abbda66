"""The database behind the app: one object owns the engine, the migrations and how writes run.

URLs: ``sqlite:///path.db`` (the default; one file, zero set-up) or ``postgresql://user@host/db``
(any of ``postgres://``, ``postgresql://`` or ``postgresql+psycopg://``; the driver is psycopg 3).

Durability: a write transaction's COMMIT returns only once the database has made it durable:
SQLite runs in WAL mode with ``synchronous=FULL`` (the WAL is fsynced at every commit), PostgreSQL
with its default ``synchronous_commit=on``. So a label acknowledged to a browser survives a
``kill -9`` of the server (and a power cut, as far as the disk keeps its promises).

Concurrency: on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (it takes the
database's write lock before reading anything, so two writers never interleave, even from two
processes) and writers of one process queue on a lock instead of spinning on ``SQLITE_BUSY``; reads
run beside them (WAL). On PostgreSQL writers run in parallel and lock the rows they change
(``SELECT ... FOR UPDATE``; ``SKIP LOCKED`` where any free row will do).

Group commit (SQLite): an fsync per label would cap a server at one label per fsync (~100/s on an
ordinary disk). :meth:`Database.transaction` therefore hands its work to one writer thread, which
runs every piece of work waiting at that moment one after the other in a single transaction, each
in its own SAVEPOINT (a piece that fails is rolled back alone and its caller gets the error), then
commits once. Every caller returns only after that COMMIT: nothing is acknowledged before it is on
disk, and 50 people labelling at once share fsyncs. (PostgreSQL does the same by itself.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from baton.errors import InputError, MissingDependencyError

MIGRATIONS = Path(__file__).parent / "migrations"
# Held while migrating a PostgreSQL database, so that two servers starting at once migrate once.
PG_MIGRATION_LOCK = 0x6261746F6E  # "baton"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Pieces of work committed together at most (bounds how long the first of them waits).
GROUP_COMMIT_MAX = 64

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for a user's ``--db``: psycopg 3 for PostgreSQL; SQLite as given."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite:///")):
        return url
    if url.startswith("sqlite://"):
        raise InputError(
            "an in-memory SQLite database would lose every label; give a file: sqlite:///labels.db",
            field="db",
        )
    raise InputError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://user@host/dbname",
        field="db",
    )


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``--db`` URL (``None`` for PostgreSQL)."""
    url = normalize_url(url)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


class Database:
    """The engine, ``read()`` and ``write()`` sessions, and the schema's migrations."""

    def __init__(self, url: str, *, pool_size: int = 20, max_overflow: int = 40) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = sqlite_file(self.url)
            if not path.parent.exists():
                raise InputError("the database's folder does not exist", path=path.parent, field="db")
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                pool_size=pool_size,
                max_overflow=max_overflow,
            )
            _configure_sqlite(self.engine)
        else:
            try:
                # psycopg is optional (the postgres extra): only a PostgreSQL database needs it.
                import psycopg  # noqa: F401
            except ImportError:
                raise MissingDependencyError(
                    "psycopg[binary]", "a PostgreSQL database", extra="postgres"
                ) from None
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._committer: GroupCommitter | None = None
        self._committer_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def describe(self) -> str:
        """The URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (its transaction is rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed (durably) when the block ends, rolled back on an error."""
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a write transaction; returns its result once durably committed.

        On SQLite the work joins the writer thread's next group commit (see the module's docstring);
        on PostgreSQL it runs here in its own transaction.
        """
        if not self.is_sqlite:
            with self.write() as session:
                return work(session)
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self)
        return self._committer.run(work)

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to the newest migration (a fresh database gets every table), or to
        ``revision`` (an older schema, as an older baton made it)."""
        # Start-up: alembic (and its Mako templates) loads only when the schema is made or upgraded.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._writer.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def schema_revision(self) -> str | None:
        # Start-up: alembic loads only when the schema is asked about.
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        with self._committer_lock:
            if self._committer is not None:
                self._committer.stop()
                self._committer = None
        self.engine.dispose()

    @contextmanager
    def _write_connection(self) -> Iterator[Any]:
        """The single writer's lock and a connection in a ``BEGIN IMMEDIATE`` transaction (SQLite)."""
        assert self._write_lock is not None
        with self._write_lock, self._writer.connect() as connection, connection.begin():
            yield connection


class GroupCommitter:
    """The writer thread of a SQLite database: runs the queued pieces of work in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue: queue.SimpleQueue[tuple[Callable[[Session], Any], Future] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="baton-annotate-writer", daemon=True)
        self.thread.start()

    def run(self, work: Callable[[Session], T]) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("a transaction's work may not start another transaction")
        done: Future = Future()
        self.queue.put((work, done))
        return done.result()

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < GROUP_COMMIT_MAX:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Session], Any], Future]]) -> None:
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        try:
            with self.db._write_connection() as connection:
                for work, done in batch:
                    # A session of its own in a SAVEPOINT: its commit releases the savepoint, an
                    # error rolls back this piece of work alone.
                    session = Session(
                        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
                    )
                    try:
                        with session.begin():
                            result = work(session)
                        outcomes.append((done, result, None))
                    except BaseException as exc:  # handed to the caller, who raises it
                        outcomes.append((done, None, exc))
                    finally:
                        session.close()
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the batch is stored
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for done, result, error in outcomes:  # only now, after the durable COMMIT
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, full fsync at commit, a busy timeout, foreign keys; and BEGIN issued by us, not the driver."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # The sqlite3 module would open transactions itself, late and always DEFERRED; take control.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
