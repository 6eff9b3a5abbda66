"""A trained reward model: load it, then score (text, clip) pairs. ImageReward-style, for audio.

>>> from baton.reward import RewardModel  # doctest: +SKIP
>>> model = RewardModel.load("runs/reward")  # doctest: +SKIP
>>> model.score(["A dog barks, then a bell rings."], [audio], sample_rate=16000)  # tensor([0.83])  # doctest: +SKIP
>>> order, probabilities = model.rank("A dog barks, then a bell rings.", ["a.wav", "b.wav"])  # doctest: +SKIP

A saved model is a folder (nothing in it is ever unpickled)::

    config.json          format, head kind and settings, calibration, training objective, and the
                         encoder's identity (kind, source, fingerprint of its weights)
    model.safetensors    the head's weights

The encoder is not copied: it is loaded from the source the identity names and checked against the
fingerprint; pass ``encoder=`` to :meth:`RewardModel.load` to give it yourself (it is checked too).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from baton.artifacts import read_json, save_safetensors, write_json
from baton.audio import load_audio, resample
from baton.errors import InputError
from baton.fingerprints import fingerprint_of, state_dict_digest
from baton.reward.blend import blend_logits, blends_from_json
from baton.reward.encoders import RewardEncoder, check_same_encoder, encoder_from_identity
from baton.reward.heads import FeatureBatch, build_head, stack_features
from baton.reward.judged import JudgeScores

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "baton.reward"
FORMAT_VERSION = 1

AudioInput = str | Path | np.ndarray | torch.Tensor


def calibrated_logits(
    head: torch.nn.Module, calibration: tuple[float, float], batch: FeatureBatch
) -> torch.Tensor:
    """A head's raw scores ``[B]`` of encoder features, calibrated: ``a * head(batch) + b``."""
    a, b = calibration
    with torch.no_grad():
        return a * head(batch) + b


class RewardModel:
    """A head over a frozen encoder. ``score`` gives probabilities, ``logits`` the raw scores."""

    def __init__(
        self,
        head: torch.nn.Module,
        head_kind: str,
        head_settings: dict[str, Any],
        encoder_identity: dict[str, Any],
        *,
        calibration: tuple[float, float] = (1.0, 0.0),
        objective: str = "bce",
        encoder: RewardEncoder | None = None,
        training: dict[str, Any] | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        self.head = head.eval()
        self.head_kind = head_kind
        self.head_settings = dict(head_settings)
        self.encoder_identity = dict(encoder_identity)
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.objective = objective
        self.training = training or {}
        self.batch_size = batch_size
        self.device = device  # where the encoder runs when it is loaded from its source
        self._encoder = encoder
        self._event_judge: JudgeScores | None = None
        settings = self.head_settings.get("event_judge") or {}
        self.blends = blends_from_json(settings["blend"]) if "blend" in settings else None

    # --- the encoder -----------------------------------------------------------------------------

    @property
    def encoder(self) -> RewardEncoder:
        if self._encoder is None:
            self._encoder = encoder_from_identity(self.encoder_identity, device=self.device)
        return self._encoder

    @property
    def needs_sequences(self) -> bool:
        return bool(getattr(self.head, "needs_sequences", False))

    @property
    def event_judge(self) -> JudgeScores | None:
        """The event judge whose scores this model blends with its head's (``--event-judge``), over
        this model's encoder; else None."""
        settings = self.head_settings.get("event_judge")
        if settings is None:
            return None
        if self._event_judge is None:
            self._event_judge = JudgeScores(self.encoder, settings["vocabulary"], settings["hop"])
        return self._event_judge

    # --- scoring ---------------------------------------------------------------------------------

    def logits_of(self, batch: FeatureBatch) -> torch.Tensor:
        """Calibrated raw scores ``[B]`` (``a * head + b``) of encoder features; with ``--event-judge``,
        blended with the batch's judge scores by task (:mod:`baton.reward.blend`)."""
        logits = calibrated_logits(self.head, self.calibration, batch)
        if self.blends is None:
            return logits
        if batch.judge is None or batch.tasks is None:
            raise ValueError(
                "this reward model blends its head with the event judge: the batch has no judge scores"
            )
        return blend_logits(self.blends, logits, batch.judge, batch.tasks)

    def _features(
        self,
        texts: Sequence[str],
        audio: Sequence[AudioInput],
        sample_rate: int | None,
        events: Sequence[Sequence[str]] | None,
        tasks: Sequence[str | None] | None,
    ) -> FeatureBatch:
        encoder = self.encoder  # texts and audio: lists of one length (logits paired them)
        clips = []
        for clip in audio:
            if isinstance(clip, (str, Path)):
                clips.append(load_audio(clip, sample_rate=encoder.sample_rate)[0])
            else:
                array = clip.detach().cpu().numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
                rate = sample_rate if sample_rate is not None else encoder.sample_rate
                if rate != encoder.sample_rate:
                    array = resample(np.asarray(array, np.float32), rate, encoder.sample_rate)
                clips.append(np.asarray(array, dtype=np.float32))
        audio_features = encoder.encode_audio(clips, encoder.sample_rate)
        text_features = encoder.encode_text(texts)
        tasks = list(tasks) if tasks is not None else [None] * len(clips)
        scores = None
        if self.event_judge is not None:
            scores = self.event_judge.scores(clips, events or [], tasks)
        return stack_features(
            audio_features, text_features, sequences=self.needs_sequences, judge=scores, tasks=tasks
        )

    def logits(
        self,
        texts: Sequence[str],
        audio: Sequence[AudioInput],
        sample_rate: int | None = None,
        *,
        events: Sequence[Sequence[str]] | None = None,
        tasks: Sequence[str | None] | None = None,
    ) -> torch.Tensor:
        """Raw scores ``[B]``: the logit of ``P(clip i matches text i)``.

        ``audio``: 1-D arrays or tensors at ``sample_rate`` (default: the encoder's rate), or paths
        of audio files (read at their own rate). Any rate is resampled to the encoder's. A model
        trained with ``--event-judge`` also needs the ``events`` each text names and its ``tasks``
        (``temporal`` where the order counts; default: none does).
        """
        texts, audio = _paired(texts, audio)
        if self.event_judge is not None and (events is None or len(events) != len(texts)):
            raise ValueError(
                "this reward model reads the event judge (trained with --event-judge): give events=, "
                "the events each text names (and tasks=, 'temporal' where their order counts)"
            )
        out = []
        for start in range(0, len(audio), self.batch_size):
            rows = slice(start, start + self.batch_size)
            features = self._features(
                texts[rows],
                audio[rows],
                sample_rate,
                None if events is None else list(events)[rows],
                None if tasks is None else list(tasks)[rows],
            )
            out.append(self.logits_of(features))
        return torch.cat(out)

    def score(
        self,
        texts: Sequence[str],
        audio: Sequence[AudioInput],
        sample_rate: int | None = None,
        *,
        events: Sequence[Sequence[str]] | None = None,
        tasks: Sequence[str | None] | None = None,
    ) -> torch.Tensor:
        """Probabilities ``[B]`` in [0, 1] that clip i matches text i (the sigmoid of :meth:`logits`)."""
        return torch.sigmoid(self.logits(texts, audio, sample_rate, events=events, tasks=tasks))

    probabilities = score

    def rank(
        self,
        text: str,
        clips: Sequence[AudioInput],
        sample_rate: int | None = None,
        *,
        events: Sequence[str] | None = None,
        task: str | None = None,
    ) -> tuple[list[int], torch.Tensor]:
        """Clips of one prompt best first: ``(order, probabilities)``; ``order[0]`` is the best clip's index."""
        if not isinstance(text, str):
            raise ValueError("rank takes one text and the clips to rank for it")
        n = len(clips)
        probabilities = self.score(
            [text] * n,
            list(clips),
            sample_rate,
            events=None if events is None else [list(events)] * n,
            tasks=[task] * n,
        )
        order = sorted(range(len(clips)), key=lambda i: (-float(probabilities[i]), i))
        return order, probabilities

    @property
    def fingerprint(self) -> str:
        """What this model is, whatever its folder: a digest of the head (kind, settings, weights),
        the calibration and the encoder's fingerprint. Equal fingerprints give equal scores."""
        return fingerprint_of(
            FORMAT,
            self.head_kind,
            self.head_settings,
            list(self.calibration),
            self.encoder_identity.get("fingerprint"),
            state_dict_digest(self.head),
        )

    # --- saving and loading ----------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "head": self.head_kind,
            "head_settings": self.head_settings,
            "objective": self.objective,
            "calibration": {"scale": self.calibration[0], "shift": self.calibration[1]},
            "encoder": self.encoder_identity,
            "training": self.training,
        }

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        tmp = directory / f".{WEIGHTS_FILE}.tmp"
        save_safetensors(state, tmp, metadata={"format": FORMAT})
        tmp.replace(directory / WEIGHTS_FILE)
        write_json(directory / CONFIG_FILE, self.config())
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, *, encoder: RewardEncoder | None = None, device: str = "cpu"
    ) -> RewardModel:
        """Read a model folder written by :meth:`save` (``baton reward train``).

        ``device``: where the encoder runs when it is loaded from the source the model names. The head
        stays on the CPU: it is small, and the encoders hand their features over on the CPU (where the
        feature cache keeps them)."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        if not directory.is_dir():
            raise InputError("no such reward model folder", path=directory)
        if not path.is_file():
            raise InputError("not a reward model folder (no config.json)", path=directory)
        meta = read_json(path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(
                f"not a baton reward model (format is not '{FORMAT}')", path=path, field="format"
            )
        if not isinstance(meta.get("version"), int) or meta["version"] > FORMAT_VERSION:
            raise InputError(
                f"version {meta.get('version')!r} is newer than this baton reads ({FORMAT_VERSION}); upgrade baton",
                path=path,
                field="version",
            )
        identity = meta.get("encoder")
        if not isinstance(identity, dict) or "fingerprint" not in identity:
            raise InputError("missing the encoder's identity", path=path, field="encoder")
        for key in ("audio_dim", "text_dim"):
            if not isinstance(identity.get(key), int):
                raise InputError("missing or not an integer", path=path, field=f"encoder.{key}")
        settings = meta.get("head_settings") or {}
        try:
            head = build_head(str(meta.get("head")), identity["audio_dim"], identity["text_dim"], settings)
        except ValueError as exc:
            raise InputError(str(exc), path=path, field="head") from None
        weights = directory / WEIGHTS_FILE
        try:
            state = load_file(weights)
        except FileNotFoundError:
            raise InputError("weights file not found", path=weights) from None
        except (SafetensorError, OSError) as exc:
            raise InputError(f"not a readable safetensors file ({exc})", path=weights) from None
        try:
            head.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(
                f"weights do not fit the head in config.json: {str(exc).splitlines()[0]}", path=weights
            ) from None
        if encoder is not None:
            check_same_encoder(identity, encoder)
        calibration = meta.get("calibration") or {}
        return cls(
            head,
            str(meta["head"]),
            settings,
            identity,
            calibration=(float(calibration.get("scale", 1.0)), float(calibration.get("shift", 0.0))),
            objective=str(meta.get("objective", "bce")),
            encoder=encoder,
            training=meta.get("training") or {},
            device=device,
        )


def _paired(texts: Sequence[str], audio: Sequence[AudioInput]) -> tuple[list[str], list[AudioInput]]:
    """The texts and clips as two lists of one length, or a ValueError that says what is wrong."""
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings (one per clip), not one string")
    texts, audio = list(texts), list(audio)
    if len(texts) != len(audio):
        raise ValueError(f"got {len(texts)} texts but {len(audio)} clips")
    if not texts:
        raise ValueError("no clips given")
    return texts, audio
