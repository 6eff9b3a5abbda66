"""The dashboard's figures for a small campaign whose statistics are worked out by hand."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baton.annotation.app import AppSettings, create_app
from baton.annotation.dashboard import campaign_stats
from baton.annotation.store import Answer

from .helpers import make_samples, sqlite_store

# Clips c1 = p000-0, c2 = p000-1 (integrity), c3 = p001-0, c4 = p001-1 (temporal), labelled in that
# order by everyone; each person's votes and seconds per label.
VOTES = {"ann": [1, 1, 0, 1], "bob": [1, 0, 0, 1], "cat": [1, 1, 1, 0]}
SECONDS = {"ann": [2, 2, 2, 2], "bob": [1, 2, 3, 4], "cat": [5, 1, 1, 9]}


@pytest.fixture
def store(tmp_path):
    store = sqlite_store(tmp_path, labels_per_clip=3)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=2))
    for name in VOTES:
        person, _ = store.add_annotator(name)
        for value, seconds in zip(VOTES[name], SECONDS[name], strict=True):
            store.submit_label(person, store.next_clip(person).uid, Answer(value, seconds=seconds))
    return store


def test_agreement_figures(store):
    stats = campaign_stats(store)
    overall, integrity, temporal = stats["agreement"]
    assert (overall["task"], integrity["task"], temporal["task"]) == (None, "integrity", "temporal")
    # Fleiss, 3 ratings per clip: P_i = 1, 1/3, 1/3, 1/3, so P = 0.5; 8 yes of 12: P_e = 4/9 + 1/9 = 5/9;
    # kappa = (1/2 - 5/9) / (4/9) = -1/8.
    assert overall["fleiss_kappa"] == pytest.approx(-0.125) and overall["fleiss_clips"] == 4
    # Krippendorff: coincidences o_11 = 3 + 1 + 1 = 5, o_00 = 1, o_01 = o_10 = 3; n_1 = 8, n_0 = 4, n = 12;
    # alpha = 1 - 11 * 6 / (2 * 8 * 4) = -0.03125 (rounded to 3 digits on the dashboard).
    assert overall["krippendorff_alpha"] == pytest.approx(-0.031, abs=1e-3)
    # Integrity only (c1, c2): o_11 = 3 + 1, o_01 = o_10 = 1, n_1 = 5, n_0 = 1: alpha = 1 - 5 * 2 / 10 = 0.
    assert integrity["krippendorff_alpha"] == pytest.approx(0.0)
    # Cohen: ann-bob p_o 3/4, p_e 3/4 * 1/2 + 1/4 * 1/2 = 1/2 -> 0.5; ann-cat p_o 1/2, p_e 10/16 -> -1/3;
    # bob-cat p_o 1/4, p_e 1/2 -> -0.5.
    cohen = {(p["a"], p["b"]): (p["clips"], p["agreement"], p["kappa"]) for p in overall["cohen"]}
    assert cohen == {
        ("ann", "bob"): (4, 0.75, 0.5),
        ("ann", "cat"): (4, 0.5, -0.333),
        ("bob", "cat"): (4, 0.25, -0.5),
    }


def test_annotators_balance_time_and_progress(store):
    stats = campaign_stats(store)
    people = {p["name"]: p for p in stats["annotators"]}
    # Against the others' majority (ties left out): ann agrees on c1 (1 of 1); bob on c1, not c2
    # (1 of 2); cat on c1, not c3 or c4 (1 of 3).
    assert [(people[n]["majority_agreement"], people[n]["majority_clips"]) for n in VOTES] == [
        (1.0, 1),
        (0.5, 2),
        (0.333, 3),
    ]
    assert (people["bob"]["median_seconds"], people["cat"]["median_seconds"]) == (2.5, 3.0)
    assert people["cat"]["mean_seconds"] == 4.0
    assert (people["ann"]["yes"], people["ann"]["no"], people["ann"]["answers"]) == (3, 1, 4)
    balance = {b["task"]: b for b in stats["balance"]}
    assert (balance["integrity"]["yes"], balance["integrity"]["no"]) == (5, 1)
    assert balance["temporal"]["yes_share"] == 0.5
    assert stats["campaign"] == {
        "clips": 4,
        "labels_per_clip": 3,
        "votes": 12,
        "needed": 12,
        "done": 12,
        "complete_clips": 4,
        "clips_with_votes": 4,
        "skips": 0,
        "share_done": 1.0,
    }


def test_the_dashboard_page_shows_them(store):
    _, admin = store.add_annotator("boss", admin=True)
    with TestClient(create_app(store, AppSettings())) as client:
        page = client.get("/dashboard", headers={"Authorization": f"Bearer {admin}"})
    assert page.status_code == 200
    for text in (
        "-0.125",
        "-0.031",
        "-0.333",
        "12</strong> of 12 votes",
        "<td>bob</td><td>cat</td><td>4</td>",
    ):
        assert text in page.text, text
