"""What every route of the app stands on: the app's parts (:class:`AppContext`), who is asking
(:data:`User`, :data:`Admin`), and the answer to an error (JSON under ``/api/``, a page elsewhere).

Every page and every API call needs a valid token: the personal login link (``/login?token=...``)
puts it in an HttpOnly cookie; scripts and other programs may send ``Authorization: Bearer <token>``
instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from baton.annotation.pairs import PairQueue
from baton.annotation.store import AnnotationStore, AnnotatorView, StoreError

T = TypeVar("T")  # an item given out: a clip or a pair

COOKIE = "baton_token"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass
class AppSettings:
    """What the server offers (see :class:`baton.annotation.config.ServeConfig`)."""

    tasks: list[str] = field(default_factory=lambda: ["labels"])
    title: str = "baton annotate"
    public_url: str | None = None
    thread_pool: int = 64
    # Active selection: task (labels, pairs) -> its baton.annotation.rounds.Rounds, for each task in rounds.
    rounds: dict[str, Any] = field(default_factory=dict)


class AuthError(Exception):
    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class AppContext:
    """The app's parts, as every route finds them (``app.state.context``)."""

    store: AnnotationStore
    settings: AppSettings
    pairs: PairQueue
    templates: Jinja2Templates

    @property
    def rounds(self) -> dict[str, Any]:
        """The tasks in rounds of active selection, each with its rounds."""
        return self.settings.rounds

    def offers(self, task: str) -> None:
        if task not in self.settings.tasks:
            raise StoreError(f"this server does not offer {task}") from None

    def page(self, request: Request, name: str, person: AnnotatorView, **context: Any) -> Response:
        return self.templates.TemplateResponse(
            request,
            name,
            {"title": self.settings.title, "user": person, "tasks": self.settings.tasks, **context},
        )

    def error_response(self, request: Request, status: int, message: str) -> Response:
        path = request.url.path
        if path.startswith("/api/") or path.startswith("/audio/"):
            return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)
        return self.templates.TemplateResponse(
            request,
            "error.html",
            {"title": self.settings.title, "status": status, "message": message, "user": None},
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    def next_in_rounds(
        self, task: str, person: AnnotatorView, item: T | None, ask_again: Callable[[AnnotatorView], T | None]
    ) -> tuple[T | None, dict[str, bool]]:
        """With ``task`` in rounds, nothing to give may mean the round is complete: the next round is
        chosen (the answers are committed already) and ``ask_again`` asked. Also what the reply adds:
        in rounds, ``waiting``, whether more is to come."""
        rounds = self.rounds.get(task)
        if rounds is None:
            return item, {}
        if item is None and rounds.advance():
            item = ask_again(person)
        return item, {"waiting": item is None and rounds.waiting()}


# An ``async`` dependency runs on the event loop; a plain one would cost every request a worker thread.
async def app_context(request: Request) -> AppContext:
    return request.app.state.context


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


async def current_user(request: Request) -> AnnotatorView:
    """The annotator whose token came with the request, or a 401."""
    token = token_of(request)
    if not token:
        raise AuthError("no token: open your personal login link (ask the admin for one)")
    store = request.app.state.store
    # Known tokens are answered from memory, on the event loop; others are looked up in a worker.
    person = store.cached_annotator(token)
    if person is None:
        person = await run_in_threadpool(store.authenticate, token)
    if person is None:
        raise AuthError("this token is not valid (it may have been replaced by a new link)")
    # Browsers cannot send a JSON body to another site without asking first (CORS), and a
    # cookie-carrying form post from elsewhere is not JSON: so only same-origin pages post.
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if request.method == "POST" and content_type != "application/json":
        raise AuthError("send the body as JSON (Content-Type: application/json)", status=415)
    return person


async def current_admin(person: Annotated[AnnotatorView, Depends(current_user)]) -> AnnotatorView:
    if not person.is_admin:
        raise AuthError("this page is for the admin", status=403)
    return person


Context = Annotated[AppContext, Depends(app_context)]
User = Annotated[AnnotatorView, Depends(current_user)]
Admin = Annotated[AnnotatorView, Depends(current_admin)]


def script_json(data: Any) -> str:
    """JSON to embed in ``<script type="application/json">``: no ``</script>`` can end it early."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login?token={token}"
