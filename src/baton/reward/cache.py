"""On-disk cache of encoder features, keyed by the encoder's fingerprint and the audio's content.

BATON's training script ran CLAP on every clip in every epoch, clip by clip. Here each clip is
encoded once per encoder, ever: its features are stored under

    <cache>/reward-features/<encoder fingerprint>/audio/<sha256 of the file's bytes>.safetensors
    <cache>/reward-features/<encoder fingerprint>/text/<sha256 of the text>.safetensors
    <cache>/reward-features/<encoder fingerprint>/event-judge-<its fingerprint>/<sha256>.safetensors
                                                   (the event judge's window probabilities, baton.reward.judged)

so a renamed or copied file is still a hit, an edited file is a miss, and another encoder (other
weights, other preprocessing) never reads these features. Entries are written atomically (temporary
file, then rename), so concurrent runs and killed runs leave no half-written entry.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from baton.artifacts import save_safetensors, temp_file_beside
from baton.audio import load_audio
from baton.console import make_progress
from baton.fingerprints import file_digest
from baton.reward.encoders import AudioFeatures, RewardEncoder, TextFeatures

CACHE_FOLDER = "reward-features"


def array_digest(audio: np.ndarray, sample_rate: int) -> str:
    """SHA-256 of in-memory samples (float32) and their rate."""
    digest = hashlib.sha256(f"array:{sample_rate}:".encode())
    digest.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    return digest.hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """Features of one encoder on disk; ``hits`` and ``misses`` count lookups since it was opened."""

    def __init__(self, root: str | Path, encoder_fingerprint: str) -> None:
        self.folder = Path(root) / CACHE_FOLDER / encoder_fingerprint
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / key[:2] / f"{key}.safetensors"

    def _read(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(kind, key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            tensors = load_file(path)
        except (SafetensorError, OSError):
            # A damaged entry is recomputed, not trusted.
            self.misses += 1
            return None
        self.hits += 1
        return tensors

    def _write(self, kind: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file_beside(path)  # the mode a plain open() gives, not mkstemp's 0600
        os.close(fd)
        try:
            save_safetensors({k: v.contiguous() for k, v in tensors.items()}, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_audio(self, key: str) -> AudioFeatures | None:
        tensors = self._read("audio", key)
        return None if tensors is None else AudioFeatures(tensors["pooled"], tensors["frames"])

    def put_audio(self, key: str, features: AudioFeatures) -> None:
        self._write("audio", key, {"pooled": features.pooled, "frames": features.frames})

    def get_tensors(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        """Other derived tensors of a clip (``kind``: a folder name that says whose), or None."""
        return self._read(kind, key)

    def put_tensors(self, kind: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
        self._write(kind, key, tensors)

    def get_text(self, key: str) -> TextFeatures | None:
        tensors = self._read("text", key)
        return None if tensors is None else TextFeatures(tensors["pooled"], tensors["tokens"])

    def put_text(self, key: str, features: TextFeatures) -> None:
        self._write("text", key, {"pooled": features.pooled, "tokens": features.tokens})


def fill(
    keys: list[str],
    lookup: Callable[[str], Any],
    compute: Callable[[list[int]], list[Any]],
    store: Callable[[str, Any], None],
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> list[Any]:
    """Look every key up; compute the misses in batches (each distinct key once) and store them."""
    found: dict[str, Any] = {}
    todo: list[int] = []  # the first row of each distinct key that is not cached
    pending: set[str] = set()
    for i, key in enumerate(keys):
        if key in found or key in pending:
            continue
        value = lookup(key)
        if value is None:
            todo.append(i)
            pending.add(key)
        else:
            found[key] = value
            if progress is not None:
                progress(1)
    for start in range(0, len(todo), batch_size):
        rows = todo[start : start + batch_size]
        for i, value in zip(rows, compute(rows), strict=True):
            store(keys[i], value)
            found[keys[i]] = value
        if progress is not None:
            progress(len(rows))
    return [found[key] for key in keys]


def audio_digests(audio: Sequence[str | Path | np.ndarray], sample_rate: int) -> list[str]:
    """The cache keys of clips: a file's by its bytes, an array's by its samples at ``sample_rate``."""
    return [
        file_digest(Path(a)) if isinstance(a, (str, Path)) else array_digest(np.asarray(a), sample_rate)
        for a in audio
    ]


def audio_features(
    encoder: RewardEncoder,
    paths: Sequence[str | Path],
    cache: FeatureCache | None,
    *,
    batch_size: int = 16,
    progress: bool = False,
    description: str = "encoding audio",
) -> list[AudioFeatures]:
    """Features of each audio file: from the cache when present, else encoded (and cached)."""
    paths = [Path(p) for p in paths]
    keys = [file_digest(p) for p in paths]

    def compute(rows: list[int]) -> list[AudioFeatures]:
        clips = [load_audio(paths[i], sample_rate=encoder.sample_rate)[0] for i in rows]
        return encoder.encode_audio(clips, encoder.sample_rate)

    if cache is None:
        return fill(keys, lambda key: None, compute, lambda key, value: None, batch_size, None)
    with make_progress() as bar:
        task = bar.add_task(description, total=len(set(keys)), visible=progress)
        return fill(
            keys, cache.get_audio, compute, cache.put_audio, batch_size, lambda n: bar.advance(task, n)
        )


def text_features(
    encoder: RewardEncoder, texts: Sequence[str], cache: FeatureCache | None, *, batch_size: int = 64
) -> list[TextFeatures]:
    """Features of each text: from the cache when present, else encoded (and cached)."""
    texts = list(texts)
    keys = [text_digest(t) for t in texts]

    def compute(rows: list[int]) -> list[TextFeatures]:
        return encoder.encode_text([texts[i] for i in rows])

    if cache is None:
        return fill(keys, lambda key: None, compute, lambda key, value: None, batch_size, None)
    return fill(keys, cache.get_text, compute, cache.put_text, batch_size, None)
