"""Annotators and their logins: a secret link per person, only its hash stored, looked up by it."""

from __future__ import annotations

import hashlib
import secrets
import time
import unicodedata
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from baton.annotation.models import Annotator
from baton.annotation.store.base import StoreCore
from baton.errors import InputError

AUTH_CACHE_SECONDS = 5.0
ADMIN_NAME = "admin"


# --- tokens --------------------------------------------------------------------------------------


def new_token() -> str:
    """A random secret of 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Only this SHA-256 is stored; a stolen database holds no usable login."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError("an annotator's name is 1 to 200 printable characters", field="name")
    return name


@dataclass(frozen=True)
class AnnotatorView:
    id: int
    name: str
    is_admin: bool


class AnnotatorStore(StoreCore):
    """Annotators, their tokens and who a token belongs to."""

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
