"""Databases for the annotation tests: a SQLite file, and a real PostgreSQL 15 server started here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.annotation.db import Database, sqlite_url
from baton.annotation.store import AnnotationStore
from tests.conftest import needs

from .postgres import PostgresServer, missing_reason


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; each test makes its own database in it."""
    reason = missing_reason()
    if reason is not None:
        needs(reason)
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "labels.db")
    return request.getfixturevalue("postgres").create_schema()


@pytest.fixture
def make_store(db_url: str) -> Iterator[Callable[..., AnnotationStore]]:
    """``make_store(labels_per_clip=2, clock=...)``: stores over the test's database (migrated)."""
    made: list[Database] = []

    def make(**kwargs: Any) -> AnnotationStore:
        db = Database(db_url)
        db.migrate()
        made.append(db)
        return AnnotationStore(db, **kwargs)

    yield make
    for db in made:
        db.dispose()


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight CLAP for the reward model of active selection (``clap:DIR``)."""
    from baton.reward.encoders import build_tiny_clap

    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"), seed=0, max_length_s=2)
