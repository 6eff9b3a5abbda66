"""``kill -9`` of the server in the middle of a session loses nothing that was acknowledged."""

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

from baton.annotation.db import Database
from baton.annotation.store import AnnotationStore

from .helpers import make_samples
from .postgres import free_port

PEOPLE = 8
K = 2


def start_server(samples: Path, db_url: str, port: int, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "baton", "annotate", "serve", "--samples", str(samples), "--db", db_url,
        "--port", str(port), "--k", str(K),
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


def label(url: str, token: str, acknowledged: list) -> None:
    """Label until nothing is left or the server goes away; record every answer it acknowledged."""
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            clip = client.get("/api/next").json()["clip"]
            while clip is not None:
                reply = client.post("/api/labels", json={"clip": clip["clip"], "value": 1})
                if reply.status_code != 200:
                    return
                acknowledged.append((token, clip["sample_id"]))
                clip = reply.json()["next"]
    except httpx.HTTPError:
        return  # the server was killed under us


def test_kill_nine_in_the_middle_loses_no_acknowledged_label(db_url, tmp_path):
    samples = make_samples(tmp_path / "run", prompts=40, per_prompt=3, seconds=0.05)  # 120 clips
    db = Database(db_url)
    db.migrate()
    store = AnnotationStore(db, labels_per_clip=K)
    tokens = {store.add_annotator(f"p{i}")[1]: f"p{i}" for i in range(PEOPLE)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = start_server(samples, db_url, port, log)

    acknowledged: list[tuple[str, str]] = []
    threads = [threading.Thread(target=label, args=(url, t, acknowledged)) for t in tokens]
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
    server = start_server(samples, db_url, port, log)
    try:
        stored = Counter((r.annotator, r.clip.sample_id) for r in store.all_labels())
        assert all(stored[(tokens[t], s)] == 1 for t, s in acked_before)
        assert max(stored.values()) == 1
        # Everyone continues where they left off and the campaign finishes exactly.
        threads = [threading.Thread(target=label, args=(url, t, acknowledged)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    final = Counter(r.clip.sample_id for r in store.all_labels())
    assert len(final) == 120 and set(final.values()) == {K}
    db.dispose()
