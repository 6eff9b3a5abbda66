import json
import shutil

import numpy as np
import pytest
import torch

from baton.backends import load_backend
from baton.backends import tango_convert as tc
from baton.backends.base import GenerationSettings, T2ABackend
from baton.backends.tango import TangoBackend
from baton.backends.tiny import tiny_tango
from baton.errors import InputError

from . import audioldm_reference as ref
from .helpers import assert_same_clip, denoising_loss, one_finetune_step, one_torch_thread

TEXTS = ["a dog barks then a bell rings", "rain falls", "a cat meows while wind blows"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def backend():
    return tiny_tango(seed=0)


@pytest.fixture(scope="module")
def original_folder(tmp_path_factory, backend):
    """The tiny model written in Tango's hub layout (through the reverse key mapping)."""
    folder = tmp_path_factory.mktemp("tango-original")
    backend.save_original(folder)
    return folder


def test_tiny_tango_implements_the_protocol(backend):
    assert isinstance(backend, T2ABackend)
    assert backend.sample_rate == 16000
    assert backend.noise_scheduler.config.prediction_type == "v_prediction"


def test_scheduler_is_tangos(backend):
    betas = backend.noise_scheduler.betas
    assert len(betas) == 1000
    assert float(betas[0]) == pytest.approx(0.00085) and float(betas[-1]) == pytest.approx(0.012)
    # scaled_linear: sqrt(beta) rises linearly from sqrt(0.00085) to sqrt(0.012)
    by_hand = (np.sqrt(0.00085) + np.arange(1000) / 999 * (np.sqrt(0.012) - np.sqrt(0.00085))) ** 2
    np.testing.assert_allclose(betas.numpy(), by_hand, rtol=1e-6)
    scheduler = backend.noise_scheduler.__class__.from_config(backend.noise_scheduler.config)
    scheduler.set_timesteps(200)
    assert scheduler.timesteps.tolist() == list(range(995, -1, -5))  # diffusers 0.18's DDPM, as Tango ran it


def test_generate_float32_clips_that_depend_only_on_text_and_seed(backend):
    clips = backend.generate(TEXTS, [11, 12, 13])
    assert [c.shape for c in clips] == [(1280,)] * 3  # 0.08 s at 16 kHz
    assert all(c.dtype == np.float32 and np.isfinite(c).all() and np.abs(c).max() > 0 for c in clips)
    for i in range(3):  # alone, or in another batch order: the same clip
        alone = backend.generate([TEXTS[i]], [11 + i])[0]
        np.testing.assert_allclose(alone, clips[i], rtol=0, atol=1e-4 * np.abs(clips[i]).max())
    reordered = backend.generate(TEXTS[::-1], [13, 12, 11])
    np.testing.assert_allclose(reordered[2], clips[0], rtol=0, atol=1e-4 * np.abs(clips[0]).max())
    again = backend.generate(TEXTS[:1], [11])[0]
    other_seed = backend.generate(TEXTS[:1], [99])[0]
    assert np.array_equal(again, backend.generate(TEXTS[:1], [11])[0])
    assert np.abs(other_seed - again).max() > 10 * np.abs(again - clips[0]).max()


def test_generate_with_latents_gives_the_latents_the_clips_decode_from(backend):
    from baton.backends.base import SamplesLatents

    assert isinstance(backend, SamplesLatents)
    settings = GenerationSettings(steps=2)
    clips, latents = backend.generate_with_latents(TEXTS[:2], [5, 6], settings)
    # the latents of training space: encode_audio's shape, and they decode to the clips
    assert latents.shape == backend.encode_audio(clips, 16000).shape
    with torch.no_grad():
        mel = backend.vae.decode(latents / backend.vae.config.scaling_factor).sample
        again = backend.vocoder(mel[:, 0])[:, : clips[0].shape[0]].numpy()
    np.testing.assert_allclose(again, np.stack(clips), atol=1e-6)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(clips, backend.generate(TEXTS[:2], [5, 6], settings), strict=True)
    )
    # the latent space names the VAE: another VAE's latents are not this model's targets
    space = backend.latent_space
    assert space == tiny_tango(seed=0).latent_space != tiny_tango(seed=1).latent_space


def test_guidance_is_one_batched_unet_pass(backend):
    batches = []
    hook = backend.unet.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
    try:
        backend.generate(TEXTS[:2], [1, 2], GenerationSettings(steps=3, guidance_scale=3.0))
        guided = list(batches)
        batches.clear()
        backend.generate(TEXTS[:2], [1, 2], GenerationSettings(steps=3, guidance_scale=1.0))
    finally:
        hook.remove()
    assert guided == [4, 4, 4] and batches == [2, 2, 2]


def test_duration_sets_the_clip_length(backend):
    clip = backend.generate(TEXTS[:1], [1], GenerationSettings(duration=0.05))[0]
    assert clip.shape == (800,)  # 80 frames -> rounded up to a multiple of 4 latents, then cut


def test_one_finetuning_step_through_the_protocol(backend):
    audio = backend.generate(TEXTS[:2], [1, 2])
    x0 = backend.encode_audio(audio, 16000)
    assert x0.shape == (2, 4, 40, 4)  # 80 frames x 8 mels, VAE downsampling 2
    # A clip at another rate and longer than the training length is resampled and cut.
    long = np.sin(np.linspace(0, 400, 4000)).astype(np.float32)
    assert backend.encode_audio([long], 22050).shape == (1, 4, 40, 4)
    before, after, frozen_changed = one_finetune_step(backend, audio, 16000, TEXTS[:2])
    assert np.isfinite(before) and after < before
    assert not frozen_changed


def test_save_is_loadable_by_diffusers_and_by_baton(backend, tmp_path):
    from diffusers import UNet2DConditionModel

    backend.save(tmp_path / "tuned")
    assert (tmp_path / "tuned" / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert not list((tmp_path / "tuned").rglob("*.bin"))
    unet = UNet2DConditionModel.from_pretrained(tmp_path / "tuned" / "unet")
    for name, tensor in backend.unet.state_dict().items():
        assert torch.equal(unet.state_dict()[name], tensor), name
    reloaded = load_backend("tango", tmp_path / "tuned")
    assert isinstance(reloaded, TangoBackend) and reloaded.default_settings == backend.default_settings
    assert_same_clip(reloaded.generate(TEXTS[:2], [5, 6])[0], backend.generate(TEXTS[:2], [5, 6])[0])


def test_original_layout_files(original_folder):
    names = {p.name for p in original_folder.iterdir()}
    assert set(tc.ORIGINAL_FILES) <= names
    main = torch.load(original_folder / tc.MAIN_WEIGHTS, weights_only=True)
    assert any(k.startswith("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k") for k in main)
    assert "text_encoder.encoder.block.0.layer.0.SelfAttention.q.weight" in main
    vae = torch.load(original_folder / tc.VAE_WEIGHTS, weights_only=True)
    # taming/AudioLDM names: 1x1-conv attention, reversed decoder levels, vocoder "ups"
    assert vae["encoder.mid.attn_1.q.weight"].shape == (64, 64, 1, 1)
    assert "decoder.up.1.upsample.conv.weight" in vae and "decoder.up.0.upsample.conv.weight" not in vae
    assert vae["decoder.up.0.block.0.nin_shortcut.weight"].shape == (32, 64, 1, 1)
    assert "vocoder.ups.0.weight" in vae and "vocoder.conv_post.bias" in vae
    config = json.loads((original_folder / tc.VAE_CONFIG).read_text())
    assert (
        config["ddconfig"]["ch"] == 32
        and config["ddconfig"]["ch_mult"] == [1, 2]
        and config["embed_dim"] == 4
    )


def test_converted_vae_and_vocoder_match_an_independent_audioldm_reading(backend, original_folder):
    """The AudioLDM-named weights, run through an independent implementation of AudioLDM's VAE and
    HiFi-GAN, give what the converted diffusers/transformers modules give; and that reading uses
    every weight of the checkpoint."""
    loaded = TangoBackend.from_original(original_folder)
    weights = ref.KeyLog(torch.load(original_folder / tc.VAE_WEIGHTS, weights_only=True))
    levels, blocks = 2, 1
    torch.manual_seed(0)
    mel = torch.randn(2, 1, 16, 8)
    z = torch.randn(2, 4, 8, 4)
    with torch.no_grad():
        moments = ref.encode_moments(weights, mel, levels, blocks)
        expected_mel = ref.decode(weights, z, levels, blocks)
        expected_wave = ref.hifigan(weights, expected_mel[:, 0].transpose(1, 2), [4, 4], [3], [[1, 3, 5]])
        posterior = loaded.vae.encode(mel).latent_dist
        decoded = loaded.vae.decode(z).sample
        wave = loaded.vocoder(decoded[:, 0])
    assert weights.read == set(weights)  # no weight unused, none missing (a missing one would raise)
    torch.testing.assert_close(posterior.mean, moments[:, :4], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(posterior.logvar, moments[:, 4:].clamp(-30, 20), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(decoded, expected_mel, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(wave, expected_wave, rtol=1e-4, atol=1e-6)


def test_original_layout_loads_to_the_same_model(backend, original_folder):
    loaded = load_backend("tango", original_folder)
    assert loaded.vae.config.scaling_factor == pytest.approx(backend.vae.config.scaling_factor)
    assert loaded.mel == backend.mel
    for ours, theirs in ((backend.unet, loaded.unet), (backend.text_encoder, loaded.text_encoder)):
        for name, tensor in ours.state_dict().items():
            assert torch.equal(theirs.state_dict()[name], tensor), name
    settings = GenerationSettings(steps=2, duration=0.08)
    assert_same_clip(
        loaded.generate(TEXTS[:1], [3], settings)[0], backend.generate(TEXTS[:1], [3], settings)[0]
    )


def test_stft_buffers_compute_our_mel(backend):
    """AudioLDM's STFT (a convolution with the windowed DFT basis) from the buffers we write gives
    the mel our front end computes."""
    buffers = tc.tacotron_stft_state_dict(backend.mel)
    wave = torch.from_numpy(np.sin(np.linspace(0, 300, 1280)).astype(np.float32))[None] * 0.5
    theirs = ref.tacotron_mel(buffers, wave, backend.mel.n_fft, backend.mel.hop_length)
    torch.testing.assert_close(backend.mel_spectrogram(wave), theirs, rtol=1e-4, atol=1e-4)


# --- bad input ---------------------------------------------------------------------------------------


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_missing_file_is_named(original_folder, tmp_path):
    folder = _copy(original_folder, tmp_path)
    (folder / tc.VAE_WEIGHTS).unlink()
    with pytest.raises(InputError, match="missing 'pytorch_model_vae.bin'"):
        TangoBackend.load(folder)


def test_our_layout_missing_part_is_named(backend, tmp_path):
    backend.save(tmp_path / "saved")
    shutil.rmtree(tmp_path / "saved" / "vocoder")
    with pytest.raises(InputError, match="missing 'vocoder'"):
        TangoBackend.load(tmp_path / "saved")


def test_config_from_another_model_is_refused(original_folder, tmp_path):
    folder = _copy(original_folder, tmp_path)
    # a diffusers AutoencoderKL config where AudioLDM's vae_config.json belongs
    (folder / tc.VAE_CONFIG).write_text(json.dumps({"_class_name": "AutoencoderKL", "latent_channels": 4}))
    with pytest.raises(InputError) as caught:
        TangoBackend.load(folder)
    assert caught.value.field == "ddconfig" and caught.value.path.endswith(tc.VAE_CONFIG)


def test_text_encoder_of_another_kind_is_refused(original_folder, tmp_path):
    from transformers import GPT2Config

    folder = _copy(original_folder, tmp_path)
    GPT2Config(n_embd=16, n_layer=1, n_head=2).save_pretrained(folder / "gpt")
    shutil.copy(folder / "text_encoder" / "tokenizer.json", folder / "gpt")
    main = json.loads((folder / tc.MAIN_CONFIG).read_text())
    (folder / tc.MAIN_CONFIG).write_text(json.dumps({**main, "text_encoder_name": "gpt"}))
    with pytest.raises(InputError, match="is a gpt2 model") as caught:
        TangoBackend.load(folder)
    assert caught.value.field == "text_encoder_name"


def test_weights_of_another_model_are_refused(original_folder, tmp_path):
    folder = _copy(original_folder, tmp_path)
    main = torch.load(folder / tc.MAIN_WEIGHTS, weights_only=True)
    main["group_in.0.weight"] = torch.zeros(512, 8)
    torch.save(main, folder / tc.MAIN_WEIGHTS)
    with pytest.raises(InputError, match="group_in"):
        TangoBackend.load(folder)


def test_a_mel_front_end_that_differs_is_refused(original_folder, tmp_path):
    folder = _copy(original_folder, tmp_path)
    stft = torch.load(folder / tc.STFT_WEIGHTS, weights_only=True)
    stft["mel_basis"] = stft["mel_basis"] * 1.5
    torch.save(stft, folder / tc.STFT_WEIGHTS)
    with pytest.raises(InputError, match="mel filterbank differs"):
        TangoBackend.load(folder)


def test_a_folder_of_another_backend_is_refused(tmp_path):
    (tmp_path / "baton_backend.json").write_text(json.dumps({"backend": "audioldm2", "version": 1}))
    with pytest.raises(InputError, match="holds a 'audioldm2' model, not a 'tango' one"):
        load_backend("tango", tmp_path)


def test_prompt_longer_than_the_text_encoder_takes(backend):
    with pytest.raises(InputError, match=r"prompt 2 is \d+ tokens long; the text encoder takes at most 24"):
        backend.generate(["rain", "a dog barks " * 20], [1, 2])


def test_hub_model_unavailable_offline():
    with pytest.raises(InputError, match="declare-lab/tango-full-ft-audiocaps' is not a folder here"):
        load_backend("tango", None)


def test_loss_is_finite_and_depends_on_the_text(backend):
    audio = backend.generate(TEXTS[:1], [1])
    with torch.no_grad():
        a = denoising_loss(backend, audio, 16000, TEXTS[:1])
        b = denoising_loss(backend, audio, 16000, ["bell rings"])
    assert torch.isfinite(a) and float(a) != float(b)


def test_vocoder_weights_that_are_not_audioldms_hifigan_are_named(original_folder, tmp_path):
    folder = _copy(original_folder, tmp_path)
    (folder / tc.VOCODER_CONFIG).unlink()  # the tiny HiFi-GAN is then read as AudioLDM's 16 kHz/64-mel one
    with pytest.raises(
        InputError, match=r"'vocoder.conv_pre.weight' is of shape \(16, 8, 7\).*vocoder_config.json"
    ):
        TangoBackend.load(folder)
