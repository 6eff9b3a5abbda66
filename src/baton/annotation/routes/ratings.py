"""The listening-test API: your item (its clips blind, in your order) and your scores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from baton.annotation.routes.context import Context, User

router = APIRouter(prefix="/api/ratings")


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=64)
    scores: dict[str, dict[str, int]]
    seconds: float | None = Field(default=None, ge=0, le=86400)


@router.get("/next")
def next_item(person: User, app: Context) -> dict[str, Any]:
    app.offers("ratings")
    item = app.store.next_item(person)
    return {"item": item.as_json() if item else None, "progress": app.store.rating_progress(person)}


@router.post("")
def submit_ratings(body: RatingBody, person: User, app: Context) -> dict[str, Any]:
    app.offers("ratings")
    repeated = app.store.submit_ratings(person, body.item, body.scores, body.seconds)
    item = app.store.next_item(person)
    return {
        "repeated": repeated,
        "next": item.as_json() if item else None,
        "progress": app.store.rating_progress(person),
    }
