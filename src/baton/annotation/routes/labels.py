"""The labelling API: your clip, your answer, undo, your progress, a clip's waveform; and who you are."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from baton.annotation.peaks import waveform_peaks
from baton.annotation.routes.context import Context, User
from baton.annotation.store import MAX_COMMENT, Answer, StoreError

router = APIRouter(prefix="/api")


class LabelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clip: str = Field(min_length=1, max_length=64)
    value: Literal[0, 1] | None = None
    skip: bool = False
    flag: str | None = Field(default=None, max_length=40)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    seconds: float | None = Field(default=None, ge=0, le=86400)


class UndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The clip the page believes was answered last: a repeated request then undoes nothing more.
    clip: str | None = Field(default=None, min_length=1, max_length=64)


@router.get("/me")
def me(person: User, app: Context) -> dict[str, Any]:
    return {"name": person.name, "admin": person.is_admin, "tasks": app.settings.tasks}


@router.get("/next")
def next_clip(person: User, app: Context) -> dict[str, Any]:
    app.offers("labels")
    clip, waiting = app.next_in_rounds("labels", person, app.store.next_clip(person), app.store.next_clip)
    return {
        "clip": clip.as_json() if clip else None,
        "progress": app.store.progress(person).as_json(),
        **waiting,
    }


@router.post("/labels")
def submit_label(body: LabelBody, person: User, app: Context) -> dict[str, Any]:
    app.offers("labels")
    answer = Answer(
        value=body.value,
        skipped=body.skip,
        flag=body.flag,
        comment=body.comment,
        seconds=body.seconds,
    )
    done = app.store.answer(person, body.clip, answer)  # committed, with the next clip leased
    following, waiting = app.next_in_rounds("labels", person, done.next, app.store.next_clip)  # type: ignore[arg-type]
    return {
        "label": done.label,
        "answered": body.clip,
        "repeated": done.repeated,
        "next": following.as_json() if following else None,
        "progress": done.progress.as_json(),
        **waiting,
    }


@router.post("/undo")
def undo(person: User, app: Context, body: UndoBody | None = None) -> dict[str, Any]:
    app.offers("labels")
    clip, progress = app.store.undo_with_progress(person, body.clip if body else None)
    if clip is None:
        raise StoreError("nothing to undo")
    return {
        "clip": clip.as_json(),
        "previous": app.store.last_answered(person),
        "progress": progress.as_json(),
    }


@router.get("/progress")
def progress(person: User, app: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "labels" in app.settings.tasks:
        out["labels"] = app.store.progress(person).as_json()
    if "pairs" in app.settings.tasks:
        out["pairs"] = app.pairs.progress(person).as_json()
    if "ratings" in app.settings.tasks:
        out["ratings"] = app.store.rating_progress(person)
    return out


@router.get("/clips/{uid}/peaks")
def peaks(uid: str, person: User, app: Context) -> dict[str, Any]:
    path = app.store.audio_path(uid, person)
    try:
        return waveform_peaks(path)
    except (RuntimeError, OSError) as exc:  # soundfile cannot read it: the page shows no picture
        raise StoreError(f"cannot read the audio of clip '{uid}': {exc}") from None
