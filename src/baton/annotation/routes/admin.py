"""The admin's API: the campaign's figures, annotators and their links, which sample each clip id
is, and the labels (or A/B preferences) as records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from baton.annotation.dashboard import campaign_stats
from baton.annotation.routes.context import Admin, Context, login_link
from baton.annotation.store import StoreError
from baton.errors import InputError

router = APIRouter(prefix="/api/admin")


class AnnotatorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    admin: bool = False
    reset: bool = False


@router.get("/stats")
def stats(person: Admin, app: Context) -> dict[str, Any]:
    return campaign_stats(app.store, app.rounds)


@router.post("/annotators")
def add_annotator(body: AnnotatorBody, request: Request, person: Admin, app: Context) -> dict[str, Any]:
    try:
        added, token = app.store.add_annotator(body.name, admin=body.admin, reset=body.reset)
    except InputError as exc:
        raise StoreError(exc.reason) from None
    base = app.settings.public_url or str(request.base_url).rstrip("/")
    return {"name": added.name, "admin": added.is_admin, "token": token, "link": login_link(base, token)}


@router.get("/annotators")
def list_annotators(person: Admin, app: Context) -> dict[str, Any]:
    return {"annotators": [{"name": a.name, "admin": a.is_admin} for a in app.store.annotators()]}


@router.get("/clips")
def list_clips(person: Admin, app: Context) -> dict[str, Any]:
    """Which sample each random clip id is (the listening test hides it from raters)."""
    return {
        "clips": [
            {
                "clip": c.uid,
                "model": c.model,
                "sample_id": c.sample_id,
                "prompt_id": c.prompt_id,
                "index": c.clip_index,
            }
            for c in app.store.all_clips()
        ]
    }


@router.get("/export")
def export(person: Admin, app: Context, model: str | None = None, task: str = "labels") -> Response:
    if task not in ("labels", "pairs"):
        raise StoreError("task is labels or pairs")
    try:  # absolute audio paths
        if task == "pairs":
            records: list[Any] = app.pairs.pair_records(None, model=model)
        else:
            records = app.store.label_records(None, model=model)
    except InputError as exc:
        raise StoreError(exc.reason) from None
    body = "".join(record.to_json() + "\n" for record in records)
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{task}.jsonl"'},
    )
