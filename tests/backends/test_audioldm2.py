import json
import shutil

import numpy as np
import pytest
import torch

from baton.audio import MelConfig
from baton.backends import load_backend
from baton.backends.audioldm2 import AudioLDM2Backend, mel_for_vocoder
from baton.backends.base import GenerationSettings, T2ABackend
from baton.backends.tiny import TINY_SETTINGS, tiny_audioldm2_pipeline
from baton.errors import InputError

from .helpers import assert_same_clip, one_finetune_step, one_torch_thread

TEXTS = ["a dog barks then a bell rings", "rain falls", "a cat meows"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def backend():
    return AudioLDM2Backend(tiny_audioldm2_pipeline(seed=0), default_settings=TINY_SETTINGS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, backend):
    folder = tmp_path_factory.mktemp("audioldm2")
    backend.save(folder)
    return folder


def _direct(pipe, texts, seeds, **kwargs):
    """The diffusers pipeline called directly, one generator per clip."""
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    out = pipe(
        prompt=texts,
        num_inference_steps=3,
        guidance_scale=3.0,
        audio_length_in_s=0.08,
        generator=generators,
        output_type="np",
        **kwargs,
    )
    return out.audios


def test_implements_the_protocol(backend):
    assert isinstance(backend, T2ABackend) and backend.sample_rate == 16000


def test_front_end_of_the_released_models_is_audioldms():
    from transformers import SpeechT5HifiGanConfig

    from baton.backends.tango_convert import AUDIOLDM_HIFIGAN

    assert mel_for_vocoder(SpeechT5HifiGanConfig(**AUDIOLDM_HIFIGAN)) == MelConfig.tango()


def test_generate_matches_the_pipeline_and_depends_only_on_text_and_seed(backend):
    clips = backend.generate(TEXTS, [1, 2, 3])
    assert [c.shape for c in clips] == [(1280,)] * 3
    assert all(c.dtype == np.float32 and np.abs(c).max() > 0 for c in clips)
    for i, text in enumerate(TEXTS):
        alone = backend.generate([text], [i + 1])[0]
        assert np.array_equal(alone, _direct(backend.pipe, [text], [i + 1])[0])  # exactly diffusers' clip
        np.testing.assert_allclose(clips[i], alone, rtol=0, atol=1e-4 * np.abs(alone).max())
    # Prompts of one T5 length: the whole batch is exactly what the pipeline makes.
    same = ["rain falls", "bell rings"]
    assert len(set(map(len, backend.pipe.tokenizer_2(same).input_ids))) == 1
    ours = backend.generate(same, [5, 6], GenerationSettings(negative_prompt="noise"))
    theirs = _direct(backend.pipe, same, [5, 6], negative_prompt=["noise", "noise"])
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_the_bare_pipeline_is_not_batch_independent_and_we_are(backend):
    """Why the backend encodes prompts by length: diffusers' pipeline changes a clip with its batch."""
    alone = _direct(backend.pipe, ["rain falls"], [2])[0]
    in_batch = _direct(backend.pipe, TEXTS[:2], [1, 2])[1]
    ours = backend.generate(TEXTS[:2], [1, 2])[1]
    scale = np.abs(alone).max()
    assert np.abs(in_batch - alone).max() > 1e-3 * scale
    assert np.abs(ours - alone).max() < 1e-4 * scale


def test_guidance_is_one_batched_unet_pass(backend):
    batches = []
    hook = backend.pipe.unet.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
    try:
        backend.generate(TEXTS[:2], [1, 2])
    finally:
        hook.remove()
    assert batches == [4, 4, 4]


def test_training_hooks(backend):
    scheduler = backend.noise_scheduler
    assert type(scheduler).__name__ == "DDPMScheduler"
    assert torch.equal(scheduler.betas, backend.pipe.scheduler.betas)
    text = backend.encode_text(TEXTS[:2])
    assert text.hidden_states.shape == (2, 4, 16)  # GPT-2 states, max_new_tokens 4
    assert text.extra["encoder_hidden_states_1"].shape[:2] == text.extra["encoder_attention_mask_1"].shape
    assert text.index(slice(1, 2)).extra["encoder_hidden_states_1"].shape[0] == 1
    audio = backend.generate(TEXTS[:2], [1, 2])
    assert backend.encode_audio(audio, 16000).shape == (2, 4, 40, 4)
    before, after, frozen_changed = one_finetune_step(backend, audio, 16000, TEXTS[:2])
    assert np.isfinite(before) and after < before and not frozen_changed


def test_save_reloads_with_diffusers_and_baton(backend, saved):
    from diffusers import AudioLDM2Pipeline

    assert json.loads((saved / "baton_backend.json").read_text())["backend"] == "audioldm2"
    assert (saved / "unet" / "diffusion_pytorch_model.safetensors").exists()
    pipe = AudioLDM2Pipeline.from_pretrained(saved)
    assert_same_clip(_direct(pipe, ["rain falls"], [4])[0], backend.generate(["rain falls"], [4])[0])
    reloaded = load_backend("audioldm2", saved)
    assert reloaded.default_settings == backend.default_settings and reloaded.mel == backend.mel
    assert_same_clip(reloaded.generate(TEXTS, [7, 8, 9])[1], backend.generate(TEXTS, [7, 8, 9])[1])


def test_missing_part_is_named(saved, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(saved, folder)
    shutil.rmtree(folder / "vae")
    with pytest.raises(InputError, match="missing 'vae'"):
        load_backend("audioldm2", folder)


def test_pipeline_of_another_model_is_refused(saved, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(saved, folder)
    (folder / "baton_backend.json").unlink()
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableAudioPipeline"}))
    with pytest.raises(InputError, match="this is a StableAudioPipeline folder") as caught:
        load_backend("audioldm2", folder)
    assert caught.value.field == "_class_name"


def test_prompts_longer_than_the_encoders_take(backend):
    with pytest.raises(
        InputError, match="prompt 1 is 72 tokens long; the CLAP text encoder takes at most 64"
    ):
        backend.generate(["x" * 70], [1])
    with pytest.raises(InputError, match="the negative prompt is .* tokens long") as caught:
        backend.generate(["rain"], [1], GenerationSettings(negative_prompt="noise " * 20))
    assert caught.value.field == "negative_prompt"


def test_a_bare_gpt2_language_model_works():
    """Hub folders that name GPT2Model (not GPT2LMHeadModel) break the bare pipeline under
    transformers 5; the backend wraps the same weights and makes the same clips."""
    from transformers import GPT2Model

    pipe = tiny_audioldm2_pipeline(seed=0)
    bare = GPT2Model(pipe.language_model.config)
    bare.load_state_dict(pipe.language_model.transformer.state_dict())
    pipe.register_modules(language_model=bare)
    with pytest.raises(AttributeError, match="_update_model_kwargs_for_generation"):
        _direct(pipe, ["rain falls"], [3])
    wrapped = AudioLDM2Backend(pipe, default_settings=TINY_SETTINGS)
    reference = AudioLDM2Backend(tiny_audioldm2_pipeline(seed=0), default_settings=TINY_SETTINGS)
    assert np.array_equal(
        wrapped.generate(["rain falls"], [3])[0], reference.generate(["rain falls"], [3])[0]
    )
