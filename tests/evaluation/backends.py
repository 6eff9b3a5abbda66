"""Tiny stand-in models for the evaluation tests: tones, and a reward that reads loudness."""

from __future__ import annotations

import numpy as np

from tests.generation.fake_backend import ToneBackend


class LoudToneBackend(ToneBackend):
    """The same tones, 1.5 times louder: a 'tuned' model whose clips pair with ToneBackend's."""

    name = "loudtone"

    def generate(self, texts, seeds, settings=None):
        return [clip * np.float32(1.5) for clip in super().generate(texts, seeds, settings)]


class LoudnessReward:
    """A reward model stand-in: P(match) = mean |sample|, so a sine of amplitude a scores about 2a/pi."""

    name = "loudness"

    def probabilities(self, texts, audio, sample_rate):
        assert len(texts) == len(audio)
        return np.array([float(np.mean(np.abs(clip))) for clip in audio])
