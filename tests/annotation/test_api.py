"""The app in-process: tokens on every page and call, the labelling flow, bad requests, audio."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from baton.annotation.app import AppSettings, create_app
from baton.annotation.routes.context import COOKIE

from .helpers import make_samples, sqlite_store, write_wav


class Api:
    def __init__(self, tmp_path, tasks=("labels", "ratings"), **store_kwargs):
        self.store = sqlite_store(tmp_path, **{"labels_per_clip": 2, **store_kwargs})
        self.samples = make_samples(tmp_path / "run")
        self.store.load_samples(self.samples)
        _, self.ann = self.store.add_annotator("ann")
        _, self.bob = self.store.add_annotator("bob")
        _, self.admin = self.store.add_annotator("boss", admin=True)
        self.client = TestClient(create_app(self.store, AppSettings(tasks=list(tasks))))
        self.client.__enter__()

    def auth(self, token):
        return {"Authorization": f"Bearer {token}"}

    def get(self, url, token=None, **kwargs):
        return self.client.get(url, headers=self.auth(token or self.ann), **kwargs)

    def post(self, url, body, token=None, **kwargs):
        return self.client.post(url, json=body, headers=self.auth(token or self.ann), **kwargs)

    def labels(self):
        return [
            (r.annotator, r.clip.sample_id, r.label.value, r.label.skipped) for r in self.store.all_labels()
        ]


@pytest.fixture
def api(tmp_path):
    made = Api(tmp_path)
    yield made
    made.client.__exit__(None, None, None)


PAGES = ["/", "/label", "/listen", "/guidelines", "/dashboard"]
API_GETS = [
    "/api/me",
    "/api/next",
    "/api/progress",
    "/api/ratings/next",
    "/api/admin/stats",
    "/api/admin/export",
]


@pytest.mark.parametrize("url", PAGES + API_GETS)
def test_every_page_and_call_needs_a_valid_token(api, url):
    bare = api.client.get(url)
    assert bare.status_code == 401
    bad = api.client.get(url, headers=api.auth("not-a-token"))
    assert bad.status_code == 401
    if url.startswith("/api/"):
        assert bare.json() == {"error": "no token: open your personal login link (ask the admin for one)"}
        assert "not valid" in bad.json()["error"]
    else:
        assert "no token" in bare.text and "Please log in" in bare.text


@pytest.mark.parametrize("url", ["/api/labels", "/api/undo", "/api/ratings", "/api/admin/annotators"])
def test_posts_need_a_valid_token_and_change_nothing(api, url):
    assert api.client.post(url, json={}).status_code == 401
    assert api.client.post(url, json={}, headers=api.auth("x" * 43)).status_code == 401
    assert api.labels() == []


def test_audio_and_peaks_need_a_token(api):
    uid = api.get("/api/next").json()["clip"]["clip"]
    assert api.client.get(f"/audio/{uid}").status_code == 401
    assert api.client.get(f"/api/clips/{uid}/peaks").status_code == 401
    assert api.get(f"/audio/{uid}").status_code == 200


def test_admin_pages_refuse_annotators(api):
    for url in ("/dashboard", "/api/admin/stats", "/api/admin/export", "/api/admin/clips"):
        reply = api.get(url)
        assert reply.status_code == 403, url
    assert api.post("/api/admin/annotators", {"name": "eve"}).status_code == 403
    assert [a.name for a in api.store.annotators()] == ["ann", "bob", "boss"]


def test_the_login_link_sets_a_cookie_that_opens_the_pages(api):
    reply = api.client.get(f"/login?token={api.ann}", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={api.ann}") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = api.client.get("/")
    assert home.status_code == 200 and "Hello, ann" in home.text
    assert api.client.get("/dashboard").status_code == 403
    assert api.client.get("/login?token=wrong").status_code == 401
    api.client.get("/logout")
    assert api.client.get("/").status_code == 401


def _state(page_text):
    return json.loads(
        re.search(r'<script type="application/json" id="state">(.*?)</script>', page_text, re.S)[1]
    )


def test_the_labelling_page_shows_the_clip_its_events_and_the_question(api):
    page = api.get("/label")
    assert page.status_code == 200
    state = _state(page.text)
    clip = state["clip"]
    assert (clip["sample_id"], clip["number"], clip["of"]) == ("p000-0", 1, 2)
    assert "A bell rings and a dog barks (p000)" in page.text
    assert "<li>bell</li><li>dog</li>" in page.text
    assert "Can you hear every one of the named sounds?" in page.text
    assert f'src="/audio/{clip["clip"]}"' in page.text
    # Strict CSP: no inline script runs; the state is data.
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_label_undo_and_progress_through_the_api(api):
    first = api.get("/api/next").json()
    assert first["progress"] == {"mine": 0, "votes": 0, "needed": 12}
    uid = first["clip"]["clip"]
    reply = api.post("/api/labels", {"clip": uid, "value": 1, "seconds": 2.5})
    assert reply.status_code == 200
    body = reply.json()
    assert body["repeated"] is False and body["progress"]["mine"] == 1
    assert body["next"]["sample_id"] == "p000-1"
    again = api.post("/api/labels", {"clip": uid, "value": 1})  # a retry after a lost answer
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert api.labels() == [("ann", "p000-0", 1, False)]
    undone = api.post("/api/undo", {})
    assert undone.json()["clip"]["clip"] == uid and undone.json()["progress"]["mine"] == 0
    assert api.labels() == []
    skip = api.post("/api/labels", {"clip": uid, "skip": True, "flag": "unsure", "comment": "faint"})
    assert skip.status_code == 200
    assert api.labels() == [("ann", "p000-0", None, True)]
    assert api.store.all_labels()[0].label.comment == "faint"


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"clip": "nope", "value": 1}, 404, "no clip with id 'nope'"),
        ({"value": 1}, 422, "field 'clip': required field is missing"),
        ({"clip": "{uid}", "value": 3}, 422, "field 'value': Input should be 0 or 1"),
        ({"clip": "{uid}", "value": "yes"}, 422, "field 'value'"),
        ({"clip": "{uid}", "value": 1, "extra": 1}, 422, "field 'extra': unknown field"),
        ({"clip": "{uid}", "value": 1, "skip": True}, 400, "a skip carries no value"),
        ({"clip": "{uid}"}, 400, "value must be 1"),
        ({"clip": "{uid}", "skip": True, "flag": "boring"}, 400, "flag must be one of"),
        ({"clip": "{uid}", "value": 1, "seconds": -2}, 422, "field 'seconds'"),
        ({"clip": "{uid}", "skip": True, "comment": "x" * 2001}, 422, "field 'comment'"),
        ([1, 2], 422, "Input should be a valid dictionary"),
    ],
)
def test_malformed_bodies_get_clear_4xx_answers_and_change_nothing(api, body, status, message):
    uid = api.get("/api/next").json()["clip"]["clip"]
    if isinstance(body, dict):
        body = {k: (v.format(uid=uid) if isinstance(v, str) else v) for k, v in body.items()}
    reply = api.post("/api/labels", body)
    assert reply.status_code == status
    assert message in reply.json()["error"]
    assert api.labels() == []


def test_non_json_bodies_are_refused(api):
    uid = api.get("/api/next").json()["clip"]["clip"]
    broken = api.client.post(
        "/api/labels", content="{not json", headers={**api.auth(api.ann), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json() == {"error": "the body is not valid JSON"}
    form = api.client.post("/api/labels", data={"clip": uid, "value": "1"}, headers=api.auth(api.ann))
    assert form.status_code == 415 and "JSON" in form.json()["error"]
    assert api.labels() == []


def test_conflicts_are_409(api):
    uid = api.get("/api/next").json()["clip"]["clip"]
    clips = api.get("/api/admin/clips", token=api.admin).json()["clips"]
    other = next(c["clip"] for c in clips if c["sample_id"] == "p002-1")  # never given to ann
    api.post("/api/labels", {"clip": uid, "value": 1})
    changed = api.post("/api/labels", {"clip": uid, "value": 0})
    assert changed.status_code == 409 and "undo that answer first" in changed.json()["error"]
    not_mine = api.post("/api/labels", {"clip": other, "value": 0})
    assert not_mine.status_code == 409 and "was not given to you" in not_mine.json()["error"]
    assert api.labels() == [("ann", "p000-0", 1, False)]
    assert api.post("/api/undo", {}, token=api.bob).json() == {"error": "nothing to undo"}


def test_audio_is_served_only_for_registered_clips(api, tmp_path):
    uid = api.get("/api/next").json()["clip"]["clip"]
    audio = api.get(f"/audio/{uid}")
    assert audio.status_code == 200 and audio.headers["content-type"] in ("audio/x-wav", "audio/wav")
    assert audio.content == (tmp_path / "run" / "audio" / "p000-0.wav").read_bytes()
    assert audio.content[:4] == b"RIFF"
    write_wav(tmp_path / "secret.wav")
    for path in (
        "/audio/..%2F..%2Fsecret.wav",
        "/audio/%2e%2e/%2e%2e/secret.wav",
        "/audio/..%2Fsecret.wav",
        "/audio/%2Fetc%2Fpasswd",
        "/audio/run/audio/p000-0.wav",
        "/audio/0123456789abcdef",
    ):
        reply = api.get(path)
        assert reply.status_code == 404, path
        assert reply.content[:4] != b"RIFF"
    peaks = api.get(f"/api/clips/{uid}/peaks").json()
    assert peaks["duration"] == pytest.approx(0.25) and len(peaks["peaks"]) == 600
    assert all(-1 <= low <= high <= 1 for low, high in peaks["peaks"])
    assert max(high for _, high in peaks["peaks"]) == pytest.approx(12000 / 32768, abs=0.01)


def test_audio_of_a_clip_swapped_for_a_symlink_is_refused(api, tmp_path):
    uid = api.get("/api/next").json()["clip"]["clip"]
    target = tmp_path / "run" / "audio" / "p000-0.wav"
    write_wav(tmp_path / "secret.wav", freq=1000)
    target.unlink()
    target.symlink_to(tmp_path / "secret.wav")
    reply = api.get(f"/audio/{uid}")
    assert reply.status_code == 403 and "symlink" in reply.json()["error"]


def test_the_admin_makes_links_sees_stats_and_exports(api):
    made = api.post("/api/admin/annotators", {"name": "eve"}, token=api.admin)
    assert made.status_code == 200
    link = made.json()["link"]
    assert link.startswith("http://testserver/login?token=")
    assert api.client.get(link.replace("http://testserver", ""), follow_redirects=False).status_code == 303
    duplicate = api.post("/api/admin/annotators", {"name": "eve"}, token=api.admin)
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["error"]

    for token, value in ((api.ann, 1), (api.bob, 0)):
        uid = api.get("/api/next", token=token).json()["clip"]["clip"]
        api.post("/api/labels", {"clip": uid, "value": value}, token=token)
    stats = api.get("/api/admin/stats", token=api.admin).json()
    assert stats["campaign"]["done"] == 2 and stats["campaign"]["complete_clips"] == 1
    people = {p["name"]: p for p in stats["annotators"]}
    assert (people["ann"]["yes"], people["bob"]["no"], people["eve"]["answers"]) == (1, 1, 0)
    assert stats["balance"][0] == {
        "task": "integrity",
        "clips": 4,
        "yes": 1,
        "no": 1,
        "skips": 0,
        "yes_share": 0.5,
    }

    exported = api.get("/api/admin/export", token=api.admin)
    assert exported.status_code == 200
    (line,) = exported.text.splitlines()
    record = json.loads(line)
    assert record["sample_id"] == "p000-0" and record["label"] is None and record["mean"] == 0.5
    assert [v["annotator"] for v in record["votes"]] == ["ann", "bob"]
    dashboard = api.get("/dashboard", token=api.admin)
    assert dashboard.status_code == 200 and "Krippendorff" in dashboard.text and "ann" in dashboard.text


def test_a_server_without_ratings_says_so(tmp_path):
    made = Api(tmp_path, tasks=("labels",))
    try:
        reply = made.get("/api/ratings/next")
        assert reply.status_code == 400 and reply.json() == {"error": "this server does not offer ratings"}
        assert made.get("/listen").status_code == 400
        assert "/listen" not in made.get("/").text
    finally:
        made.client.__exit__(None, None, None)


def test_unknown_pages_and_methods(api):
    assert api.get("/nowhere").status_code == 404
    assert api.get("/api/nowhere").json() == {"error": "no such page"}
    assert api.client.put("/api/labels", headers=api.auth(api.ann)).status_code == 405


def test_a_repeated_undo_undoes_no_more(api):
    first = api.get("/api/next").json()["clip"]["clip"]
    second = api.post("/api/labels", {"clip": first, "value": 1}).json()["next"]["clip"]
    reply = api.post("/api/labels", {"clip": second, "value": 0}).json()
    assert reply["answered"] == second
    assert _state(api.get("/label").text)["last"] == second
    undone = api.post("/api/undo", {"clip": second}).json()
    assert (undone["clip"]["clip"], undone["previous"]) == (second, first)
    again = api.post("/api/undo", {"clip": second})  # the same request again (a lost reply)
    assert again.status_code == 200 and again.json()["clip"]["clip"] == second
    assert api.labels() == [("ann", "p000-0", 1, False)]  # the first answer is still there
    api.post("/api/labels", {"clip": second, "value": 1})
    stale = api.post("/api/undo", {"clip": first})  # the page thinks the first was answered last
    assert stale.status_code == 409 and "nothing was undone" in stale.json()["error"]
    assert api.post("/api/undo", {"clip": "nope"}).json() == {"error": "no clip with id 'nope'"}
    assert len(api.labels()) == 2
