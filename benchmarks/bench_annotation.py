"""Label-submit latency (p50, p99) and labels per second for 50 concurrent annotators, on loopback.

For each database (a SQLite file in WAL mode; a PostgreSQL 15 server started for the run, skipped
when its binaries are absent) the real server runs as its own process (``baton annotate serve``), and
50 clients in this process (asyncio + httpx, one connection each) each label until no clip is left
(after one client alone gave 50 labels, for the latency of a submit nobody queues before):
``POST /api/labels`` records the answer durably and returns the next clip. Latency is measured per
submit, from sending the request to reading the whole reply; labels/s over the whole run.
``complete`` says the database afterwards holds every acknowledged label exactly once, and every clip
its K labels from K different people.

    python -m benchmarks.run --only annotation [--quick]
    python benchmarks/bench_annotation.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # standalone runs: the repository's tests/ helpers

CLIENTS = 50
SOLO_LABELS = 50  # labels one client gives alone before the 50 start
LABELS_PER_CLIP = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(samples: Path, db: str, port: int, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "baton", "annotate", "serve", "--samples", str(samples), "--db", db,
        "--port", str(port), "--k", str(LABELS_PER_CLIP), "--log-level", "warning",
    ]  # fmt: skip
    handle = log.open("w")
    process = subprocess.Popen(
        command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"}
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _label_until_done(
    url: str, tokens: list[str], limit: int | None = None
) -> tuple[list[float], int, float]:
    """Each token labels until no clip is left (or ``limit`` labels each); returns the submit
    latencies, the labels given and the seconds it took."""
    import httpx

    latencies: list[float] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def person(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
            clip = (await client.get("/api/next")).json()["clip"]
            given = 0
            while clip is not None and (limit is None or given < limit):
                given += 1
                start = time.perf_counter()
                reply = await client.post(
                    "/api/labels", json={"clip": clip["clip"], "value": 1, "seconds": 1.0}
                )
                body = reply.json()
                latencies.append(time.perf_counter() - start)
                if reply.status_code != 200:
                    raise RuntimeError(f"{reply.status_code}: {body}")
                clip = body["next"]

    start = time.perf_counter()
    await asyncio.gather(*(person(t) for t in tokens))
    return latencies, len(latencies), time.perf_counter() - start


def _measure(name: str, db: str, samples: Path, work: Path, clips: int) -> dict:
    from baton.annotation.run import open_store

    store = open_store(db, labels_per_clip=LABELS_PER_CLIP)
    store.load_samples(samples)
    tokens = [store.add_annotator(f"bench-{i:02d}")[1] for i in range(CLIENTS)]
    store.db.dispose()
    port = _free_port()
    server = _start_server(samples, db, port, work / f"server-{name}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        # One person alone first: the time a submit takes when nobody queues before it.
        alone, alone_labels, _ = asyncio.run(_label_until_done(url, tokens[:1], limit=SOLO_LABELS))
        cpu_before = _cpu_seconds(server.pid)
        latencies, labels, seconds = asyncio.run(_label_until_done(url, tokens))
        server_cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    alone.sort()
    expected = clips * LABELS_PER_CLIP
    # What the database holds afterwards: every acknowledged label once, K per clip, K people each.
    store = open_store(db, labels_per_clip=LABELS_PER_CLIP)
    stored = [(row.annotator, row.clip.id) for row in store.all_labels()]
    store.db.dispose()
    per_clip = Counter(clip for _, clip in stored)
    intact = (
        len(stored) == labels + alone_labels == expected
        and len(set(stored)) == len(stored)
        and len(per_clip) == clips
        and set(per_clip.values()) == {LABELS_PER_CLIP}
    )
    return {
        "labels": labels + alone_labels,
        "complete": intact,
        "single_client_latency_ms_p50": round(1000 * statistics.median(alone), 2),
        "clients": CLIENTS,
        "labels_per_clip": LABELS_PER_CLIP,
        "seconds": round(seconds, 2),
        "labels_per_second": round(labels / seconds, 1),
        "submit_latency_ms_p50": round(1000 * statistics.median(latencies), 2),
        "submit_latency_ms_p99": round(
            1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2
        ),
        "submit_latency_ms_max": round(1000 * latencies[-1], 2),
        # CPU the server process spent per label (request parsing, the database work, the reply):
        # steadier than the timings on a shared machine.
        "server_cpu_ms_per_label": round(1000 * server_cpu / max(labels, 1), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(quick: bool = False) -> dict:
    from tests.annotation.helpers import make_samples
    from tests.annotation.postgres import PostgresServer, missing_reason

    prompts = 40 if quick else 200  # x 3 clips x 5 labels: 600 or 3000 labels
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-annotation-") as tmp:
        work = Path(tmp)
        samples = make_samples(work / "run", prompts=prompts, per_prompt=3, seconds=0.05)
        clips = prompts * 3
        results["sqlite"] = _measure("sqlite", f"sqlite:///{work / 'labels.db'}", samples, work, clips)
        reason = missing_reason()
        if reason is not None:
            results["postgresql"] = {"skipped": reason}
        else:
            server = PostgresServer().start()
            try:
                results["postgresql"] = _measure("postgresql", server.create_database(), samples, work, clips)
            finally:
                server.stop()
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
