"""The composer: lays 1-3 synthesized events on a 4 s timeline and keeps their exact ground truth.

* ``single``: one event at a random place in the clip.
* ``sequence``: the events in the given order, each starting at least ``MIN_GAP_SECONDS`` after the
  previous one ended, so the order is well defined. Events too long to fit are shortened toward
  their class's minimum duration.
* ``overlap``: two events sound together. Their durations are drawn from the upper half of their
  class's range, and the shorter keeps at least ``MIN_OVERLAP_SHARE`` of its own duration inside the
  longer one's span, so they share most of their time. Which one starts first is random. The first
  label is the foreground; the second is ``BACKGROUND_DB`` softer.

Every event keeps ``MARGIN_SECONDS`` away from the clip's edges. Onsets and offsets are whole samples,
so ``Event.onset * SAMPLE_RATE`` is the exact first sample of the event. A faint noise floor
(``background_noise_db`` dBFS RMS) keeps silence from being digital zero, as in any recording: it is
a slice, at a random place and with a random sign, of one fixed 16 s stretch of white noise (the
"room tone"), because drawing 64,000 fresh normal samples per clip would be the slowest step of
building a corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from baton.world import synth
from baton.world.spec import CLASSES, CLIP_SAMPLES, RELATION_SIZES, RELATIONS, SAMPLE_RATE

MARGIN_SECONDS = 0.05
MIN_GAP_SECONDS = 0.1
MIN_OVERLAP_SHARE = 0.7
# How much softer (dB) the background event of an overlap is than it would be alone.
BACKGROUND_DB = (3.0, 6.0)
# The mix is scaled down if three loud events ever add up past this peak.
CLIP_PEAK_LIMIT = 0.95
ROOM_TONE_SEED = 16000


@dataclass(frozen=True)
class Event:
    """One sound event of a clip: its class and its span in seconds from the clip's start."""

    label: str
    onset: float
    offset: float

    @property
    def duration(self) -> float:
        return self.offset - self.onset


@dataclass
class Clip:
    """A composed clip: audio float32 [CLIP_SAMPLES], its events (in the order asked for), the relation."""

    audio: np.ndarray
    events: list[Event]
    relation: str

    @property
    def labels(self) -> list[str]:
        return [event.label for event in self.events]


def check_request(labels: Sequence[str], relation: str) -> None:
    """Raise a ``ValueError`` saying what is wrong with a (labels, relation) request."""
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; expected one of: {', '.join(RELATIONS)}")
    for label in labels:
        synth.check_class(label)
    sizes = RELATION_SIZES[relation]
    if len(labels) not in sizes:
        allowed = " or ".join(str(size) for size in sizes)
        noun = "events" if max(sizes) > 1 else "event"
        raise ValueError(f"relation {relation!r} takes {allowed} {noun}, got {len(labels)}")


def compose(
    labels: Sequence[str],
    relation: str,
    rng: np.random.Generator,
    background_noise_db: float | None = -50.0,
    out: np.ndarray | None = None,
) -> Clip:
    """Synthesize ``labels`` and lay them out by ``relation``; ``None`` noise means exact silence between.

    ``out``, a float32 [CLIP_SAMPLES] array (a row of a corpus), receives the audio in place of a new
    array.
    """
    labels = list(labels)
    check_request(labels, relation)

    # 1. Durations and start samples.
    if relation == "overlap":
        lengths, starts = _overlap_layout(labels, rng)
    else:
        lengths, starts = _sequence_layout(labels, rng)

    # 2. Synthesize and mix.
    if out is None:
        audio = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    elif out.shape != (CLIP_SAMPLES,) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 [{CLIP_SAMPLES}], got {out.dtype} {list(out.shape)}")
    else:
        audio = out
        audio[:] = 0.0
    events = []
    for i, (label, length, start) in enumerate(zip(labels, lengths, starts, strict=True)):
        sound = synth.synthesize(label, rng, duration=length / SAMPLE_RATE)
        assert len(sound) == length
        if relation == "overlap" and i > 0:
            sound *= np.float32(10.0 ** (-rng.uniform(*BACKGROUND_DB) / 20.0))
        audio[start : start + length] += sound
        events.append(Event(label, start / SAMPLE_RATE, (start + length) / SAMPLE_RATE))

    # 3. Noise floor, then a safety margin below full scale.
    if background_noise_db is not None:
        table = _room_tone()
        start = int(rng.integers(0, len(table) - CLIP_SAMPLES + 1))
        level = np.float32(rng.choice([-1.0, 1.0]) * 10.0 ** (background_noise_db / 20.0))
        audio += table[start : start + CLIP_SAMPLES] * level
    peak = float(np.max(np.abs(audio)))
    if peak > CLIP_PEAK_LIMIT:
        audio *= np.float32(CLIP_PEAK_LIMIT / peak)
    return Clip(audio=audio, events=events, relation=relation)


@lru_cache(maxsize=1)
def _room_tone() -> np.ndarray:
    """Unit-variance white noise, float32 [2**18] (16.4 s), the same in every process."""
    noise = np.random.default_rng(ROOM_TONE_SEED).standard_normal(2**18, dtype=np.float32)
    noise.flags.writeable = False
    return noise


def _sequence_layout(labels: list[str], rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Lengths and starts (samples) of events placed one after another (also serves ``single``)."""
    margin = int(round(MARGIN_SECONDS * SAMPLE_RATE))
    gap = int(round(MIN_GAP_SECONDS * SAMPLE_RATE))
    budget = CLIP_SAMPLES - 2 * margin - (len(labels) - 1) * gap

    wanted = np.array([synth.draw_duration(label, rng) for label in labels]) * SAMPLE_RATE
    shortest = np.array([synth.DURATION_RANGE[label][0] for label in labels]) * SAMPLE_RATE
    if wanted.sum() > budget:
        # Shrink every event toward its class minimum by the same fraction, just enough to fit.
        fraction = (budget - shortest.sum()) / (wanted.sum() - shortest.sum())
        wanted = shortest + (wanted - shortest) * fraction
    lengths = np.floor(wanted).astype(np.int64)

    # Spread the slack at random over the lead-in, the gaps and the tail.
    slack = budget - int(lengths.sum())
    shares = np.floor(rng.dirichlet(np.ones(len(labels) + 1)) * slack).astype(np.int64)
    starts = []
    cursor = margin + int(shares[0])
    for i, length in enumerate(lengths):
        starts.append(cursor)
        cursor += int(length) + gap + int(shares[i + 1])
    return [int(n) for n in lengths], starts


def _overlap_layout(labels: list[str], rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Lengths and starts (samples) of events that sound together around the longest one.

    Written for any number of events, though ``check_request`` lets through only pairs.
    """
    margin = int(round(MARGIN_SECONDS * SAMPLE_RATE))
    lengths = []
    for label in labels:
        low, high = synth.DURATION_RANGE[label]
        lengths.append(int(round((low + (high - low) * rng.uniform(0.5, 1.0)) * SAMPLE_RATE)))
    anchor = int(np.argmax(lengths))

    # Offsets relative to the anchor's start: each event keeps MIN_OVERLAP_SHARE of itself inside it.
    offsets = []
    for i, length in enumerate(lengths):
        if i == anchor:
            offsets.append(0)
            continue
        outside = int(np.floor((1.0 - MIN_OVERLAP_SHARE) * length))
        offsets.append(int(rng.integers(-outside, lengths[anchor] - length + outside + 1)))
    first = min(offsets)
    span = max(o + n for o, n in zip(offsets, lengths, strict=True)) - first

    lead = int(rng.integers(margin, CLIP_SAMPLES - margin - span + 1))
    return lengths, [lead + o - first for o in offsets]


def frame_targets(
    events: Sequence[Event],
    n_frames: int,
    hop_seconds: float,
    classes: Sequence[str] = CLASSES,
) -> np.ndarray:
    """Per-frame activity of each class: float32 [n_frames, len(classes)], 1 where an event sounds.

    Frame ``t`` stands for the instant ``t * hop_seconds`` (the centre of its window, as with a
    centred STFT, which gives ``1 + samples // hop`` frames). It is active for an event when
    ``onset <= t * hop_seconds < offset``, with a nanosecond of tolerance for float rounding.
    """
    index = {name: i for i, name in enumerate(classes)}
    targets = np.zeros((n_frames, len(classes)), dtype=np.float32)
    times = np.arange(n_frames) * hop_seconds
    tolerance = 1e-9
    for event in events:
        if event.label not in index:
            raise ValueError(f"event label {event.label!r} is not among the classes given")
        active = (times >= event.onset - tolerance) & (times < event.offset - tolerance)
        targets[active, index[event.label]] = 1.0
    return targets
