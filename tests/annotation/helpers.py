"""Small samples files with real (tiny) WAV clips, a store over a fresh database, a hand-moved clock."""

from __future__ import annotations

import math
import random
import struct
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from baton.annotation.db import Database, sqlite_url
from baton.annotation.store import AnnotationStore
from baton.artifacts import SampleRecord, read_records, write_records

TEXTS = {
    "integrity": ("A bell rings and a dog barks", ["bell", "dog"]),
    "temporal": ("A siren, then a knock, then rain", ["siren", "knock", "rain"]),
}


def write_wav(path: Path, seconds: float = 0.25, rate: int = 8000, freq: float = 440.0) -> None:
    """A mono 16-bit sine: enough for a browser to play and for the waveform to draw."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n)
    )
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(frames)


def make_samples(
    folder: Path,
    prompts: int = 3,
    per_prompt: int = 2,
    *,
    backend: str = "tiny",
    seconds: float = 0.25,
    settings: dict[str, Any] | None = None,
    name: str = "samples.jsonl",
) -> Path:
    """``prompts`` x ``per_prompt`` clips in ``folder/audio``; prompts alternate integrity/temporal."""
    records = []
    for p in range(prompts):
        task = "integrity" if p % 2 == 0 else "temporal"
        text, events = TEXTS[task]
        prompt_id = f"p{p:03d}"
        for i in range(per_prompt):
            sample_id = f"{prompt_id}-{i}"
            write_wav(folder / "audio" / f"{sample_id}.wav", seconds, freq=300 + 40 * i + 10 * p)
            records.append(
                SampleRecord(
                    id=sample_id,
                    prompt_id=prompt_id,
                    text=f"{text} ({prompt_id})",
                    events=events,
                    task=task,
                    index=i,
                    path=f"audio/{sample_id}.wav",
                    seed=100 * p + i,
                    backend=backend,
                    sample_rate=8000,
                    duration=seconds,
                    settings=dict(settings or {}),
                )
            )
    path = folder / name
    write_records(path, records)
    return path


def sqlite_store(folder: Path, **kwargs: Any) -> AnnotationStore:
    db = Database(sqlite_url(folder / "labels.db"))
    db.migrate()
    return AnnotationStore(db, **kwargs)


def with_random_truth(path: Path, key: str, seed: int) -> dict[str, int]:
    """Give each clip of a samples file a random answer (1 matches, 0 not) in ``settings[key]``
    (``match`` for the simulated people's judge, ``gold`` for a gold file); returns them by sample id."""
    rng = random.Random(f"{seed}/{path.name}")
    records = read_records(path, SampleRecord)
    for record in records:
        record.settings[key] = int(rng.random() < 0.5)
    write_records(path, records)
    return {r.id: r.settings[key] for r in records}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
