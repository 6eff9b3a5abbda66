"""Listening tests through the API: blind shuffled items, 1-5 scores, MOS per model with intervals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baton.annotation.app import AppSettings, create_app
from baton.annotation.config import MosConfig
from baton.annotation.run import load_all, mos

from .helpers import make_samples


@pytest.fixture
def listening(make_store, tmp_path, db_url):
    """Two models (base, tuned) x 2 prompts x 1 clip: two items of two clips; 2 raters per item."""
    store = make_store(raters_per_item=2)
    base = make_samples(tmp_path / "base", prompts=2, per_prompt=1)
    tuned = make_samples(tmp_path / "tuned", prompts=2, per_prompt=1)
    load_all(store, [f"base={base}", f"tuned={tuned}"])
    tokens = {name: store.add_annotator(name)[1] for name in ("ann", "bob", "cat")}
    admin = store.add_annotator("boss", admin=True)[1]
    with TestClient(create_app(store, AppSettings(tasks=["ratings"]))) as client:
        yield client, tokens, admin, db_url


def call(client, method, url, token, body=None):
    reply = client.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})
    return reply.status_code, reply.json()


def test_items_are_blind_and_shuffled_and_give_mos_per_model(listening, capsys):
    client, tokens, admin, db_url = listening
    _, clips = call(client, "GET", "/api/admin/clips", admin)
    model_of = {c["clip"]: c["model"] for c in clips["clips"]}
    # Scores each rater gives, by model: faithfulness base 2/3, tuned 4/5; quality always 3/4.
    scores = {"ann": {"base": (3, 2), "tuned": (3, 4)}, "bob": {"base": (4, 3), "tuned": (4, 5)}}
    seen_orders = []
    for name in ("ann", "bob"):
        for _ in range(2):
            status, data = call(client, "GET", "/api/ratings/next", tokens[name])
            assert status == 200
            item = data["item"]
            # Raters see random ids and letters, never the model or the sample id.
            assert [c["name"] for c in item["clips"]] == ["A", "B"]
            assert all(set(c) == {"clip", "name", "audio"} for c in item["clips"])
            assert "base" not in str(item) and "tuned" not in str(item)
            seen_orders.append(tuple(model_of[c["clip"]] for c in item["clips"]))
            # The same item comes back until it is rated (a reload changes nothing).
            assert call(client, "GET", "/api/ratings/next", tokens[name])[1]["item"] == item
            body = {
                "item": item["item"],
                "scores": {
                    c["clip"]: dict(
                        zip(("quality", "faithfulness"), scores[name][model_of[c["clip"]]], strict=True)
                    )
                    for c in item["clips"]
                },
            }
            status, done = call(client, "POST", "/api/ratings", tokens[name], body)
            assert status == 200 and done["repeated"] is False
            assert call(client, "POST", "/api/ratings", tokens[name], body)[1]["repeated"] is True
        assert call(client, "GET", "/api/ratings/next", tokens[name])[1]["item"] is None
    # Both items have their 2 raters: the third person gets nothing.
    status, data = call(client, "GET", "/api/ratings/next", tokens["cat"])
    assert data["item"] is None and data["progress"] == {"mine": 0, "ratings": 4, "needed": 4}
    assert all(set(order) == {"base", "tuned"} for order in seen_orders)

    records = {(r.model, r.metric, r.task): r for r in mos(MosConfig(db=db_url))}
    # base MOS-F: ann 2, 2 and bob 3, 3 -> mean 2.5. Each item holds one 2 and one 3, so every
    # resample of the two items has mean 2.5: the bootstrap over items has no width.
    base_f = records[("base", "mos_f", None)]
    assert base_f.value == pytest.approx(2.5) and base_f.n == 4
    assert (base_f.ci_low, base_f.ci_high) == pytest.approx((2.5, 2.5))
    assert base_f.extra["items"] == 2 and base_f.extra["interval"] == "bootstrap over items 95%"
    # Paired differences from 'base', item by item: MOS-F 4.5 - 2.5 = 2 on both items; MOS-Q 0.
    diff_f = records[("tuned", "mos_f_diff", None)]
    assert (diff_f.value, diff_f.ci_low, diff_f.ci_high, diff_f.n) == pytest.approx((2.0, 2.0, 2.0, 2))
    assert diff_f.extra["base"] == "base" and diff_f.extra["excludes_zero"] is True
    assert records[("tuned", "mos_q_diff", None)].value == pytest.approx(0.0)
    assert ("base", "mos_f_diff", None) not in records
    assert records[("tuned", "mos_f", None)].value == pytest.approx(4.5)
    assert records[("tuned", "mos_q", None)].value == pytest.approx(3.5)
    # Per task: each prompt is one task (p000 integrity, p001 temporal).
    assert records[("base", "mos_f", "integrity")].n == 2
    stats = call(client, "GET", "/api/admin/stats", admin)[1]
    assert {(m["model"], m["metric"], m["task"]): m["mean"] for m in stats["mos"]}[
        ("tuned", "mos_f", None)
    ] == pytest.approx(4.5)
    assert {(d["model"], d["metric"], d["task"]): d["difference"] for d in stats["mos_differences"]}[
        ("tuned", "mos_f", None)
    ] == pytest.approx(2.0)
    # The command shows both tables; --base names the other model.
    from baton.cli import main

    capsys.readouterr()
    for base, shown in ((None, "+2.00 – +2.00"), ("tuned", "-2.00 – -2.00")):
        with pytest.raises(SystemExit) as exit_:
            main(["annotate", "mos", "--db", db_url] + (["--base", base] if base else []))
        captured = capsys.readouterr()
        out = captured.out + captured.err
        assert exit_.value.code in (0, None) and "2.50 – 2.50" in out and shown in out
        assert f"minus {base or 'base'}" in out


def test_bad_ratings_are_refused_and_change_nothing(listening):
    client, tokens, admin, db_url = listening
    item = call(client, "GET", "/api/ratings/next", tokens["ann"])[1]["item"]
    uids = [c["clip"] for c in item["clips"]]
    good = {uid: {"quality": 3, "faithfulness": 4} for uid in uids}
    cases = [
        ({"item": "nope", "scores": good}, 404, "no listening-test item with id 'nope'"),
        ({"item": item["item"], "scores": {uids[0]: good[uids[0]]}}, 400, "rate exactly the clips"),
        (
            {"item": item["item"], "scores": {**good, uids[0]: {"quality": 6, "faithfulness": 1}}},
            400,
            "1 to 5",
        ),
        ({"item": item["item"], "scores": {**good, uids[0]: {"quality": 3}}}, 400, "a score for each of"),
        ({"item": item["item"]}, 422, "field 'scores': required field is missing"),
    ]
    for body, status, message in cases:
        got, data = call(client, "POST", "/api/ratings", tokens["ann"], body)
        assert (got, message in data["error"]) == (status, True), (body, data)
    # An item that was not given to this rater.
    got, data = call(client, "POST", "/api/ratings", tokens["bob"], {"item": item["item"], "scores": good})
    assert got == 409 and "was not given to you" in data["error"]
    assert mos(MosConfig(db=db_url)) == []
