"""The database object: URLs, SQLite's settings, migrations, and SQLite's group commit."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from baton.annotation.db import Database, normalize_url, sqlite_url
from baton.annotation.models import Annotator
from baton.errors import InputError

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_urls():
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url(" sqlite:///x.db ") == "sqlite:///x.db"
    with pytest.raises(InputError, match="in-memory SQLite"):
        normalize_url("sqlite://")
    with pytest.raises(InputError, match="unsupported database URL 'mysql://h/db'"):
        normalize_url("mysql://h/db")


def test_sqlite_is_wal_with_full_sync_and_migrated(tmp_path):
    db = Database(sqlite_url(tmp_path / "a.db"))
    db.migrate()
    db.migrate()  # a second start changes nothing
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL: fsync at commit
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.schema_revision() == "0005"
    db.dispose()
    with pytest.raises(InputError, match="folder does not exist"):
        Database(sqlite_url(tmp_path / "nowhere" / "a.db"))


def add(name, fail=False, gate=None):
    def work(session):
        if gate is not None:
            gate()
        session.add(Annotator(name=name, is_admin=False, created_at=NOW))
        session.flush()
        if fail:
            raise ValueError(name)
        return name

    return work


def test_group_commit_shares_a_commit_but_keeps_each_piece_of_work_apart(tmp_path):
    db = Database(sqlite_url(tmp_path / "g.db"))
    db.migrate()
    commits = []
    event.listen(db.engine, "commit", lambda connection: commits.append(1))
    db.transaction(add("warm-up"))  # starts the writer thread
    commits.clear()

    # The first piece of work holds the writer until the 29 others are queued: they then go in one batch.
    others = 29
    running = threading.Event()

    def wait_for_the_others():
        running.set()
        deadline = time.monotonic() + 30
        while db._committer.queue.qsize() < others and time.monotonic() < deadline:
            time.sleep(0.005)

    outcomes = {}

    def call(i):
        name = "dup" if i in (7, 8) else f"a{i:02d}"
        work = add(name, fail=i % 5 == 0, gate=wait_for_the_others if i == 0 else None)
        try:
            outcomes[i] = db.transaction(work)
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(others + 1)]
    threads[0].start()
    assert running.wait(timeout=30)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(commits) == 2  # 30 transactions, 2 fsyncs
    failed = {i for i, outcome in outcomes.items() if isinstance(outcome, Exception)}
    assert {i for i in failed if isinstance(outcomes[i], ValueError)} == {0, 5, 10, 15, 20, 25}
    # One of the two pieces adding "dup" lost to the unique name; the other is stored.
    duplicates = [i for i in (7, 8) if isinstance(outcomes[i], IntegrityError)]
    assert len(duplicates) == 1 and failed == {0, 5, 10, 15, 20, 25, *duplicates}
    with db.read() as session:
        stored = set(session.execute(select(Annotator.name)).scalars())
    assert stored == {"warm-up", "dup"} | {f"a{i:02d}" for i in range(1, 30) if i % 5 and i not in (7, 8)}
    db.dispose()


def test_a_transaction_may_not_start_another(tmp_path):
    db = Database(sqlite_url(tmp_path / "n.db"))
    db.migrate()
    with pytest.raises(RuntimeError, match="may not start another transaction"):
        db.transaction(lambda session: db.transaction(add("x")))
    db.dispose()


def test_upgrading_a_database_that_holds_labels_keeps_every_label(db_url):
    """A database made by the first schema (0001), with clips, annotators and labels in it, upgraded
    by the migrations a newer baton runs at start-up: every label is still there, and the new tables
    work."""
    from baton.annotation.store import AnnotationStore

    votes = [("p0-0", "ann", 1), ("p0-0", "bob", 1), ("p0-1", "ann", 0), ("p0-1", "bob", 1)]
    db = Database(db_url)
    db.migrate("0001")
    assert db.schema_revision() == "0001"
    clip = {
        "model": "base", "prompt_id": "p0", "text": "a bell, then a dog", "events": "[]", "task": "integrity",
        "relation": None, "root": None, "seed": 1, "backend": "world", "sample_rate": 16000,
        "duration": 1.0, "settings": "{}", "source": "samples.jsonl", "created_at": NOW,
    }  # fmt: skip
    with db.engine.begin() as connection:  # the rows as the first schema's baton wrote them
        for n in range(2):
            connection.execute(
                text(
                    "INSERT INTO clips (uid, model, sample_id, prompt_id, text, events, task, relation, "
                    "clip_index, root, path, seed, backend, sample_rate, duration, settings, position, "
                    "votes, source, created_at) VALUES (:uid, :model, :sample_id, :prompt_id, :text, "
                    ":events, :task, :relation, :clip_index, :root, :path, :seed, :backend, :sample_rate, "
                    ":duration, :settings, :position, :votes, :source, :created_at)"
                ),
                {**clip, "uid": f"u{n}", "sample_id": f"p0-{n}", "clip_index": n, "path": f"audio/p0-{n}.wav",
                 "position": n, "votes": 2},
            )  # fmt: skip
        for n, name in enumerate(("ann", "bob")):
            connection.execute(
                text(
                    "INSERT INTO annotators (name, token_hash, is_admin, created_at) "
                    "VALUES (:name, :token_hash, :is_admin, :created_at)"
                ),
                {"name": name, "token_hash": f"{n}" * 64, "is_admin": n == 0, "created_at": NOW},
            )
        ids = {
            "clips": dict(connection.execute(text("SELECT sample_id, id FROM clips")).all()),
            "annotators": dict(connection.execute(text("SELECT name, id FROM annotators")).all()),
        }
        for sample_id, name, value in votes:
            connection.execute(
                text(
                    "INSERT INTO labels (clip_id, annotator_id, value, skipped, flag, comment, seconds, source, "
                    "created_at) VALUES (:clip, :annotator, :value, :skipped, NULL, NULL, 2.5, 'app', :created_at)"
                ),
                {"clip": ids["clips"][sample_id], "annotator": ids["annotators"][name], "value": value,
                 "skipped": False, "created_at": NOW},
            )  # fmt: skip

    db.migrate()  # what a newer baton does when it starts on this database
    assert db.schema_revision() == "0005"
    store = AnnotationStore(db)
    labels = sorted((r.clip.sample_id, r.annotator, r.label.value) for r in store.all_labels())
    assert labels == votes
    records = {r.sample_id: r for r in store.label_records(None)}
    assert (records["p0-0"].label, records["p0-1"].mean) == (1, 0.5)
    assert store.campaign_settings() == {}  # the table the second schema added, empty and working
    defaults = {
        "labels_per_clip": "3", "raters_per_item": "5", "tasks": "labels", "pairs_per_prompt": "0", "pairs_seed": "0",
        "select": "random", "round_size": "50", "random_share": "0.25", "budget": "0",
    }  # fmt: skip
    assert store.fix_campaign({"labels_per_clip": "2"}, defaults) == {**defaults, "labels_per_clip": "2"}
    assert store.campaign_settings() == {**defaults, "labels_per_clip": "2"}
    # The third schema's: the old labels have no early flag; the pairs' tables are there, empty (these
    # clips have no audio here, so none pair up).
    from baton.annotation.pairs import PairQueue

    assert {r.label.early for r in store.all_labels()} == {None}
    assert (PairQueue(store).form(), PairQueue(store).count()) == (0, 0)
    # The fourth schema's: no clip is chosen by a round of active selection yet (the fifth's pairs'
    # rounds: tests/annotation/test_pair_rounds.py).
    assert {clip.round for clip in store.all_clips()} == {None}


def test_the_migrated_schema_is_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from baton.annotation.models import Base

    db = Database(db_url)
    db.migrate()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.dispose()
