"""The web app: server-rendered pages, a small JSON API, and the audio of registered clips.

Every page and every API call needs a valid token: the personal login link (``/login?token=...``)
puts it in an HttpOnly cookie; scripts and other programs may send ``Authorization: Bearer <token>``
instead. Errors are JSON ``{"error": "..."}`` under ``/api/`` and a short HTML page elsewhere.

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

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from baton.annotation.mos import QUESTIONS, SCALE
from baton.annotation.pairs import PairQueue
from baton.annotation.store import (
    FLAGS,
    MAX_COMMENT,
    AnnotationStore,
    AnnotatorView,
    Answer,
    ClipView,
    StoreError,
)

HERE = Path(__file__).parent
COOKIE = "baton_token"
TASK_QUESTIONS = {
    "integrity": "Can you hear every one of the named sounds?",
    "temporal": "Can you hear every one of the named sounds, in the order given?",
    "single": "Can you hear the named sound?",
    None: "Does the clip match the text?",
}
# The A/B question, by task: which clip does what the text asks?
PAIR_QUESTIONS = {
    "integrity": "Which clip lets you hear every one of the named sounds?",
    "temporal": "Which clip has every named sound, in the order given?",
    "single": "Which clip lets you hear the named sound?",
    None: "Which clip matches the text better?",
}
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
    rounds: Any = None  # baton.annotation.rounds.LabelRounds: labelling in rounds of active selection


class AuthError(Exception):
    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- request bodies ----------------------------------------------------------------------------


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


class PairBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair: str = Field(min_length=1, max_length=64)
    choice: Literal[1, 2, 3]  # 1: the clip played first is better, 2: the second, 3: neither
    seconds: float | None = Field(default=None, ge=0, le=86400)


class PairUndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair: str | None = Field(default=None, min_length=1, max_length=64)


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=64)
    scores: dict[str, dict[str, int]]
    seconds: float | None = Field(default=None, ge=0, le=86400)


class AnnotatorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    admin: bool = False
    reset: bool = False


# --- who is asking ------------------------------------------------------------------------------


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


async def current_user(request: Request) -> AnnotatorView:
    """The annotator whose token came with the request, or a 401."""
    from starlette.concurrency import run_in_threadpool

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


User = Annotated[AnnotatorView, Depends(current_user)]
Admin = Annotated[AnnotatorView, Depends(current_admin)]


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


# --- the app -----------------------------------------------------------------------------------


def create_app(store: AnnotationStore, settings: AppSettings | None = None) -> FastAPI:
    settings = settings or AppSettings()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        import anyio.to_thread

        # Each request holds a worker thread while it waits for the database: room for 50+ people.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.thread_pool
        yield

    app = FastAPI(title=settings.title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.store = store
    app.state.settings = settings
    pairs = PairQueue(store)
    rounds = settings.rounds  # labelling in rounds of active selection, or None

    # -- errors --------------------------------------------------------------------------------

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def error_response(request: Request, status: int, message: str) -> Response:
        if is_api(request) or request.url.path.startswith("/audio/"):
            return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"title": settings.title, "status": status, "message": message, "user": None},
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        return error_response(request, exc.status, exc.message)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        return error_response(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return error_response(request, 400, "the body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = first.get("msg", "invalid")
        if first.get("type") == "extra_forbidden":
            message = "unknown field"
        elif first.get("type") == "missing":
            message = "required field is missing"
        return error_response(request, 422, f"field '{where}': {message}" if where else message)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, "no such page")

    @app.exception_handler(405)
    async def _not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(request, 405, f"{request.method} is not allowed here")

    app.add_middleware(SecurityHeaders)

    def offers(task: str) -> None:
        if task not in settings.tasks:
            raise StoreError(f"this server does not offer {task}") from None

    def page(request: Request, name: str, person: AnnotatorView, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, name, {"title": settings.title, "user": person, "tasks": settings.tasks, **context}
        )

    # -- pages -----------------------------------------------------------------------------------

    @app.get("/login")
    def login(request: Request, token: str = "") -> Response:
        person = store.authenticate(token)
        if person is None:
            raise AuthError("this login link is not valid (it may have been replaced by a new one)")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=180 * 24 * 3600,
        )
        return response

    @app.get("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login-needed", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/login-needed")
    def login_needed(request: Request) -> Response:
        return error_response(request, 401, "you are logged out; open your personal login link to come back")

    @app.get("/")
    def home(request: Request, person: User) -> Response:
        return page(
            request,
            "home.html",
            person,
            progress=store.progress(person) if "labels" in settings.tasks else None,
            pair_progress=pairs.progress(person) if "pairs" in settings.tasks else None,
            rating_progress=store.rating_progress(person) if "ratings" in settings.tasks else None,
        )

    def answering_page(
        request: Request,
        person: AnnotatorView,
        name: str,
        key: str,
        item: Any,
        queue: Any,
        questions: dict,
        waiting: bool = False,
        **more: Any,
    ) -> Response:
        """The labelling or A/B page: the ``item`` given (a clip or a pair, under ``key``), the progress,
        what undo would take back, and the question of each task, for the page's script too
        (``waiting``: nothing now, but a round of active selection is to come)."""
        progress = queue.progress(person)
        state = {
            key: item.as_json() if item else None,
            "last": queue.last_answered(person),
            "progress": progress.as_json(),
            "questions": {task or "": q for task, q in questions.items()},
            "waiting": waiting,
        }
        question = questions.get(item.task if item else None, questions[None])
        context = {key: item, "progress": progress, "question": question, "state": script_json(state), **more}
        return page(request, name, person, **context)

    @app.get("/label")
    def label_page(request: Request, person: User) -> Response:
        offers("labels")
        clip, waiting = next_in_rounds(person, store.next_clip(person))
        return answering_page(
            request, person, "label.html", "clip", clip, store, TASK_QUESTIONS, waiting, flags=FLAGS
        )

    @app.get("/pairs")
    def pairs_page(request: Request, person: User) -> Response:
        offers("pairs")
        return answering_page(
            request, person, "pairs.html", "pair", pairs.next(person), pairs, PAIR_QUESTIONS
        )

    @app.get("/listen")
    def listen_page(request: Request, person: User) -> Response:
        offers("ratings")
        item = store.next_item(person)
        state = {"item": item.as_json() if item else None, "progress": store.rating_progress(person)}
        return page(
            request,
            "listen.html",
            person,
            item=item,
            questions=QUESTIONS,
            scale=SCALE,
            state=script_json(state),
        )

    @app.get("/guidelines")
    def guidelines(request: Request, person: User) -> Response:
        return page(
            request,
            "guidelines.html",
            person,
            flags=FLAGS,
            questions=TASK_QUESTIONS,
            pair_questions=PAIR_QUESTIONS,
            scale=SCALE,
        )

    @app.get("/dashboard")
    def dashboard(request: Request, person: Admin) -> Response:
        from baton.annotation.dashboard import campaign_stats

        return page(request, "dashboard.html", person, stats=campaign_stats(store))

    @app.get("/audio/{uid}")
    def audio(uid: str, person: User) -> Response:
        path = store.audio_path(uid, person)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    # -- labelling API ---------------------------------------------------------------------------

    @app.get("/api/me")
    def me(person: User) -> dict[str, Any]:
        return {"name": person.name, "admin": person.is_admin, "tasks": settings.tasks}

    def next_in_rounds(person: AnnotatorView, clip: ClipView | None) -> tuple[ClipView | None, bool]:
        """With rounds, nothing to give may mean the round is complete: the next round is chosen
        (the answers are committed already) and asked again. Also whether more is to come."""
        if rounds is None or clip is not None:
            return clip, False
        if rounds.advance():
            clip = store.next_clip(person)
        return clip, clip is None and rounds.waiting()

    @app.get("/api/next")
    def next_clip(person: User) -> dict[str, Any]:
        offers("labels")
        clip, waiting = next_in_rounds(person, store.next_clip(person))
        return {
            "clip": clip.as_json() if clip else None,
            "progress": store.progress(person).as_json(),
            **({"waiting": waiting} if rounds is not None else {}),
        }

    @app.post("/api/labels")
    def submit_label(body: LabelBody, person: User) -> dict[str, Any]:
        offers("labels")
        answer = Answer(
            value=body.value,
            skipped=body.skip,
            flag=body.flag,
            comment=body.comment,
            seconds=body.seconds,
        )
        done = store.answer(person, body.clip, answer)  # committed, with the next clip leased
        following, waiting = next_in_rounds(person, done.next)  # type: ignore[arg-type]
        return {
            "label": done.label,
            "answered": body.clip,
            "repeated": done.repeated,
            "next": following.as_json() if following else None,
            "progress": done.progress.as_json(),
            **({"waiting": waiting} if rounds is not None else {}),
        }

    @app.post("/api/undo")
    def undo(person: User, body: UndoBody | None = None) -> dict[str, Any]:
        offers("labels")
        clip, progress = store.undo_with_progress(person, body.clip if body else None)
        if clip is None:
            raise StoreError("nothing to undo")
        return {
            "clip": clip.as_json(),
            "previous": store.last_answered(person),
            "progress": progress.as_json(),
        }

    @app.get("/api/progress")
    def progress(person: User) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "labels" in settings.tasks:
            out["labels"] = store.progress(person).as_json()
        if "pairs" in settings.tasks:
            out["pairs"] = pairs.progress(person).as_json()
        if "ratings" in settings.tasks:
            out["ratings"] = store.rating_progress(person)
        return out

    @app.get("/api/clips/{uid}/peaks")
    def peaks(uid: str, person: User) -> dict[str, Any]:
        from baton.annotation.peaks import waveform_peaks

        path = store.audio_path(uid, person)
        try:
            return waveform_peaks(path)
        except (RuntimeError, OSError) as exc:  # soundfile cannot read it: the page shows no picture
            raise StoreError(f"cannot read the audio of clip '{uid}': {exc}") from None

    # -- A/B API -----------------------------------------------------------------------------------

    @app.get("/api/pairs/next")
    def next_pair(person: User) -> dict[str, Any]:
        offers("pairs")
        pair = pairs.next(person)
        return {"pair": pair.as_json() if pair else None, "progress": pairs.progress(person).as_json()}

    @app.post("/api/pairs")
    def submit_pair(body: PairBody, person: User) -> dict[str, Any]:
        offers("pairs")
        done = pairs.answer(person, body.pair, body.choice, body.seconds)  # committed, next one leased
        return {
            "preference": done.preference,
            "answered": body.pair,
            "repeated": done.repeated,
            "next": done.next.as_json() if done.next else None,
            "progress": done.progress.as_json(),
        }

    @app.post("/api/pairs/undo")
    def undo_pair(person: User, body: PairUndoBody | None = None) -> dict[str, Any]:
        offers("pairs")
        pair, progress = pairs.undo(person, body.pair if body else None)
        if pair is None:
            raise StoreError("nothing to undo")
        return {
            "pair": pair.as_json(),
            "previous": pairs.last_answered(person),
            "progress": progress.as_json(),
        }

    # -- listening test API ------------------------------------------------------------------------

    @app.get("/api/ratings/next")
    def next_item(person: User) -> dict[str, Any]:
        offers("ratings")
        item = store.next_item(person)
        return {"item": item.as_json() if item else None, "progress": store.rating_progress(person)}

    @app.post("/api/ratings")
    def submit_ratings(body: RatingBody, person: User) -> dict[str, Any]:
        offers("ratings")
        repeated = store.submit_ratings(person, body.item, body.scores, body.seconds)
        item = store.next_item(person)
        return {
            "repeated": repeated,
            "next": item.as_json() if item else None,
            "progress": store.rating_progress(person),
        }

    # -- admin API -------------------------------------------------------------------------------

    @app.get("/api/admin/stats")
    def stats(person: Admin) -> dict[str, Any]:
        from baton.annotation.dashboard import campaign_stats

        figures = campaign_stats(store)
        if rounds is not None:  # active selection: where the rounds are
            figures["rounds"] = rounds.status().as_json()
        return figures

    @app.post("/api/admin/annotators")
    def add_annotator(body: AnnotatorBody, request: Request, person: Admin) -> dict[str, Any]:
        from baton.errors import InputError

        try:
            added, token = store.add_annotator(body.name, admin=body.admin, reset=body.reset)
        except InputError as exc:
            raise StoreError(exc.reason) from None
        base = settings.public_url or str(request.base_url).rstrip("/")
        return {"name": added.name, "admin": added.is_admin, "token": token, "link": login_link(base, token)}

    @app.get("/api/admin/annotators")
    def list_annotators(person: Admin) -> dict[str, Any]:
        return {"annotators": [{"name": a.name, "admin": a.is_admin} for a in store.annotators()]}

    @app.get("/api/admin/clips")
    def list_clips(person: Admin) -> dict[str, Any]:
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
                for c in store.all_clips()
            ]
        }

    @app.get("/api/admin/export")
    def export(request: Request, person: Admin, model: str | None = None, task: str = "labels") -> Response:
        from baton.errors import InputError

        if task not in ("labels", "pairs"):
            raise StoreError("task is labels or pairs")
        try:  # absolute audio paths
            if task == "pairs":
                records: list[Any] = pairs.pair_records(None, model=model)
            else:
                records = store.label_records(None, model=model)
        except InputError as exc:
            raise StoreError(exc.reason) from None
        body = "".join(record.to_json() + "\n" for record in records)
        return Response(
            body,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{task}.jsonl"'},
        )

    return app


def script_json(data: Any) -> str:
    """JSON to embed in ``<script type="application/json">``: no ``</script>`` can end it early."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login?token={token}"
