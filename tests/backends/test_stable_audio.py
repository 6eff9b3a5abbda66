import shutil

import numpy as np
import pytest
import torch

from baton.backends import load_backend
from baton.backends.base import GenerationSettings, T2ABackend
from baton.backends.stable_audio import StableAudioBackend, v_diffusion_scheduler
from baton.backends.tiny import tiny_stable_audio_pipeline
from baton.errors import InputError

from .helpers import assert_same_clip, one_finetune_step, one_torch_thread

TEXTS = ["a dog barks then a bell rings", "rain falls", "a cat meows"]
SETTINGS = GenerationSettings(steps=3, guidance_scale=7.0, duration=0.25)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def backend():
    return StableAudioBackend(tiny_stable_audio_pipeline(seed=0), default_settings=SETTINGS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, backend):
    folder = tmp_path_factory.mktemp("stable-audio")
    backend.save(folder)
    return folder


def _direct(pipe, texts, seeds, **kwargs):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    out = pipe(
        prompt=texts,
        num_inference_steps=3,
        guidance_scale=7.0,
        audio_end_in_s=0.25,
        generator=generators,
        output_type="np",
        **kwargs,
    )
    return out.audios  # [B, 2, N]


def test_implements_the_protocol(backend):
    assert isinstance(backend, T2ABackend) and backend.sample_rate == 64
    assert backend.max_duration == pytest.approx(0.5)  # 16 latents x hop 2 / 64 Hz


def test_generate_is_the_pipelines_clip_in_mono_and_depends_only_on_text_and_seed(backend):
    clips = backend.generate(TEXTS, [1, 2, 3])
    assert [c.shape for c in clips] == [(16,)] * 3  # 0.25 s at 64 Hz
    assert all(c.dtype == np.float32 and np.abs(c).max() > 0 for c in clips)
    stereo = _direct(backend.pipe, TEXTS, [1, 2, 3])
    for ours, theirs in zip(clips, stereo, strict=True):
        assert np.array_equal(ours, theirs.mean(axis=0))
    for i, text in enumerate(TEXTS):
        alone = backend.generate([text], [i + 1])[0]
        np.testing.assert_allclose(clips[i], alone, rtol=0, atol=1e-4 * np.abs(alone).max())
    assert np.abs(backend.generate(TEXTS[:1], [42])[0] - clips[0]).max() > 1e-2 * np.abs(clips[0]).max()


def test_guidance_is_one_batched_pass(backend):
    batches = []
    hook = backend.pipe.transformer.register_forward_hook(
        lambda m, args, out: batches.append(args[0].shape[0])
    )
    try:
        backend.generate(TEXTS[:2], [1, 2])
    finally:
        hook.remove()
    assert batches == [4, 4, 4]


def test_v_diffusion_scheduler_is_the_cosine_process():
    scheduler = v_diffusion_scheduler()
    k = torch.tensor([0, 499, 998])
    t = (k.double() + 1) / 1000
    alpha, sigma = torch.cos(t * torch.pi / 2), torch.sin(t * torch.pi / 2)
    x0, noise = torch.ones(3, 1, 1), torch.full((3, 1, 1), 2.0)
    # (float32's 1 - alphas_cumprod near t = 0 is what limits the agreement, in any diffusers DDPM)
    expected_noisy = alpha * 1.0 + sigma * 2.0
    expected_v = alpha * 2.0 - sigma * 1.0
    torch.testing.assert_close(
        scheduler.add_noise(x0, noise, k).flatten().double(), expected_noisy, atol=5e-5, rtol=0
    )
    torch.testing.assert_close(
        scheduler.get_velocity(x0, noise, k).flatten().double(), expected_v, atol=5e-5, rtol=0
    )
    assert float(scheduler.alphas_cumprod[-1]) == 0.0 and scheduler.config.prediction_type == "v_prediction"


def test_predict_matches_the_pipelines_preconditioning(backend):
    """Our (x_t, k) -> v call is the pipeline's EDM call at sigma = tan(pi t / 2): same model input,
    same timestep, same v."""
    pipe = backend.pipe
    text = backend.encode_text(TEXTS[:1])
    x0 = torch.randn(1, 3, 16, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(1, 3, 16, generator=torch.Generator().manual_seed(1))
    k = torch.tensor([599])
    t = 0.6
    sigma = float(np.tan(np.pi * t / 2))
    ours = backend.predict(backend.noise_scheduler.add_noise(x0, noise, k), k, text)
    edm_sample = x0 + sigma * noise
    scheduler = pipe.scheduler
    model_input = scheduler.precondition_inputs(edm_sample, torch.tensor(sigma))
    timestep = scheduler.precondition_noise(torch.tensor(sigma))
    assert float(timestep) == pytest.approx(t, abs=1e-6)
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    global_states = text.extra["global_hidden_states"]
    rotary = get_1d_rotary_pos_embed(
        pipe.rotary_embed_dim, 16 + global_states.shape[1], use_real=True, repeat_interleave_real=False
    )
    theirs = pipe.transformer(
        model_input,
        timestep[None],
        encoder_hidden_states=text.hidden_states,
        global_hidden_states=global_states,
        rotary_embedding=rotary,
    ).sample
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_training_hooks(backend):
    text = backend.encode_text(TEXTS[:2])
    assert text.hidden_states.shape[0] == 2 and text.extra["global_hidden_states"].shape == (2, 1, 8)
    audio = backend.generate(TEXTS[:2], [1, 2])
    x0 = backend.encode_audio(audio, 64)
    assert x0.shape == (2, 3, 16)  # padded to the model's whole window
    assert backend.encode_audio([np.zeros(100, np.float32)], 128).shape == (1, 3, 16)
    before, after, frozen_changed = one_finetune_step(backend, audio, 64, TEXTS[:2])
    assert np.isfinite(before) and after < before and not frozen_changed


def test_save_reloads_with_diffusers_and_baton(backend, saved):
    from diffusers import StableAudioPipeline

    assert (saved / "transformer" / "diffusion_pytorch_model.safetensors").exists()
    pipe = StableAudioPipeline.from_pretrained(saved)
    assert_same_clip(_direct(pipe, TEXTS[:1], [4])[0].mean(0), backend.generate(TEXTS[:1], [4])[0])
    reloaded = load_backend("stable-audio", saved)
    assert reloaded.default_settings == backend.default_settings
    assert_same_clip(reloaded.generate(TEXTS[:2], [7, 8])[1], backend.generate(TEXTS[:2], [7, 8])[1])


def test_bad_input(backend, saved, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(saved, folder)
    shutil.rmtree(folder / "projection_model")
    with pytest.raises(InputError, match="missing 'projection_model'"):
        load_backend("stable-audio", folder)
    with pytest.raises(InputError, match="holds a 'stable-audio' model, not a 'audioldm2' one"):
        load_backend("audioldm2", saved)
    with pytest.raises(InputError, match=r"must be in \(0, 0.5\] s") as caught:
        backend.generate(["rain"], [1], GenerationSettings(duration=2.0))
    assert caught.value.field == "duration"
    with pytest.raises(InputError, match="prompt 1 is .* tokens long; the T5 text encoder takes at most 24"):
        backend.generate(["rain falls " * 30], [1])
    with pytest.raises(InputError, match="prompt 2 is empty"):
        backend.generate(["rain", " "], [1, 2])
