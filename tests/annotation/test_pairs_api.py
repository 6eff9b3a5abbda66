"""The A/B task in the app, in-process: pages and calls, answers as played, undo, bad requests, export,
the dashboard's pair statistics, gold accuracy and early answers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from baton.annotation.app import AppSettings, create_app
from baton.annotation.pairs import PairQueue
from baton.artifacts import SampleRecord, read_records, write_records

from .helpers import make_samples, sqlite_store

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    # A clock that stands still: every answer comes "at once", before its clips could be heard.
    store = sqlite_store(tmp_path, labels_per_clip=2, gold_every=3, clock=lambda: NOW)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=3))
    gold = make_samples(tmp_path / "gold", prompts=1, per_prompt=2, name="gold.jsonl")
    records = read_records(gold, SampleRecord)
    write_records(gold, [r.model_copy(update={"settings": {"gold": r.index == 1}}) for r in records])
    store.load_samples(gold, gold=True)
    PairQueue(store).form()
    tokens = {name: store.add_annotator(name, admin=name == "boss")[1] for name in ("ann", "bob", "boss")}
    with TestClient(create_app(store, AppSettings(tasks=["labels", "pairs"]))) as client:
        yield store, client, tokens


def call(client, token, method, url, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, json=body, headers=headers)


def test_compare_answer_as_played_undo_and_progress(app):
    store, client, tokens = app
    ann = tokens["ann"]
    page = call(client, ann, "GET", "/pairs")
    assert page.status_code == 200 and "First is better" in page.text
    state = json.loads(
        page.text.split('<script type="application/json" id="state">')[1].split("</script>")[0]
    )
    pair = state["pair"]
    assert pair["text"] == "A bell rings and a dog barks (p000)" and (pair["number"], pair["of"]) == (1, 3)
    assert state["progress"] == {"mine": 0, "votes": 0, "needed": 12}  # 6 pairs x 2; the gold pair apart
    assert call(client, ann, "GET", "/api/pairs/next").json()["pair"]["pair"] == pair["pair"]

    # 2: the clip played second is better.
    reply = call(client, ann, "POST", "/api/pairs", {"pair": pair["pair"], "choice": 2})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["repeated"] is False and data["progress"]["mine"] == 1 and data["next"]["number"] == 2
    again = call(client, ann, "POST", "/api/pairs", {"pair": pair["pair"], "choice": 2})
    assert again.json()["repeated"] is True
    conflict = call(client, ann, "POST", "/api/pairs", {"pair": pair["pair"], "choice": 1})
    assert conflict.status_code == 409 and "already answered" in conflict.json()["error"]
    (row,) = PairQueue(store).all_preferences()
    better = row.first if row.preference.choice == "first" else row.second
    assert better.sample_id == pair["clips"][1]["sample_id"]

    undone = call(client, ann, "POST", "/api/pairs/undo", {"pair": pair["pair"]})
    assert undone.status_code == 200 and undone.json()["pair"]["pair"] == pair["pair"]
    assert undone.json()["pair"]["clips"] == pair["clips"]  # the same order as before
    assert undone.json()["previous"] is None and undone.json()["progress"]["mine"] == 0
    nothing = call(client, tokens["bob"], "POST", "/api/pairs/undo", {})
    assert nothing.status_code == 400 and nothing.json()["error"] == "nothing to undo"

    home = call(client, ann, "GET", "/")
    assert "Compare clips" in home.text and 'href="/pairs"' in home.text
    assert call(client, ann, "GET", "/api/progress").json()["pairs"]["needed"] == 12


def test_bad_pair_requests(app):
    _, client, tokens = app
    ann = tokens["ann"]
    pair = call(client, ann, "GET", "/api/pairs/next").json()["pair"]["pair"]
    bad = call(client, ann, "POST", "/api/pairs", {"pair": pair, "choice": 4})
    assert bad.status_code == 422 and "choice" in bad.json()["error"]
    assert call(client, ann, "POST", "/api/pairs", {"pair": pair}).json()["error"] == (
        "field 'choice': required field is missing"
    )
    assert call(client, ann, "POST", "/api/pairs", {"pair": "nope", "choice": 1}).status_code == 404
    assert call(client, ann, "POST", "/api/pairs", {"pair": pair, "choice": 1, "x": 1}).status_code == 422
    assert client.get("/api/pairs/next").status_code == 401


def test_a_server_without_the_task_refuses_it(tmp_path):
    store = sqlite_store(tmp_path)
    store.load_samples(make_samples(tmp_path / "run"))
    _, token = store.add_annotator("ann")
    with TestClient(create_app(store, AppSettings(tasks=["labels"]))) as client:
        reply = call(client, token, "GET", "/api/pairs/next")
        assert reply.status_code == 400 and reply.json()["error"] == "this server does not offer pairs"
        assert 'href="/pairs"' not in call(client, token, "GET", "/").text


def test_export_and_dashboard_show_pairs_gold_and_early_answers(app):
    store, client, tokens = app
    # Ann and bob answer every pair they are given; the third answer of each is on the gold pair.
    for name in ("ann", "bob"):
        token = tokens[name]
        pair = call(client, token, "GET", "/api/pairs/next").json()["pair"]
        while pair is not None:
            gold_pair = pair["model"] == "gold"
            # On the gold pair, pick the clip that matches (index 1); elsewhere always the first played.
            choice = 1 + [c["sample_id"] for c in pair["clips"]].index("p000-1") if gold_pair else 1
            pair = call(client, token, "POST", "/api/pairs", {"pair": pair["pair"], "choice": choice}).json()[
                "next"
            ]
    stats = call(client, tokens["boss"], "GET", "/api/admin/stats").json()
    pairs = stats["pairs"]
    assert (pairs["pairs"], pairs["done"], pairs["needed"], pairs["complete_pairs"]) == (6, 12, 12, 6)
    assert pairs["played_first_share"] == 1.0  # they always chose the clip played first
    people = {a["name"]: a for a in stats["annotators"]}
    assert people["ann"]["pair_answers"] == 7 and people["ann"]["gold_answered"] == 1
    assert people["ann"]["gold_accuracy"] == 1.0
    assert people["ann"]["early"] == 7  # answered at once, before the 0.5 s the two clips last
    assert pairs["agreement"][0]["clips"] == 6

    exported = call(client, tokens["boss"], "GET", "/api/admin/export?task=pairs")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert len(lines) == 6 and all(line["schema"] == "pair/1" for line in lines)
    assert exported.headers["content-disposition"] == 'attachment; filename="pairs.jsonl"'
    dashboard = call(client, tokens["boss"], "GET", "/dashboard")
    assert 'id="pairs"' in dashboard.text and "1 / 1 (1.00)" in dashboard.text
