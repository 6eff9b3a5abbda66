"""``kill -9`` of the server in the middle of a session loses nothing that was acknowledged: labels,
and answers on pairs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from baton.annotation.db import Database
from baton.annotation.store import AnnotationStore

from .helpers import make_samples
from .postgres import free_port

PEOPLE = 8
K = 2


# Per task: the serve flag, where to ask for work, where to answer, the item's key and an answer.
TASKS = {
    "labels": ("/api/next", "/api/labels", "clip", {"value": 1}),
    "pairs": ("/api/pairs/next", "/api/pairs", "pair", {"choice": 1}),
}


def start_server(samples: Path, db_url: str, port: int, log: Path, task: str = "labels") -> subprocess.Popen:
    command = [
        sys.executable, "-m", "baton", "annotate", "serve", "--samples", str(samples), "--db", db_url,
        "--port", str(port), "--k", str(K), "--collect", task,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the server did not start: {log.read_text()}")


def label(url: str, token: str, acknowledged: list, task: str = "labels") -> None:
    """Answer until nothing is left or the server goes away; record every answer it acknowledged."""
    first, answer, key, body = TASKS[task]
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            item = client.get(first).json()[key]
            while item is not None:
                reply = client.post(answer, json={key: item[key], **body})
                if reply.status_code != 200:
                    return
                acknowledged.append((token, item[key]))
                item = reply.json()["next"]
    except httpx.HTTPError:
        return  # the server was killed under us


def stored_answers(store: AnnotationStore, task: str) -> Counter:
    """(annotator, item uid) of every stored answer."""
    if task == "labels":
        return Counter((r.annotator, r.clip.uid) for r in store.all_labels())
    from baton.annotation.pairs import PairQueue

    return Counter((r.annotator, r.pair.uid) for r in PairQueue(store).all_preferences())


@pytest.mark.parametrize("task", ["labels", "pairs"])
def test_kill_nine_in_the_middle_loses_no_acknowledged_answer(db_url, tmp_path, task):
    # 120 clips; or 40 prompts x 3 pairs of their 3 clips: 120 pairs.
    samples = make_samples(tmp_path / "run", prompts=40, per_prompt=3, seconds=0.05)
    db = Database(db_url)
    db.migrate()
    store = AnnotationStore(db, labels_per_clip=K)
    tokens = {store.add_annotator(f"p{i}")[1]: f"p{i}" for i in range(PEOPLE)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = start_server(samples, db_url, port, log, task)

    acknowledged: list[tuple[str, str]] = []
    threads = [threading.Thread(target=label, args=(url, t, acknowledged, task)) for t in tokens]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)  # in the middle: requests are in flight
    server.wait()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 60
    acked_before = list(acknowledged)

    # Restart: every acknowledged answer is there, once.
    server = start_server(samples, db_url, port, log, task)
    try:
        stored = stored_answers(store, task)
        assert all(stored[(tokens[t], uid)] == 1 for t, uid in acked_before)
        assert max(stored.values()) == 1
        # Everyone continues where they left off and the campaign finishes exactly.
        threads = [threading.Thread(target=label, args=(url, t, acknowledged, task)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    final = Counter(uid for _, uid in stored_answers(store, task).elements())
    assert len(final) == 120 and set(final.values()) == {K}
    db.dispose()
