"""The world's pretraining corpus, AudioCaps-like, and held-out clips rendered on request.

AudioCaps is mostly clips of one sound, fewer of two, few of three: a T2A model trained on such data
is weak at prompts naming several events in order, the failure BATON sets out to fix. The default mix
copies that: 70 % single events, 22 % pairs (30 % of them overlapping, the rest in sequence), 8 %
triples in sequence. Each clip carries a caption in varied natural phrasing and its exact events.

Everything is a pure function of the seed: the mix and the labels come from one generator, and clip
``i``'s audio and caption from its own (seeded by ``(seed, i)``), so two builds with one seed are
identical. :func:`render` draws from another stream, so held-out clips (the "real" clips for FAD and
the detectors' test sets) never repeat a corpus clip.

On disk a corpus is two files: ``NAME.npz`` with the audio (float32 [N, CLIP_SAMPLES], no pickle) and
``NAME.json`` beside it with the captions, relations, events and the config that built it.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baton.artifacts import atomic_write_text
from baton.config import config_to_dict, documented, option
from baton.console import track
from baton.errors import InputError
from baton.world.captions import caption
from baton.world.compose import Clip, Event, compose
from baton.world.spec import CLASSES, CLIP_SAMPLES, RELATION_SIZES, SAMPLE_RATE

FORMAT = "baton-world-corpus"
VERSION = 1
# Independent random streams of one seed: the corpus plan, its clips, held-out renders and the endless
# stream of fresh clips that long pretraining draws from.
_PLAN_STREAM, _CLIP_STREAM, _RENDER_STREAM, _FRESH_STREAM = 1, 2, 3, 4


@documented
@dataclass
class CorpusConfig:
    """What corpus to build; the shares of singles, pairs and triples must add up to 1."""

    n_clips: int = option(2000, "How many 4 s clips to build.")
    single_share: float = option(0.70, "Share of clips with one event.")
    pair_share: float = option(0.22, "Share of clips with two events.")
    triple_share: float = option(0.08, "Share of clips with three events, always in sequence.")
    overlap_share: float = option(
        0.3, "Share of the two-event clips whose events overlap ('while'); the rest are in sequence."
    )
    background_noise_db: float = option(-50.0, "RMS level (dBFS) of the faint noise floor under every clip.")
    seed: int = option(0, "Seed of everything random in the corpus: same seed, same corpus.")


@dataclass
class Corpus:
    """Clips with their captions and ground truth: ``audio`` float32 [N, CLIP_SAMPLES]."""

    audio: np.ndarray
    captions: list[str]
    relations: list[str]
    events: list[list[Event]]
    config: CorpusConfig

    sample_rate: int = SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def labels(self) -> list[list[str]]:
        """Each clip's event classes, in the caption's order."""
        return [[event.label for event in clip_events] for clip_events in self.events]

    def clip(self, index: int) -> Clip:
        return Clip(audio=self.audio[index], events=list(self.events[index]), relation=self.relations[index])

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz, the audio) and the .json sidecar beside it; return the .npz path."""
        npz_path, json_path = _paths(path)
        npz_path.parent.mkdir(parents=True, exist_ok=True)
        # The audio first, then the sidecar: a sidecar on disk means its audio is complete.
        partial = npz_path.with_name(npz_path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(handle, audio=self.audio)
        os.replace(partial, npz_path)
        sidecar = {
            "format": FORMAT,
            "version": VERSION,
            "sample_rate": self.sample_rate,
            "clip_samples": int(self.audio.shape[1]),
            "classes": list(CLASSES),
            "config": config_to_dict(self.config),
            "clips": [
                {
                    "caption": text,
                    "relation": relation,
                    "events": [{"label": e.label, "onset": e.onset, "offset": e.offset} for e in clip_events],
                }
                for text, relation, clip_events in zip(
                    self.captions, self.relations, self.events, strict=True
                )
            ],
        }
        atomic_write_text(json_path, json.dumps(sidecar, ensure_ascii=False))
        return npz_path

    @classmethod
    def load(cls, path: str | Path) -> Corpus:
        """Read a corpus written by :meth:`save` (give the .npz or the .json path)."""
        npz_path, json_path = _paths(path)
        sidecar = _read_sidecar(json_path)
        try:
            with np.load(npz_path, allow_pickle=False) as arrays:
                audio = arrays["audio"]
        except FileNotFoundError:
            raise InputError("the corpus audio file is missing", path=npz_path) from None
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"not a corpus audio file: {exc}", path=npz_path) from None
        clips = sidecar["clips"]
        expected = (len(clips), sidecar["clip_samples"])
        if audio.dtype != np.float32 or audio.shape != expected:
            raise InputError(
                f"audio is {audio.dtype} {list(audio.shape)}, the sidecar describes float32 {list(expected)}",
                path=npz_path,
                field="audio",
            )
        try:
            config = CorpusConfig(**sidecar["config"])
        except TypeError as exc:
            raise InputError(f"unreadable corpus config: {exc}", path=json_path, field="config") from None
        events = [
            [Event(str(e["label"]), float(e["onset"]), float(e["offset"])) for e in clip["events"]]
            for clip in clips
        ]
        return cls(
            audio=audio,
            captions=[clip["caption"] for clip in clips],
            relations=[clip["relation"] for clip in clips],
            events=events,
            config=config,
            sample_rate=sidecar["sample_rate"],
        )


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".npz"), path.with_name(path.name + ".json")


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("the corpus sidecar is missing", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a world corpus (expected format '{FORMAT}')", path=path, field="format")
    if data.get("version") != VERSION:
        raise InputError(
            f"unsupported version {data.get('version')!r} (this baton reads {VERSION})",
            path=path,
            field="version",
        )
    if data.get("sample_rate") != SAMPLE_RATE:
        raise InputError(
            f"sample rate {data.get('sample_rate')!r}, the world is {SAMPLE_RATE} Hz",
            path=path,
            field="sample_rate",
        )
    if data.get("classes") != list(CLASSES):
        raise InputError(
            "built for other sound classes than this baton's world: rebuild it", path=path, field="classes"
        )
    for key, kind in (("clip_samples", int), ("config", dict), ("clips", list)):
        if not isinstance(data.get(key), kind):
            raise InputError(f"required, as a {kind.__name__}", path=path, field=key)
    for index, clip in enumerate(data["clips"]):
        where = f"clips[{index}]"
        if not isinstance(clip, dict) or not isinstance(clip.get("caption"), str):
            raise InputError("each clip needs a caption string", path=path, field=f"{where}.caption")
        if clip.get("relation") not in RELATION_SIZES or not isinstance(clip.get("events"), list):
            raise InputError("each clip needs a known relation and a list of events", path=path, field=where)
        for number, event in enumerate(clip["events"]):
            if not isinstance(event, dict) or event.get("label") not in CLASSES:
                raise InputError(
                    "an event needs a known class label", path=path, field=f"{where}.events[{number}]"
                )
    return data


# --- building ------------------------------------------------------------------------------------


def mix_counts(config: CorpusConfig) -> dict[str, int]:
    """How many clips of each kind: ``single``, ``pair_sequence``, ``pair_overlap``, ``triple``.

    Counts are exact shares of ``n_clips`` (largest remainders), not random draws, so a corpus of 100
    clips holds exactly 70 singles, 22 pairs and 8 triples by default.
    """
    _check_config(config)
    shares = np.array([config.single_share, config.pair_share, config.triple_share])
    exact = shares / shares.sum() * config.n_clips
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: config.n_clips - counts.sum()]:
        counts[i] += 1
    overlap = int(round(config.overlap_share * counts[1]))
    return {
        "single": int(counts[0]),
        "pair_sequence": int(counts[1] - overlap),
        "pair_overlap": overlap,
        "triple": int(counts[2]),
    }


def _check_config(config: CorpusConfig) -> None:
    if config.n_clips < 1:
        raise InputError("must be at least 1", field="n_clips")
    for name in ("single_share", "pair_share", "triple_share", "overlap_share"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise InputError(f"must be between 0 and 1, got {value}", field=name)
    total = config.single_share + config.pair_share + config.triple_share
    if abs(total - 1.0) > 1e-6:
        raise InputError(
            f"single_share + pair_share + triple_share must be 1, got {total:g}", field="single_share"
        )
    if config.seed < 0:
        raise InputError("must be a non-negative integer", field="seed")


def plan_corpus(config: CorpusConfig) -> list[tuple[list[str], str]]:
    """Each clip's (labels, relation), in corpus order. Singles cover the classes evenly."""
    counts = mix_counts(config)
    rng = np.random.default_rng((_PLAN_STREAM, config.seed))
    n_classes = len(CLASSES)

    # Singles: every class the same number of times (+-1), so the rarest class is still well learned.
    single_classes = rng.permutation(np.resize(rng.permutation(n_classes), counts["single"]))
    plan: list[tuple[list[str], str]] = [([CLASSES[c]], "single") for c in single_classes]
    # Several events: distinct classes, drawn at random.
    for kind, size, relation in (
        ("pair_sequence", 2, "sequence"),
        ("pair_overlap", 2, "overlap"),
        ("triple", 3, "sequence"),
    ):
        for _ in range(counts[kind]):
            plan.append(([CLASSES[c] for c in rng.permutation(n_classes)[:size]], relation))
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def build_corpus(config: CorpusConfig, *, progress: bool = False) -> Corpus:
    """Synthesize, compose and caption ``config.n_clips`` clips (deterministic for ``config.seed``)."""
    plan = plan_corpus(config)
    audio = np.empty((len(plan), CLIP_SAMPLES), dtype=np.float32)  # [N, CLIP_SAMPLES]
    captions, relations, events = [], [], []
    for index, (labels, relation) in enumerate(track(plan, "world corpus", enabled=progress)):
        rng = np.random.default_rng((_CLIP_STREAM, config.seed, index))
        clip = compose(
            labels, relation, rng, background_noise_db=config.background_noise_db, out=audio[index]
        )
        relations.append(relation)
        events.append(clip.events)
        captions.append(caption(labels, relation, random.Random(f"world-corpus:{config.seed}:{index}")))
    return Corpus(audio=audio, captions=captions, relations=relations, events=events, config=config)


def build_world_corpus(folder: Path, settings: dict[str, Any], progress: bool = False) -> dict[str, Any]:
    """A world's corpus step: the corpus of ``settings["corpus"]`` built and saved as ``folder``;
    its figures (clips, and the mix of single events, pairs and triples)."""
    config = CorpusConfig(**settings["corpus"])
    corpus = build_corpus(config, progress=progress)
    corpus.save(folder)
    return {"clips": len(corpus), "mix": mix_counts(config)}


def stream_clips(config: CorpusConfig, start: int, count: int) -> Corpus:
    """Clips ``start .. start + count - 1`` of the endless stream of fresh clips of ``config``'s mix.

    Each clip is a pure function of ``(config.seed, index)``: its kind is drawn with the mix's shares
    (``n_clips`` is ignored), its classes uniformly, and its audio and caption from generators of its
    own, so that any stretch of the stream can be made again, in any order, in any process. Long
    pretraining reads clip ``i`` once: fresh data every batch instead of epochs over a fixed corpus.
    A stream of its own: never a corpus clip nor a held-out :func:`render`.
    """
    audio = np.empty((count, CLIP_SAMPLES), dtype=np.float32)  # [count, CLIP_SAMPLES]
    captions, relations, events = [], [], []
    for row, (labels, relation, text, rng) in enumerate(_stream_plan(config, start, count)):
        clip = compose(labels, relation, rng, background_noise_db=config.background_noise_db, out=audio[row])
        relations.append(relation)
        events.append(clip.events)
        captions.append(text)
    return Corpus(audio=audio, captions=captions, relations=relations, events=events, config=config)


def stream_captions(config: CorpusConfig, start: int, count: int) -> list[str]:
    """The captions of :func:`stream_clips`' clips, without composing their audio."""
    return [text for _, _, text, _ in _stream_plan(config, start, count)]


def _stream_plan(
    config: CorpusConfig, start: int, count: int
) -> Iterator[tuple[list[str], str, str, np.random.Generator]]:
    """Each stream clip's labels, relation and caption, and the generator its audio is composed from."""
    _check_config(config)
    if start < 0 or count < 0:
        raise ValueError(f"start and count must be non-negative, got {start} and {count}")
    pair_sequence = config.pair_share * (1.0 - config.overlap_share)
    kinds = (  # (cumulative share, size, relation)
        (config.single_share, 1, "single"),
        (config.single_share + pair_sequence, 2, "sequence"),
        (config.single_share + config.pair_share, 2, "overlap"),
        (float("inf"), 3, "sequence"),
    )
    for index in range(start, start + count):
        rng = np.random.default_rng((_FRESH_STREAM, config.seed, index))
        draw = rng.random()
        size, relation = next((size, relation) for edge, size, relation in kinds if draw < edge)
        labels = [CLASSES[c] for c in rng.permutation(len(CLASSES))[:size]]
        text = caption(labels, relation, random.Random(f"world-stream:{config.seed}:{index}"))
        yield labels, relation, text, rng


def render(
    labels: list[str] | tuple[str, ...], relation: str, seed: int, background_noise_db: float = -50.0
) -> Clip:
    """A held-out clip of ``labels`` laid out by ``relation``: same seed, same clip.

    Drawn from a stream of its own, so it is never one of the corpus's clips; used for the "real"
    clips of FAD and for the detectors' test sets.
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng((_RENDER_STREAM, seed))
    return compose(labels, relation, rng, background_noise_db=background_noise_db)
