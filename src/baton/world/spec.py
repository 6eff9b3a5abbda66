"""The fixed facts of the built-in sound world, kept in one place.

A world clip is ``CLIP_SECONDS`` of mono float32 audio at ``SAMPLE_RATE``. It holds 1 to ``MAX_EVENTS``
sound events of the classes in ``CLASSES``, laid out by one of ``RELATIONS``:

* ``single``: one event;
* ``sequence``: events one after another, in the stated order, never overlapping in time;
* ``overlap``: two events sounding together, sharing most of their time span; the first is the
  foreground, the second a little softer (the phrasing's "X with Y in the background").

Every model of the world (T2A, CLAP, detectors) is built for these values; change them and the
world must be rebuilt.
"""

from __future__ import annotations

SAMPLE_RATE = 16000
CLIP_SECONDS = 4.0
CLIP_SAMPLES = int(round(SAMPLE_RATE * CLIP_SECONDS))

# The sound-event classes, in the order of any per-class array (detector outputs, frame targets).
# Each name is also the event ``id`` in prompts/vocabularies/world.yaml.
CLASSES: tuple[str, ...] = (
    "beep",
    "chirp",
    "siren",
    "whistle",
    "tweet",
    "bell",
    "hum",
    "engine",
    "knock",
    "click_train",
    "noise_burst",
    "rain",
)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

RELATIONS: tuple[str, ...] = ("single", "sequence", "overlap")
# How many events a clip of each relation holds (as in baton.prompts.phrasing, which captions them).
RELATION_SIZES: dict[str, tuple[int, ...]] = {"single": (1,), "sequence": (2, 3), "overlap": (2,)}
MAX_EVENTS = 3
