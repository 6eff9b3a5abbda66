"""The web app: server-rendered pages, a small JSON API, and the audio of registered clips; this
module builds it from the routers of :mod:`baton.annotation.routes`, one per area.

Every page and every API call needs a valid token (see :mod:`baton.annotation.routes.context`). Errors are
JSON ``{"error": "..."}`` under ``/api/`` and a short HTML page elsewhere.

=========================  ======  =============================================================
path                       method  what
=========================  ======  =============================================================
``/login?token=``          GET     sets the cookie, goes to the home page
``/``                      GET     home: the tasks offered, your progress
``/label``                 GET     the labelling page (keyboard: 1 yes, 2 no, s skip, space, u undo)
``/pairs``                 GET     the A/B page (1 first better, 2 second, 3 neither, space, u undo)
``/listen``                GET     the listening test (MOS-Q and MOS-F, blind, shuffled)
``/guidelines``            GET     what to listen for
``/dashboard``             GET     admin: progress, balance, agreement, time per label, MOS
``/audio/{clip}``          GET     a registered clip's audio (never a path)
``/api/next``              GET     your current clip (leased to you) and progress
``/api/labels``            POST    ``{clip, value: 1|0}`` or ``{clip, skip: true, flag?, comment?}``
``/api/undo``              POST    take back your last answer; the clip is yours again
``/api/clips/{clip}/peaks`` GET    the waveform's peaks
``/api/pairs/next``        GET     your current pair (leased to you), its clips in your order
``/api/pairs``             POST    ``{pair, choice: 1|2|3}``: 1 the clip played first is better
``/api/pairs/undo``        POST    take back your last answer on a pair
``/api/ratings/next``      GET     your current listening-test item
``/api/ratings``           POST    ``{item, scores: {clip: {quality: 1-5, faithfulness: 1-5}}}``
``/api/admin/...``         both    stats, annotators, export (``?task=pairs`` for pairs) (admin token)
=========================  ======  =============================================================

A POST answers only after the database has committed the change durably.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from baton.annotation.pairs import PairQueue
from baton.annotation.routes import admin, labels, pages, pairs, ratings
from baton.annotation.routes.context import SECURITY_HEADERS, AppContext, AppSettings, AuthError
from baton.annotation.store import AnnotationStore, StoreError

__all__ = ["AppSettings", "create_app"]

HERE = Path(__file__).parent


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and ``no-store`` outside ``/static/``) to every response (pure ASGI)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(SECURITY_HEADERS)
                if not static:
                    extra["Cache-Control"] = "no-store"
                for name, value in extra.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: AnnotationStore, settings: AppSettings | None = None) -> FastAPI:
    settings = settings or AppSettings()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        # Each request holds a worker thread while it waits for the database: room for 50+ people.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.thread_pool
        yield

    app = FastAPI(title=settings.title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    context = AppContext(store=store, settings=settings, pairs=PairQueue(store), templates=templates)
    app.state.store = store
    app.state.settings = settings
    app.state.context = context
    for area in (pages, labels, pairs, ratings, admin):
        app.include_router(area.router)

    # -- errors: JSON under /api/ (and for audio), a short page elsewhere --------------------------

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        return context.error_response(request, exc.status, exc.message)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        return context.error_response(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return context.error_response(request, 400, "the body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = first.get("msg", "invalid")
        if first.get("type") == "extra_forbidden":
            message = "unknown field"
        elif first.get("type") == "missing":
            message = "required field is missing"
        return context.error_response(request, 422, f"field '{where}': {message}" if where else message)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        return context.error_response(request, 404, "no such page")

    @app.exception_handler(405)
    async def _not_allowed(request: Request, exc: Exception) -> Response:
        return context.error_response(request, 405, f"{request.method} is not allowed here")

    app.add_middleware(SecurityHeaders)
    return app
