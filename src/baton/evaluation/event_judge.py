"""An open-vocabulary event judge: which events a prompt names sound in a clip, and when each starts.

It needs nothing but a CLAP-style encoder pair: any object with ``embed_audio(audio, sample_rate)``
``-> [N, D]`` and ``embed_text(texts) -> [N, D]`` in one space (the evaluation's
:class:`~baton.evaluation.scorers.AudioTextEmbedder`). :func:`load_embedder` gives one for the world
CLAP (``world``, ``world:DIR``) and for a transformers ``ClapModel`` (``clap:DIR_OR_HUB_ID``, e.g.
LAION-CLAP, its audio resampled to the model's 48 kHz; :class:`baton.evaluation.pretrained.ClapJudge`).

How a clip is read:

1. **Vocabulary.** The judge knows a list of events (:func:`judge_vocabulary`), each with a few
   phrasings; an event's text embedding ``t_c`` is the normalised mean of its phrasings' embeddings.
   Events not in any vocabulary are phrased from their ids (``dog_bark`` -> "Dog bark."), which is
   what makes it open-vocabulary: the prompt's events need not be known in advance.
2. **Windows.** The clip is cut into windows of ``window`` seconds every ``hop`` seconds (a clip
   shorter than a window is one window), each embedded as a clip of its own: ``a_w``.
3. **Window probabilities**, zero-shot classification as CLAP does it: ``p[w, c] = softmax_c(cos(a_w,
   t_c) / temperature)`` over the whole vocabulary, at the encoder's own learned temperature unless
   one is given. The softmax is over every event the judge knows, not only the prompt's, so that a
   window of some other sound is not read as one of the named events.
4. **Silence.** A softmax names some event even in silence, so windows whose RMS level lies more than
   ``gate_db`` below the clip's loudest window get ``p = 0``.
5. **Reading**, as the world's detectors read frame probabilities
   (:func:`baton.world.detectors.read_events`): window ``w`` stands for its centre; hysteresis
   between ``low_threshold`` and ``threshold``; same-event segments closer than ``max_gap`` merged;
   segments shorter than ``min_duration`` dropped. The result is timed events
   (:class:`~baton.world.detectors.DetectedEvent`, onset = centre of the first window that reads it).
6. **Judging**, as the world's evaluator is judged (:func:`baton.evaluation.event_accuracy.judge_clip`):
   integrity = every named event read; temporal = that, and their first onsets in the stated order.

As AI feedback (:meth:`EventJudge.rewards`), the soft score of the world's simulated annotator,
:func:`baton.world.detectors.probability_match`, on the same window probabilities: the product of the
named events' highest window probabilities, times ``sigmoid((s_b - s_a) / order_scale)`` for each
consecutive pair of soft onsets when the order counts (an event occurrence and an event sequence
score, as T2A-Feedback's).

The defaults were chosen on world clips of known content (see ``benchmarks/bench_judge.py`` and
docs/results.md): windows of 0.5-1.2 s, thresholds 0.2-0.5 and gates of 15-30 dB all agree with the
truth within a few points; the gate and the minimum duration matter most (without the gate,
integrity agreement drops by about 4 points).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from baton.config import config_to_dict, documented, option
from baton.errors import InputError
from baton.evaluation.event_accuracy import judge_clip, judgement_for
from baton.evaluation.scorers import WorldClapEmbedder, identity_of, judge_identity
from baton.fingerprints import fingerprint_of
from baton.prompts.phrasing import finish_sentence
from baton.prompts.vocabulary import list_vocabularies, load_vocabulary
from baton.reward.encoders import WorldClapEncoder, load_encoder
from baton.world.detectors import DetectedEvent, probability_match, read_events

if TYPE_CHECKING:
    from baton.evaluation.event_accuracy import ClipJudgement
    from baton.world.detectors import DetectedEvent

JUDGE_VERSION = 1
# The softmax temperature when the encoder states none: the world CLAP learned 0.051.
DEFAULT_TEMPERATURE = 0.05
# A vocabulary of fewer events makes the softmax meaningless (any sound is one of them).
MIN_VOCABULARY = 4
# Windows embedded together.
WINDOW_BATCH = 256


@documented
@dataclass
class EventJudgeConfig:
    """How the event judge reads a clip (see the module docstring for the rule)."""

    window: float = option(1.0, "Length (seconds) of the windows the clip is cut into.")
    hop: float = option(0.1, "Seconds between the starts of consecutive windows.")
    temperature: float | None = option(
        None,
        f"Softmax temperature over the vocabulary; default: the encoder's own (else {DEFAULT_TEMPERATURE}).",
    )
    threshold: float = option(0.3, "Window probability at which an event is read.")
    low_threshold: float = option(0.15, "Hysteresis floor: a read event lasts while it stays above this.")
    gate_db: float | None = option(
        20.0, "Windows this many dB below the clip's loudest window count as silence (None: no gate)."
    )
    min_duration: float = option(0.2, "Shortest event (seconds) that is read.")
    max_gap: float = option(0.1, "Readings of one event closer than this (seconds) are one event.")
    order_scale: float = option(
        0.1, "Rewards: seconds over which a pair's soft order goes from even to nearly sure."
    )

    def __post_init__(self) -> None:
        positive = ("window", "hop", "min_duration", "order_scale")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"must be positive, got {getattr(self, name)}", field=name)
        if self.temperature is not None and not self.temperature > 0:
            raise InputError(f"must be positive, got {self.temperature}", field="temperature")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"must be between 0 and 1, got {self.threshold}", field="threshold")
        if not 0.0 <= self.low_threshold <= self.threshold:
            raise InputError(f"must be in [0, threshold], got {self.low_threshold}", field="low_threshold")
        if self.gate_db is not None and not self.gate_db > 0:
            raise InputError(f"must be positive (or None for no gate), got {self.gate_db}", field="gate_db")
        if self.max_gap < 0:
            raise InputError(f"must be >= 0, got {self.max_gap}", field="max_gap")


# --- the vocabulary ---------------------------------------------------------------------------------


def phrase_from_id(event_id: str) -> str:
    """An event id as a sentence: ``"dog_bark"`` -> ``"Dog bark."``."""
    return finish_sentence(event_id.replace("_", " "))


def judge_vocabulary(
    named: Iterable[str], vocabulary: str | Path | None = None
) -> dict[str, tuple[str, ...]]:
    """The events a judge knows, each with its phrasings (sentences), covering every ``named`` event.

    ``vocabulary`` (a built-in name or a YAML file, as ``baton prompts --vocab``) gives every event of
    it, with all its clauses and nouns; without one, the first built-in vocabulary that holds every
    named event is taken (the world's for world prompts), else the named events alone. A named event
    the vocabulary lacks is phrased from its id (:func:`phrase_from_id`).
    """
    named = list(dict.fromkeys(named))
    chosen = None
    if vocabulary is not None:
        chosen = load_vocabulary(vocabulary)
    elif named:
        for name in list_vocabularies():
            candidate = load_vocabulary(name)
            if set(named) <= set(candidate.ids):
                chosen = candidate
                break
    events: dict[str, tuple[str, ...]] = {}
    if chosen is not None:
        for event in chosen.events:
            events[event.id] = tuple(finish_sentence(p) for p in (*event.clauses, *event.nouns))
    for event_id in named:
        events.setdefault(event_id, (phrase_from_id(event_id),))
    if len(events) < MIN_VOCABULARY:
        raise InputError(
            f"the judge would know only {len(events)} events ({', '.join(events) or 'none'}): a softmax over "
            f"so few reads any sound as one of them; give a vocabulary of at least {MIN_VOCABULARY} events",
            field="vocabulary",
        )
    return events


# --- windows ----------------------------------------------------------------------------------------


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """First samples of the windows of a clip of ``n_samples``: ``0, hop, 2 hop, ...`` while a whole
    window fits (the last ``< hop`` samples may be left out); one window for a shorter clip."""
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_samples - window + 1, hop, dtype=np.int64)


def window_levels_db(audio: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """RMS level (dB) of each window ``[W]``; digital silence is -120 dB."""
    levels = np.empty(len(starts))
    for i, start in enumerate(starts):
        segment = np.asarray(audio[start : start + window], dtype=np.float64)
        levels[i] = 10.0 * math.log10(float(np.mean(segment**2)) + 1e-12)
    return levels


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


# --- the judge --------------------------------------------------------------------------------------


@dataclass
class WindowReading:
    """One clip's window probabilities ``[W, C]`` (silent windows zeroed) and the seconds between rows."""

    probs: np.ndarray
    hop_seconds: float
    centre_seconds: float  # time of row 0: the first window's centre


class EventJudge:
    """Reads the events of a vocabulary in clips, through any audio-text encoder pair.

    >>> judge = EventJudge(load_embedder("world"), judge_vocabulary(["beep", "rain"]))  # doctest: +SKIP
    >>> judge.judge([audio], 16000, [["beep", "rain"]], ["temporal"])  # doctest: +SKIP

    It is also an :class:`~baton.evaluation.scorers.EventReader` (``name``, ``classes``, ``read``),
    so ``baton evaluate`` can read events with it in place of the world's evaluator detector.
    """

    def __init__(
        self,
        encoder: Any,
        vocabulary: Mapping[str, Sequence[str]],
        config: EventJudgeConfig | None = None,
    ) -> None:
        self.encoder = encoder
        self.config = config or EventJudgeConfig()
        self.vocabulary = {event: tuple(texts) for event, texts in vocabulary.items()}
        self.classes = tuple(self.vocabulary)
        if any(not texts for texts in self.vocabulary.values()):
            empty = next(event for event, texts in self.vocabulary.items() if not texts)
            raise InputError(f"event '{empty}' has no phrasing", field="vocabulary")
        stated = getattr(encoder, "temperature", None)
        self.temperature = float(self.config.temperature or stated or DEFAULT_TEMPERATURE)
        self.text_embeddings = self._embed_vocabulary()  # [C, D]
        encoder_identity = identity_of(encoder)
        settings = config_to_dict(self.config)
        self.fingerprint = fingerprint_of(
            "event-judge", JUDGE_VERSION, settings, self.temperature, encoder_identity, self.vocabulary
        )
        self.name = f"event judge over {encoder.name} ({self.fingerprint[:12]})"
        # As every judge of the evaluation says what it is (scorers.judge_identity); its weights are
        # its encoder's, named there.
        self.identity = judge_identity(
            self.name,
            None,
            kind="events",
            fingerprint=self.fingerprint,
            encoder=encoder_identity,
            settings=settings,
            temperature=self.temperature,
            events=len(self.classes),
        )

    def _embed_vocabulary(self) -> np.ndarray:
        texts = [text for phrasings in self.vocabulary.values() for text in phrasings]
        embedded = _normalise(np.asarray(self.encoder.embed_text(texts), dtype=np.float64))
        rows, start = [], 0
        for phrasings in self.vocabulary.values():
            rows.append(embedded[start : start + len(phrasings)].mean(axis=0))
            start += len(phrasings)
        return _normalise(np.stack(rows))

    # 1. Window probabilities.
    def window_probabilities(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[WindowReading]:
        """Each clip's :class:`WindowReading`."""
        config = self.config
        window = max(1, round(config.window * sample_rate))
        hop = max(1, round(config.hop * sample_rate))
        cuts: list[np.ndarray] = []
        layout = []  # (first row in cuts, rows, levels [W], window length in samples) per clip
        for i, clip in enumerate(audio):
            clip = np.asarray(clip, dtype=np.float32)
            if clip.ndim != 1 or clip.size < 2:
                raise ValueError(f"clip {i} must be a 1-D array of samples, got shape {list(clip.shape)}")
            length = min(window, clip.size)
            starts = window_starts(clip.size, window, hop)
            layout.append((len(cuts), len(starts), window_levels_db(clip, starts, length), length))
            cuts.extend(clip[s : s + length] for s in starts)
        embedded = [
            np.asarray(self.encoder.embed_audio(cuts[i : i + WINDOW_BATCH], sample_rate), dtype=np.float64)
            for i in range(0, len(cuts), WINDOW_BATCH)
        ]
        windows = _normalise(np.concatenate(embedded)) if embedded else np.zeros((0, 1))  # [sum W, D]
        readings = []
        for first, rows, levels, length in layout:
            probs = softmax(
                windows[first : first + rows] @ self.text_embeddings.T / self.temperature
            )  # [W, C]
            if config.gate_db is not None:
                probs[levels < levels.max() - config.gate_db] = 0.0
            readings.append(WindowReading(probs, hop / sample_rate, length / sample_rate / 2))
        return readings

    # 2. Timed events.
    def read_reading(self, reading: WindowReading) -> list[DetectedEvent]:
        """The timed events of one clip's window probabilities, sorted by onset."""
        config = self.config
        events = read_events(
            reading.probs,
            reading.hop_seconds,
            config.threshold,
            config.min_duration,
            low_threshold=config.low_threshold,
            median_frames=1,
            max_gap=config.max_gap,
            classes=self.classes,
        )
        shift = reading.centre_seconds
        return [DetectedEvent(e.label, e.onset + shift, e.offset + shift, e.confidence) for e in events]

    def read(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[list[DetectedEvent]]:
        """The timed events of each clip, sorted by onset."""
        return [self.read_reading(r) for r in self.window_probabilities(list(audio), sample_rate)]

    # 3. Judgements and rewards.
    def _relations(
        self, n_clips: int, events: Sequence[Sequence[str]], relations: Sequence[str | None] | None
    ) -> Sequence[str | None]:
        """``relations`` (None for each clip when not given), once every named event is one the judge knows."""
        if len(events) != n_clips:
            raise ValueError(f"got {n_clips} clips but {len(events)} event lists")
        for named in events:
            unknown = [e for e in named if e not in self.vocabulary]
            if unknown:
                raise InputError(
                    f"the judge does not know the event '{unknown[0]}': build it with a vocabulary "
                    "that holds it (judge_vocabulary)",
                    field="events",
                )
        return relations if relations is not None else [None] * n_clips

    def judge(
        self,
        audio: Sequence[np.ndarray],
        sample_rate: int,
        events: Sequence[Sequence[str]],
        tasks: Sequence[str | None],
        relations: Sequence[str | None] | None = None,
    ) -> list[ClipJudgement]:
        """Whether each clip holds its named events (and, for temporal prompts, in order)."""
        relations = self._relations(len(audio), events, relations)
        return [
            judge_clip(found, named, task, relation)
            for found, named, task, relation in zip(
                self.read(audio, sample_rate), events, tasks, relations, strict=True
            )
        ]

    def rewards(
        self,
        audio: Sequence[np.ndarray],
        sample_rate: int,
        events: Sequence[Sequence[str]],
        tasks: Sequence[str | None],
        relations: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """A soft probability ``[N]`` that each clip holds its named events (in order, for temporal prompts)."""
        relations = self._relations(len(audio), events, relations)
        readings = self.window_probabilities(list(audio), sample_rate)
        return np.array(
            [
                self.reward_of(reading, named, task, relation)
                for reading, named, task, relation in zip(readings, events, tasks, relations, strict=True)
            ]
        )

    def reward_of(
        self, reading: WindowReading, events: Sequence[str], task: str | None, relation: str | None = None
    ) -> float:
        """:meth:`rewards` of one clip's window probabilities."""
        return probability_match(
            reading.probs,
            list(events),
            judgement_for(task, relation, len(events)),
            reading.hop_seconds,
            median_frames=1,
            order_scale=self.config.order_scale,
            classes=self.classes,
        )

    def sample_rewards(
        self, samples: Sequence[Any], audio: Sequence[np.ndarray], sample_rate: int
    ) -> np.ndarray:
        """:meth:`rewards` of sample records (their ``events``, ``task`` and ``relation``) and their clips."""
        return self.rewards(
            audio,
            sample_rate,
            [s.events for s in samples],
            [s.task for s in samples],
            [s.relation for s in samples],
        )


# --- encoders ---------------------------------------------------------------------------------------


def load_embedder(spec: str, device: str = "cpu") -> Any:
    """An audio-text embedder for the judges, named as ``baton reward train --encoder`` names them:
    ``world`` (the cached world's CLAP), ``world:DIR`` (a world or its ``clap/`` folder) or
    ``clap:DIR_OR_HUB_ID`` (a transformers ``ClapModel``, e.g. LAION-CLAP, through
    :class:`baton.evaluation.pretrained.ClapJudge`). Each states its learned ``temperature`` and its
    ``identity`` (source and a digest of its weights)."""
    return embedder_for(load_encoder(spec, device=device))


def embedder_for(encoder: Any) -> Any:
    """The judges' embedder over a reward encoder (:mod:`baton.reward.encoders`) already loaded."""
    if isinstance(encoder, WorldClapEncoder):
        source = encoder.identity["source"]
        return WorldClapEmbedder(encoder.clap, name=f"world CLAP {source}", source=source)
    # pretrained imports transformers (a second of start-up): only for a hub CLAP
    from baton.evaluation.pretrained import ClapJudge

    return ClapJudge(encoder)
