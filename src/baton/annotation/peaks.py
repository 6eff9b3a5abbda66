"""The picture of a clip: min/max peaks per column, for the waveform the labelling page draws.

Computed on first request from the audio file (soundfile + numpy, no torch) and cached per file
version (path, size, modification time), so a page never waits twice for the same clip.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

COLUMNS = 600


def waveform_peaks(path: Path, columns: int = COLUMNS) -> dict[str, Any]:
    """``{"peaks": [[min, max], ...], "duration": s, "sample_rate": hz}``; peaks in [-1, 1], 3 decimals."""
    stat = os.stat(path)
    return _peaks(str(path), stat.st_size, stat.st_mtime_ns, columns)


@lru_cache(maxsize=4096)
def _peaks(path: str, size: int, mtime_ns: int, columns: int) -> dict[str, Any]:
    # Start-up: the app starts without the audio libraries; the first waveform asked for loads them.
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32", always_2d=True)  # [N, C]
    mono = audio.mean(axis=1)
    n = mono.shape[0]
    if n == 0:
        return {"peaks": [], "duration": 0.0, "sample_rate": rate}
    columns = max(1, min(columns, n))
    edges = np.linspace(0, n, columns + 1).astype(np.int64)
    lows = np.minimum.reduceat(mono, edges[:-1])
    highs = np.maximum.reduceat(mono, edges[:-1])
    peaks = np.stack([lows, highs], axis=1).clip(-1.0, 1.0).round(3)
    return {"peaks": peaks.tolist(), "duration": n / rate, "sample_rate": rate}
