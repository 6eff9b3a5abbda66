"""The A/B API: your pair (its clips in your order), your choice, undo (in rounds of active
selection, ``waiting`` says whether more pairs are to come)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from baton.annotation.routes.context import Context, User
from baton.annotation.store import StoreError

router = APIRouter(prefix="/api/pairs")


class PairBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair: str = Field(min_length=1, max_length=64)
    choice: Literal[1, 2, 3]  # 1: the clip played first is better, 2: the second, 3: neither
    seconds: float | None = Field(default=None, ge=0, le=86400)


class PairUndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair: str | None = Field(default=None, min_length=1, max_length=64)


@router.get("/next")
def next_pair(person: User, app: Context) -> dict[str, Any]:
    app.offers("pairs")
    pair, waiting = app.next_in_rounds("pairs", person, app.pairs.next(person), app.pairs.next)
    return {
        "pair": pair.as_json() if pair else None,
        "progress": app.pairs.progress(person).as_json(),
        **waiting,
    }


@router.post("")
def submit_pair(body: PairBody, person: User, app: Context) -> dict[str, Any]:
    app.offers("pairs")
    done = app.pairs.answer(person, body.pair, body.choice, body.seconds)  # committed, next one leased
    following, waiting = app.next_in_rounds("pairs", person, done.next, app.pairs.next)
    return {
        "preference": done.preference,
        "answered": body.pair,
        "repeated": done.repeated,
        "next": following.as_json() if following else None,
        "progress": done.progress.as_json(),
        **waiting,
    }


@router.post("/undo")
def undo_pair(person: User, app: Context, body: PairUndoBody | None = None) -> dict[str, Any]:
    app.offers("pairs")
    pair, progress = app.pairs.undo(person, body.pair if body else None)
    if pair is None:
        raise StoreError("nothing to undo")
    return {
        "pair": pair.as_json(),
        "previous": app.pairs.last_answered(person),
        "progress": progress.as_json(),
    }
