"""The pages: login and logout, home, the labelling, A/B and listening-test pages, the guidelines,
the admin's dashboard, and the audio of registered clips."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from baton.annotation.dashboard import campaign_stats
from baton.annotation.mos import QUESTIONS, SCALE
from baton.annotation.routes.context import (
    COOKIE,
    Admin,
    AppContext,
    AuthError,
    Context,
    User,
    script_json,
)
from baton.annotation.store import FLAGS, AnnotatorView

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

router = APIRouter()


@router.get("/login")
def login(request: Request, app: Context, token: str = "") -> Response:
    person = app.store.authenticate(token)
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


@router.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/login-needed", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/login-needed")
def login_needed(request: Request, app: Context) -> Response:
    return app.error_response(request, 401, "you are logged out; open your personal login link to come back")


@router.get("/")
def home(request: Request, person: User, app: Context) -> Response:
    tasks = app.settings.tasks
    return app.page(
        request,
        "home.html",
        person,
        progress=app.store.progress(person) if "labels" in tasks else None,
        pair_progress=app.pairs.progress(person) if "pairs" in tasks else None,
        rating_progress=app.store.rating_progress(person) if "ratings" in tasks else None,
    )


def answering_page(
    app: AppContext,
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
    return app.page(request, name, person, **context)


@router.get("/label")
def label_page(request: Request, person: User, app: Context) -> Response:
    app.offers("labels")
    clip, waiting = app.next_in_rounds("labels", person, app.store.next_clip(person), app.store.next_clip)
    return answering_page(
        app, request, person, "label.html", "clip", clip, app.store, TASK_QUESTIONS, **waiting, flags=FLAGS
    )


@router.get("/pairs")
def pairs_page(request: Request, person: User, app: Context) -> Response:
    app.offers("pairs")
    pair, waiting = app.next_in_rounds("pairs", person, app.pairs.next(person), app.pairs.next)
    return answering_page(
        app, request, person, "pairs.html", "pair", pair, app.pairs, PAIR_QUESTIONS, **waiting
    )


@router.get("/listen")
def listen_page(request: Request, person: User, app: Context) -> Response:
    app.offers("ratings")
    item = app.store.next_item(person)
    state = {"item": item.as_json() if item else None, "progress": app.store.rating_progress(person)}
    return app.page(
        request,
        "listen.html",
        person,
        item=item,
        questions=QUESTIONS,
        scale=SCALE,
        state=script_json(state),
    )


@router.get("/guidelines")
def guidelines(request: Request, person: User, app: Context) -> Response:
    return app.page(
        request,
        "guidelines.html",
        person,
        flags=FLAGS,
        questions=TASK_QUESTIONS,
        pair_questions=PAIR_QUESTIONS,
        scale=SCALE,
    )


@router.get("/dashboard")
def dashboard(request: Request, person: Admin, app: Context) -> Response:
    return app.page(request, "dashboard.html", person, stats=campaign_stats(app.store, app.rounds))


@router.get("/audio/{uid}")
def audio(uid: str, person: User, app: Context) -> Response:
    path = app.store.audio_path(uid, person)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
