"""The world model behind the backend protocol: loading, generation, what fine-tuning needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baton.backends import load_backend
from baton.backends.base import GenerationSettings, T2ABackend
from baton.backends.world import WorldBackend, default_model_dir
from baton.errors import InputError
from baton.world.corpus import CorpusConfig, build_corpus
from baton.world.t2a import T2ATrainConfig, train_t2a

TEXTS = ["A beep sounds.", "Rain falls, then a bell rings.", "Someone knocks on a door."]
FAST = GenerationSettings(steps=2)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    config = T2ATrainConfig.quick(seed=2)
    config.steps = 4
    config.griffin_lim_iters = 2
    model = train_t2a(build_corpus(CorpusConfig(n_clips=8, seed=5)), config, progress=False)
    folder = tmp_path_factory.mktemp("world") / "t2a"
    model.save(folder)
    return folder


@pytest.fixture
def backend(model_dir) -> WorldBackend:
    return WorldBackend.load(model_dir)


def test_load_none_without_a_build_says_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InputError, match="run `baton world build` first") as info:
        WorldBackend.load(None)
    assert info.value.path == str(tmp_path / "cache" / "world" / "t2a")
    with pytest.raises(InputError, match="baton world build"):
        load_backend("world")


def test_load_none_reads_the_cached_build(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_CACHE", str(tmp_path / "cache"))
    WorldBackend.load(model_dir).save(default_model_dir())
    backend = load_backend("world")
    assert isinstance(backend, WorldBackend) and isinstance(backend, T2ABackend)
    assert backend.name == "world" and backend.sample_rate == 16000


def test_generate_returns_four_second_float32_clips(backend):
    clips = backend.generate(TEXTS[:2], [1, 2], FAST)
    assert [(c.shape, c.dtype) for c in clips] == [((64000,), np.float32)] * 2
    assert all(np.isfinite(c).all() for c in clips)
    assert backend.default_settings.duration == 4.0 and backend.default_settings.steps == 4


def test_generate_depends_only_on_text_and_seed(backend):
    together = backend.generate(TEXTS, [7, 8, 9], FAST)
    again = backend.generate(TEXTS, [7, 8, 9], FAST)
    assert all(np.array_equal(a, b) for a, b in zip(together, again, strict=True))
    alone = backend.generate([TEXTS[1]], [8], FAST)[0]
    assert np.array_equal(alone, together[1])
    backend.max_batch = 2  # split into batches of 2 and 1: same clips
    split = backend.generate(TEXTS, [7, 8, 9], FAST)
    assert all(np.array_equal(a, b) for a, b in zip(together, split, strict=True))
    assert not np.array_equal(backend.generate([TEXTS[1]], [10], FAST)[0], together[1])


def test_generate_rejects_other_durations_and_mismatched_seeds(backend):
    with pytest.raises(InputError, match="4 s clips only") as info:
        backend.generate(TEXTS[:1], [1], GenerationSettings(duration=10.0))
    assert info.value.field == "duration"
    with pytest.raises(InputError, match="2 texts but 1 seeds"):
        backend.generate(TEXTS[:2], [1])


def test_save_load_round_trip_generates_the_same(backend, tmp_path):
    backend.save(tmp_path / "copy")
    copy = WorldBackend.load(tmp_path / "copy")
    first = backend.generate(TEXTS[:2], [3, 4], FAST)
    second = copy.generate(TEXTS[:2], [3, 4], FAST)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_encode_audio_resamples_cuts_and_pads(backend):
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(64000)).astype(np.float32)
    x0 = backend.encode_audio([wave, wave[:1000]], 16000)
    assert x0.shape == (2, 64, 251) and not x0.requires_grad
    # Frames are the clip's first 4 s: the same noise, cut, and padded with silence.
    torch.testing.assert_close(x0[1, :, :3], x0[0, :, :3], atol=0.3, rtol=0)
    silence = backend.encode_audio([np.zeros(64000, dtype=np.float32)], 16000)
    torch.testing.assert_close(x0[1, :, 10:], silence[0, :, 10:])
    # A 500 Hz tone recorded at 8 kHz gives the frames of the same tone at 16 kHz.
    tone = [0.3 * np.sin(2 * np.pi * 500 * np.arange(4 * sr) / sr).astype(np.float32) for sr in (8000, 16000)]
    low = backend.model.denormalize(backend.encode_audio([tone[0]], 8000))[0, :, 5:-5]  # log-mel [64, T]
    high = backend.model.denormalize(backend.encode_audio([tone[1]], 16000))[0, :, 5:-5]
    assert torch.equal(low.argmax(dim=0), high.argmax(dim=0))
    torch.testing.assert_close(low.max(dim=0).values, high.max(dim=0).values, atol=0.01, rtol=0)
    with pytest.raises(InputError, match="mono"):
        backend.encode_audio([np.zeros((2, 100), dtype=np.float32)], 16000)


def test_gradients_reach_the_denoiser_only(backend):
    text = backend.encode_text(TEXTS[:2])
    assert text.hidden_states.shape == (2, backend.model.config.text.max_tokens, 32)
    assert text.attention_mask.dtype == torch.bool and not text.hidden_states.requires_grad
    x0 = backend.encode_audio([np.zeros(64000, dtype=np.float32)] * 2, 16000)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([10, 700])
    noisy = backend.noise_scheduler.add_noise(x0, noise, t)
    backend.denoiser.train()
    prediction = backend.predict(noisy, t, text)
    assert prediction.shape == x0.shape
    assert backend.noise_scheduler.config.prediction_type == "sample"
    (prediction - x0).pow(2).mean().backward()
    assert all(p.grad is not None for p in backend.denoiser.parameters())
    assert all(p.grad is None for p in backend.model.text_encoder.parameters())


def test_latent_space_is_the_frames_normalisation(backend, model_dir):
    assert backend.latent_space == WorldBackend.load(model_dir).latent_space
    other = WorldBackend.load(model_dir)
    other.model.mel_std.mul_(1.5)  # other statistics: the same audio gives other frames
    assert other.latent_space != backend.latent_space
    clips, frames = backend.generate_with_latents(TEXTS[:2], [1, 2], FAST)
    assert frames.shape == (2, 64, 251)
    assert all(
        np.array_equal(a, b) for a, b in zip(clips, backend.generate(TEXTS[:2], [1, 2], FAST), strict=True)
    )
