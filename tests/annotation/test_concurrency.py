"""50 annotators at once over real HTTP: no label lost, duplicated or given to the wrong person."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter

import httpx
from sqlalchemy import func, select

from baton.annotation.app import AppSettings, create_app
from baton.annotation.models import LabelAssignment
from baton.annotation.server import BackgroundServer

from .helpers import make_samples

PEOPLE = 50
K = 5


def vote_of(person: str, sample_id: str) -> int:
    """Each person's vote on each clip is fixed in advance, so a misplaced label shows."""
    return hashlib.sha256(f"{person}/{sample_id}".encode()).digest()[0] % 2


def run_annotators(url: str, tokens: dict[str, str]) -> tuple[list[tuple[str, str, int]], list[str]]:
    """Every person labels until nothing is left; every 7th answer is sent twice (a lost reply)."""
    acknowledged: list[tuple[str, str, int]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(tokens))

    def person(name: str) -> None:
        mine = []
        try:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=120
            ) as client:
                start.wait()
                clip = client.get("/api/next").json()["clip"]
                count = 0
                while clip is not None:
                    body = {"clip": clip["clip"], "value": vote_of(name, clip["sample_id"])}
                    reply = client.post("/api/labels", json=body)
                    assert reply.status_code == 200, reply.text
                    mine.append((name, clip["sample_id"], body["value"]))
                    count += 1
                    if count % 7 == 0:
                        again = client.post("/api/labels", json=body)
                        assert again.status_code == 200 and again.json()["repeated"] is True, again.text
                    clip = reply.json()["next"]
        except Exception as exc:  # collected and asserted in the test's thread
            errors.append(f"{name}: {exc!r}")
        with lock:
            acknowledged.extend(mine)

    threads = [threading.Thread(target=person, args=(name,)) for name in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged, errors


def test_fifty_concurrent_annotators(make_store, tmp_path):
    store = make_store(labels_per_clip=K)
    store.load_samples(make_samples(tmp_path, prompts=100, per_prompt=3, seconds=0.05))  # 300 clips
    tokens = {f"p{i:02d}": store.add_annotator(f"p{i:02d}")[1] for i in range(PEOPLE)}
    with BackgroundServer(create_app(store, AppSettings())) as server:
        acknowledged, errors = run_annotators(server.url, tokens)
    assert errors == []

    stored = [(r.annotator, r.clip.sample_id, r.label.value) for r in store.all_labels()]
    # Nothing lost, nothing invented: the database holds exactly what was acknowledged.
    assert len(acknowledged) == 300 * K == 1500
    assert Counter(stored) == Counter(acknowledged)
    # No clip labelled twice by one person; every clip has exactly K votes from K people.
    assert len({(a, s) for a, s, _ in stored}) == len(stored)
    per_clip = Counter(s for _, s, _ in stored)
    assert set(per_clip.values()) == {K} and len(per_clip) == 300
    # Every label carries the vote its annotator meant for that clip.
    assert all(value == vote_of(a, s) for a, s, value in stored)
    # Work was spread: everyone labelled, and nobody left a clip held.
    assert len({a for a, _, _ in stored}) == PEOPLE
    with store.db.read() as session:
        assert session.execute(select(func.count(LabelAssignment.id))).scalar_one() == 0
