"""Helpers for the backend tests: one torch thread, and the fine-tuning objective through the protocol."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def one_torch_thread():
    """Tiny models on a shared 2-core machine run many times faster without thread hand-offs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def assert_same_clip(actual, expected):
    """The same clip up to float rounding (relative 1e-4 of its peak).

    A model reloaded from disk has bit-identical weights (the tests check that), yet on an AMD EPYC host
    its clip differed from the in-memory model's in the last bits (at most 2e-7, cause not pinned
    down). A wrong weight or setting moves a clip by far more.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def denoising_loss(backend, audio, sample_rate, texts, seed=0):
    """The fine-tuning objective through the protocol only: x0, noise, x_t, prediction, target, MSE."""
    scheduler = backend.noise_scheduler
    x0 = backend.encode_audio(audio, sample_rate)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],), generator=generator)
    noisy = scheduler.add_noise(x0, noise, timesteps)
    prediction = backend.predict(noisy, timesteps, backend.encode_text(texts))
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(x0, noise, timesteps)
    else:
        target = noise
    return torch.nn.functional.mse_loss(prediction, target)


def one_finetune_step(backend, audio, sample_rate, texts, lr=1e-2):
    """One Adam step on the denoiser only; returns (loss before, loss after, frozen parameters changed?)."""
    denoiser = backend.denoiser
    denoiser.train()
    frozen = [p for p in _all_modules_params(backend) if not any(p is q for q in denoiser.parameters())]
    frozen_before = [p.detach().clone() for p in frozen]
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=lr)
    loss = denoising_loss(backend, audio, sample_rate, texts)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = denoising_loss(backend, audio, sample_rate, texts)
    denoiser.eval()
    frozen_changed = any(not torch.equal(a, b) for a, b in zip(frozen, frozen_before, strict=True))
    frozen_grads = any(p.grad is not None for p in frozen)
    return float(loss.detach()), float(after), frozen_changed or frozen_grads


def _all_modules_params(backend):
    modules = []
    pipe = getattr(backend, "pipe", None)
    if pipe is not None:
        modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    else:
        modules = [backend.unet, backend.text_encoder, backend.vae, backend.vocoder]
    return [p for m in modules for p in m.parameters()]
