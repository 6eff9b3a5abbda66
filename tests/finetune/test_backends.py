"""Every diffusers-based backend fine-tunes through the protocol and saves in its own loadable format."""

import numpy as np
import pytest
import torch

from baton.artifacts import LabelRecord, Vote, write_records
from baton.audio import save_audio
from baton.backends import load_backend
from baton.backends.base import GenerationSettings
from baton.errors import InputError
from baton.finetune import FinetuneConfig, finetune


def _tango(folder):
    from baton.backends.tiny import tiny_tango

    tiny_tango(seed=0).save(folder)


def _audioldm2(folder):
    from baton.backends.audioldm2 import AudioLDM2Backend
    from baton.backends.tiny import TINY_SETTINGS, tiny_audioldm2_pipeline

    AudioLDM2Backend(tiny_audioldm2_pipeline(seed=0), default_settings=TINY_SETTINGS).save(folder)


def _stable_audio(folder):
    from baton.backends.stable_audio import StableAudioBackend
    from baton.backends.tiny import tiny_stable_audio_pipeline

    settings = GenerationSettings(steps=3, guidance_scale=7.0, duration=0.25)
    StableAudioBackend(tiny_stable_audio_pipeline(seed=0), default_settings=settings).save(folder)


BUILDERS = {"tango": _tango, "audioldm2": _audioldm2, "stable-audio": _stable_audio}
TEXTS = ["a dog barks", "rain falls", "a bell rings then a car passes"]


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    """Two clips per prompt, one labelled 1 and one 0, of short random audio at 16 kHz."""
    folder = tmp_path_factory.mktemp("tiny-feedback")
    rng = np.random.default_rng(0)
    records = []
    for p, text in enumerate(TEXTS):
        for k in range(2):
            path = f"c{p}-{k}.wav"
            save_audio(folder / path, (0.3 * rng.standard_normal(1600)).astype(np.float32), 16000)
            vote = Vote(annotator="a", value=float(k == 0))
            records.append(
                LabelRecord.from_votes([vote], sample_id=f"c{p}-{k}", prompt_id=f"p{p}", text=text, path=path)
            )
    write_records(folder / "labels.jsonl", records)
    return folder / "labels.jsonl"


def _config(tmp_path, labels, name, base, **overrides):
    """Two steps of two clips on ``labels``, into ``tmp_path/out``."""
    settings = dict(
        backend=name,
        model=str(base),
        labels=labels,
        beta=0.0,  # no pretraining set for these
        out=tmp_path / "out",
        steps=2,
        batch_size=2,
        grad_accum=1,
        learning_rate=1e-2,
        val_fraction=0.0,
        progress=False,
    )
    return FinetuneConfig(**{**settings, **overrides})


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_finetune_saves_the_backends_own_format(tmp_path, labels, name):
    base = tmp_path / "base"
    BUILDERS[name](base)
    before = {k: v.clone() for k, v in load_backend(name, base).denoiser.state_dict().items()}
    model_dir = finetune(
        _config(tmp_path, labels, name, base, method="dpo" if name == "audioldm2" else "baton")
    )
    tuned = load_backend(name, model_dir)
    after = tuned.denoiser.state_dict()
    assert set(after) == set(before)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    if name == "tango":
        text_before = load_backend(name, base).text_encoder.state_dict()
        assert all(torch.equal(v, tuned.text_encoder.state_dict()[k]) for k, v in text_before.items())
    clips = tuned.generate(TEXTS[:1], [3])  # and it still generates
    assert np.isfinite(clips[0]).all()


def test_a_tuned_tango_is_a_hub_style_folder_that_diffusers_and_transformers_load_part_by_part(
    tmp_path, labels
):
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, SpeechT5HifiGan, T5EncoderModel

    from baton.finetune.card import front_matter_of

    base = tmp_path / "base"
    _tango(base)
    (base / "README.md").write_text("---\nlicense: cc-by-nc-sa-4.0\n---\n# Tango\n")  # as Tango's card
    model_dir = finetune(_config(tmp_path, labels, "tango", base, method="dpo", dpo_beta=500.0))
    tuned = load_backend("tango", model_dir)  # baton's own loader
    start = load_backend("tango", base).unet.state_dict()
    assert any(not torch.equal(v, tuned.unet.state_dict()[k]) for k, v in start.items())  # it was tuned

    # Each part as diffusers and transformers load a hub repository's subfolder, equal to the tuned model.
    modules = {
        "unet": (UNet2DConditionModel, tuned.unet),
        "vae": (AutoencoderKL, tuned.vae),
        "vocoder": (SpeechT5HifiGan, tuned.vocoder),
        "text_encoder": (T5EncoderModel, tuned.text_encoder),
    }
    for subfolder, (cls, module) in modules.items():
        loaded = cls.from_pretrained(model_dir, subfolder=subfolder).state_dict()
        expected = module.state_dict()
        assert set(loaded) == set(expected), subfolder
        assert all(torch.equal(loaded[k], expected[k]) for k in expected), subfolder
    tokenizer = AutoTokenizer.from_pretrained(model_dir, subfolder="tokenizer")
    assert tokenizer(TEXTS).input_ids == tuned.tokenizer(TEXTS).input_ids
    scheduler = DDPMScheduler.from_pretrained(model_dir, subfolder="scheduler")

    def public(config):  # diffusers' bookkeeping keys (_use_default_values...) aside
        return {k: v for k, v in dict(config).items() if not k.startswith("_")}

    assert public(scheduler.config) == public(tuned.scheduler.config)
    assert tuned.scheduler.config.prediction_type == "v_prediction"

    # The model card: the base model's licence carried over, the method's tags and settings.
    front = front_matter_of(model_dir / "README.md")
    assert front["base_model"] == str(base.resolve()) and front["license"] == "cc-by-nc-sa-4.0"
    assert {"dpo", "tango", "text-to-audio"} <= set(front["tags"]) and front[
        "pipeline_tag"
    ] == "text-to-audio"
    card = (model_dir / "README.md").read_text()
    assert "| DPO beta | 500 |" in card and 'subfolder="text_encoder"' in card


def test_a_backend_that_refuses_the_empty_prompt_names_the_setting_that_needs_it(tmp_path, labels):
    from tests.finetune.helpers import finetune_config

    BUILDERS["audioldm2"](tmp_path / "base")
    settings = dict(method="sft", backend="audioldm2", steps=1, val_fraction=0.0, text_dropout=0.1)
    config = finetune_config(tmp_path, (labels, None), str(tmp_path / "base"), **settings)
    with pytest.raises(InputError, match="empty prompt") as error:
        finetune(config)
    assert error.value.field == "text_dropout"


def test_tango_trains_flan_t5_when_asked_and_saves_it(tmp_path, labels):
    base = tmp_path / "base"
    _tango(base)
    before = {k: v.clone() for k, v in load_backend("tango", base).text_encoder.state_dict().items()}
    tuned = load_backend("tango", finetune(_config(tmp_path, labels, "tango", base, train_text_encoder=True)))
    after = tuned.text_encoder.state_dict()
    assert set(after) == set(before)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in tuned.text_encoder.parameters())  # frozen again once loaded
    assert np.isfinite(tuned.generate(TEXTS[:1], [3])[0]).all()


def test_audioldm2_refuses_to_train_its_text_encoders(tmp_path, labels):
    base = tmp_path / "base"
    _audioldm2(base)
    with pytest.raises(InputError, match="audioldm2 backend keeps its text encoder frozen") as caught:
        finetune(_config(tmp_path, labels, "audioldm2", base, train_text_encoder=True))
    assert caught.value.field == "train_text_encoder"
