"""A tiny stand-in backend for testing the generation stage's bookkeeping (not a model)."""

from __future__ import annotations

import numpy as np

from baton.backends.base import GenerationSettings


class ToneBackend:
    """Makes a tone whose pitch is a function of (text, seed) only; counts what it was asked."""

    name = "tone"
    sample_rate = 8000
    default_settings = GenerationSettings(steps=3, guidance_scale=1.0, duration=0.25)
    calls: list[list[int]] = []

    @classmethod
    def load(cls, path=None, *, device="cpu"):
        return cls()

    def generate(self, texts, seeds, settings=None):
        settings = (settings or GenerationSettings()).resolved(self.default_settings)
        ToneBackend.calls.append(list(seeds))
        t = np.arange(int(settings.duration * self.sample_rate)) / self.sample_rate
        clips = []
        for text, seed in zip(texts, seeds, strict=True):
            freq = 200 + (seed % 1000) + len(text)
            clips.append((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        return clips
