"""What judges a clip, behind five small interfaces, and their implementations for the sound world.

* :class:`ClipClassifier`: clip-level class logits ``[N, C]``, for KL and the Inception Score
  (audioldm_eval uses PANNs CNN14's: :mod:`baton.evaluation.panns`; another classifier plugs in by
  implementing this).
* :class:`EventReader`: the timed events in each clip, for integrity and temporal accuracy.
* :class:`AudioTextEmbedder`: audio and text embeddings in one space, for the CLAP score (and FAD,
  unless another embedding is chosen).
* :class:`AudioEmbedder`: audio embeddings alone, for FAD.
* :class:`RewardScorer`: a reward model's probability that a clip matches its prompt.

On the world: the **evaluator** detector (never the annotator detector the reward model learned
from) is both the classifier, its clip-level probability of a class being the highest frame
probability, and the event reader; the **world CLAP** is the embedder. They accept audio at any
sample rate (it is resampled to the world's 16 kHz). Pretrained judges of real audio (LAION-CLAP,
an AudioSet AST) are in :mod:`baton.evaluation.pretrained`, PANNs CNN14 in :mod:`baton.evaluation.panns`.

Every judge says what it is in ``identity`` (:func:`judge_identity`): its name, where it was loaded
from (a folder or hub id) and a digest of its weights, which ``metrics.json`` records for every
figure's judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from baton.fingerprints import state_dict_digest
from baton.world.clap import MAX_LOGIT_SCALE, WorldClap
from baton.world.detectors import EventDetector, as_audio_batch, read_events

if TYPE_CHECKING:
    from baton.world.detectors import DetectedEvent


@runtime_checkable
class ClipClassifier(Protocol):
    name: str
    classes: tuple[str, ...]

    def clip_logits(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Clip-level class logits ``[N, C]`` (pre-sigmoid / pre-softmax)."""
        ...


@runtime_checkable
class EventReader(Protocol):
    name: str
    classes: tuple[str, ...]

    def read(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[list[DetectedEvent]]:
        """The timed events of each clip, sorted by onset."""
        ...


@runtime_checkable
class AudioTextEmbedder(Protocol):
    name: str

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Audio embeddings ``[N, D]``."""
        ...

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Text embeddings ``[N, D]`` in the audio embeddings' space."""
        ...


@runtime_checkable
class AudioEmbedder(Protocol):
    name: str

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Audio embeddings ``[N, D]``."""
        ...


@runtime_checkable
class RewardScorer(Protocol):
    name: str

    def probabilities(
        self, texts: Sequence[str], audio: Sequence[np.ndarray], sample_rate: int
    ) -> np.ndarray:
        """``P(match)`` of each (text, clip), ``[N]`` in [0, 1]."""
        ...


def judge_identity(name: str, source: str | Path | None, weights: Any = None, **extra: Any) -> dict[str, Any]:
    """What a judge is: ``name``, ``source`` (a hub id, or a folder made absolute) and ``weights_sha256``,
    the SHA-256 of every parameter and buffer of the module ``weights`` by name
    (:func:`baton.fingerprints.state_dict_digest`): two runs with the same digest judged with the
    same weights, wherever they came from."""
    if source is not None and Path(source).exists():
        source = str(Path(source).resolve())
    digest = state_dict_digest(weights).hex() if weights is not None else None
    return {
        "name": name,
        "source": None if source is None else str(source),
        "weights_sha256": digest,
        **extra,
    }


def identity_of(judge: Any) -> dict[str, Any]:
    """A judge's :func:`judge_identity` (one without it by its name alone)."""
    return dict(getattr(judge, "identity", None) or {"name": judge.name})


# The judges' roles, in the order metrics.json lists them, and the metrics each one makes.
ROLES = ("events", "classifier", "embedder", "fad", "reward")
ROLE_METRICS = {
    "events": ("accuracy", "presence"),
    "classifier": ("kl_softmax", "kl_sigmoid", "inception_score"),
    "embedder": ("clap_score",),
    "fad": ("fad", "fad_inf"),
    "reward": ("reward",),
}


@dataclass
class Scorers:
    """Whatever is available to judge clips; a metric whose scorer is missing is left out.

    ``fad`` is FAD's embedding; when it is not given, FAD uses the embedder's audio embeddings.
    """

    classifier: ClipClassifier | None = None
    events: EventReader | None = None
    embedder: AudioTextEmbedder | None = None
    reward: RewardScorer | None = None
    fad: AudioEmbedder | None = None

    @property
    def fad_embedder(self) -> AudioEmbedder | None:
        return self.fad if self.fad is not None else self.embedder

    def _by_role(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "classifier": self.classifier,
            "embedder": self.embedder,
            "fad": self.fad_embedder,
            "reward": self.reward,
        }

    def describe(self) -> dict[str, str | None]:
        """Each role's judge by name (``None``: no judge, its metrics left out)."""
        return {role: getattr(judge, "name", None) for role, judge in self._by_role().items()}

    def judges(self) -> dict[str, dict[str, Any] | None]:
        """Each role's judge by :func:`identity_of`."""
        return {
            role: None if judge is None else identity_of(judge) for role, judge in self._by_role().items()
        }

    def empty(self) -> bool:
        return not any((self.classifier, self.events, self.embedder, self.reward, self.fad))


# --- the sound world --------------------------------------------------------------------------------


def probabilities_to_logits(probabilities: np.ndarray, clip: float = 1e-7) -> np.ndarray:
    """``log(p / (1 - p))`` of independent class probabilities, clipped away from 0 and 1."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), clip, 1.0 - clip)
    return np.log(p) - np.log1p(-p)


class WorldDetectorScorer:
    """The world's evaluator detector as a clip classifier and an event reader."""

    def __init__(
        self, detector: Any, name: str = "world evaluator detector", source: str | Path | None = None
    ) -> None:
        self.detector = detector
        self.name = name
        self.classes = tuple(detector.classes)
        self.identity = judge_identity(name, source, detector.net)

    def _frame_probs(self, audio: Sequence[np.ndarray], sample_rate: int) -> tuple[np.ndarray, list[int]]:
        batch, lengths = as_audio_batch(list(audio), sample_rate)
        probs = self.detector.frame_probs(batch)  # [B, T, C]
        frames = [self.detector.net.output_frames(n) for n in lengths]
        return probs, frames

    def analyse(
        self, audio: Sequence[np.ndarray], sample_rate: int
    ) -> tuple[np.ndarray, list[list[DetectedEvent]]]:
        """Clip logits ``[N, C]`` and the events read, from one pass of the detector."""
        probs, frames = self._frame_probs(audio, sample_rate)
        # A class's clip-level probability: its highest frame probability over the clip's own frames.
        clip = np.stack([p[: max(f, 1)].max(axis=0) for p, f in zip(probs, frames, strict=True)])
        config = self.detector.config
        events = [
            read_events(
                p[:f],
                self.detector.hop_seconds,
                config.threshold,
                config.min_duration,
                median_frames=config.median_frames,
                classes=self.classes,
            )
            for p, f in zip(probs, frames, strict=True)
        ]
        return probabilities_to_logits(clip), events

    def clip_logits(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.analyse(audio, sample_rate)[0]

    def read(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[list[DetectedEvent]]:
        return self.analyse(audio, sample_rate)[1]


class WorldClapEmbedder:
    """The world CLAP's L2-normalised audio and text embeddings."""

    def __init__(self, clap: Any, name: str = "world CLAP", source: str | Path | None = None) -> None:
        self.clap = clap
        self.name = name
        self.identity = judge_identity(name, source, clap.net)

    @property
    def temperature(self) -> float:
        """The CLAP's learned softmax temperature, ``1 / exp(logit_scale)`` (what the event judge uses)."""
        return 1.0 / min(float(self.clap.net.logit_scale.detach().exp()), MAX_LOGIT_SCALE)

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.clap.embed_audio(list(audio), sample_rate).numpy().astype(np.float64)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.clap.embed_text(list(texts)).numpy().astype(np.float64)


def world_scorers(world: str | Path) -> Scorers:
    """The evaluator detector and the CLAP of a built world folder (each left out if not built)."""
    world = Path(world)
    scorers = Scorers()
    if (world / "evaluator" / "config.json").is_file():
        detector = WorldDetectorScorer(EventDetector.load(world / "evaluator"), source=world / "evaluator")
        scorers.classifier = detector
        scorers.events = detector
    if (world / "clap" / "config.json").is_file():
        scorers.embedder = WorldClapEmbedder(WorldClap.load(world / "clap"), source=world / "clap")
    return scorers
