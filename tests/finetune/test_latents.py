"""Sampled latents: ``baton generate`` keeps them beside the audio, fine-tuning trains on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baton.artifacts import LabelRecord, PromptRecord, Vote, read_records, write_records
from baton.audio import load_audio, save_audio
from baton.backends import load_backend
from baton.backends.base import GenerationSettings
from baton.errors import InputError
from baton.finetune import finetune
from baton.finetune.data import Clip
from baton.finetune.encode import clip_targets
from baton.generation.latents import LATENT_SUFFIX, latent_path, read_latent, write_latent
from baton.generation.run import GenerateConfig, run
from tests.finetune.helpers import finetune_config

TEXTS = ("A beep sounds, then rain falls.", "Someone knocks on a door while a hum drones.")


def _generate(folder, texts, per_prompt, **settings):
    prompts = folder / "prompts.jsonl"
    write_records(
        prompts,
        [PromptRecord(id=f"p{i}", text=text, task="integrity") for i, text in enumerate(texts)],
    )
    config = GenerateConfig(
        prompts=prompts, out=folder / "gen", per_prompt=per_prompt, steps=2, progress=False, **settings
    )
    return folder / "gen", run(config)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, tiny_world):
    """Two prompts x 2 clips from the tiny world model, with their latents."""
    return _generate(tmp_path_factory.mktemp("generated"), TEXTS, 2, model=str(tiny_world / "t2a"))


def _clips(folder, samples, source="human"):
    def loader(path):
        return lambda: load_audio(path)

    return [
        Clip(s.id, s.prompt_id, s.text, 1.0, source, loader(folder / s.path), folder / s.path)
        for s in samples
    ]


def test_generate_keeps_each_clips_latents_and_they_decode_to_its_audio(generated, tiny_world):
    folder, samples = generated
    backend = load_backend("world", str(tiny_world / "t2a"))
    for sample in samples:
        assert sample.latent == sample.path.removesuffix(".wav") + LATENT_SUFFIX
        latent, why = read_latent(folder / sample.path, backend.latent_space)
        assert why == "latent" and latent.shape == (64, 251)
        audio, _ = load_audio(folder / sample.path)
        decoded = backend.model.frames_to_audio(latent[None], [sample.seed])[0]
        np.testing.assert_array_equal(audio, decoded)
    # The record names the file, and the same clip sampled again is the same latents.
    again = backend.generate_with_latents([samples[1].text], [samples[1].seed], GenerationSettings(steps=2))[
        1
    ]
    torch.testing.assert_close(again[0], read_latent(folder / samples[1].path, backend.latent_space)[0])
    assert read_records(folder / "samples.jsonl", type(samples[0]))[0].latent == samples[0].latent


def test_no_latents_when_asked_or_when_the_backend_has_none(tmp_path, tiny_world, monkeypatch):
    from baton.backends import BACKENDS

    folder, samples = _generate(
        tmp_path / "off", TEXTS[:1], 1, model=str(tiny_world / "t2a"), save_latents=False
    )
    assert samples[0].latent is None and not list(folder.rglob(f"*{LATENT_SUFFIX}"))
    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")
    folder, samples = _generate(tmp_path / "tone", TEXTS[:1], 1, backend="tone")
    assert samples[0].latent is None and not list(folder.rglob(f"*{LATENT_SUFFIX}"))


def test_read_latent_says_why_not(tmp_path):
    audio = tmp_path / "x.wav"
    save_audio(audio, np.zeros(800, np.float32), 8000)
    assert read_latent(audio, "space-a") == (None, "none")
    write_latent(audio, torch.arange(6.0).reshape(2, 3), space="space-a", sample_id="x", seed=3)
    latent, why = read_latent(audio, "space-a")
    assert why == "latent" and torch.equal(latent, torch.arange(6.0).reshape(2, 3))
    assert read_latent(audio, "space-b") == (None, "other space")
    save_audio(audio, np.full(800, 0.1, np.float32), 8000)  # the clip was edited since
    assert read_latent(audio, "space-a") == (None, "audio changed")
    latent_path(audio).write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="cannot read this latent file") as info:
        read_latent(audio, "space-a")
    assert info.value.path == str(latent_path(audio))


def test_training_targets_are_the_latents_where_they_fit(generated, tiny_world, tmp_path):
    folder, samples = generated
    backend = load_backend("world", str(tiny_world / "t2a"))
    clips = _clips(folder, samples)
    x0, counts = clip_targets(backend, clips)
    assert counts == {"latent": 4, "audio": 0}
    for row, sample in enumerate(samples):
        torch.testing.assert_close(x0[row], read_latent(folder / sample.path, backend.latent_space)[0])
    from_audio = backend.encode_audio([c.load()[0] for c in clips], 16000)
    assert not torch.allclose(x0, from_audio, atol=1e-3)  # the round trip through audio is not exact

    # Off, a pretraining clip, an edited clip: their audio is encoded instead.
    x0_off, counts_off = clip_targets(backend, clips, sampled_latents=False)
    assert counts_off == {"latent": 0, "audio": 4}
    torch.testing.assert_close(x0_off, from_audio)
    copy = tmp_path / "edited.wav"
    copy.write_bytes((folder / samples[0].path).read_bytes())
    latent_path(copy).write_bytes(latent_path(folder / samples[0].path).read_bytes())
    save_audio(copy, 0.5 * clips[0].load()[0], 16000)
    mixed = [
        Clip("e", "e", "x", 1.0, "human", lambda: load_audio(copy), copy),
        *_clips(folder, samples[1:2], source="pretrain"),
        clips[2],
    ]
    x0_mixed, counts_mixed = clip_targets(backend, mixed)
    assert counts_mixed == {"latent": 1, "audio": 2, "audio changed": 1}
    torch.testing.assert_close(x0_mixed[0], backend.encode_audio([mixed[0].load()[0]], 16000)[0])
    torch.testing.assert_close(x0_mixed[1], from_audio[1])
    torch.testing.assert_close(x0_mixed[2], x0[2])


def test_latents_of_another_space_or_shape_are_not_targets(generated, tiny_world, monkeypatch):
    folder, samples = generated
    backend = load_backend("world", str(tiny_world / "t2a"))
    clips = _clips(folder, samples[:2])
    monkeypatch.setattr(type(backend), "latent_space", property(lambda self: "another model's"))
    assert clip_targets(backend, clips)[1] == {"latent": 0, "audio": 2, "other space": 2}
    monkeypatch.undo()
    kept = latent_path(folder / samples[0].path).read_bytes()
    write_latent(
        folder / samples[0].path, torch.zeros(64, 100), space=backend.latent_space, sample_id="x", seed=None
    )
    try:
        x0, counts = clip_targets(backend, clips)
        assert counts == {"latent": 1, "audio": 1, "other shape": 1}
        torch.testing.assert_close(x0[0], backend.encode_audio([clips[0].load()[0]], 16000)[0])
    finally:
        latent_path(folder / samples[0].path).write_bytes(kept)


def test_finetune_trains_on_the_sampled_latents_and_says_so(generated, tiny_world, tmp_path):
    folder, samples = generated
    labels = folder / "labels.jsonl"
    write_records(
        labels,
        [
            LabelRecord.from_votes(
                [Vote(annotator="a", value=float(s.index == 0))],
                sample_id=s.id,
                prompt_id=s.prompt_id,
                text=s.text,
                path=s.path,
            )
            for s in samples
        ],
    )
    finetune(
        finetune_config(
            tmp_path, (labels, None), str(tiny_world / "t2a"), steps=2, batch_size=2, grad_accum=1
        )
    )
    summary = json.loads((tmp_path / "out" / "finetune.json").read_text())
    targets = summary["data"]["targets"]
    assert targets["latent"] == 4 and targets["audio"] > 0  # the pretraining clips come from audio
    assert summary["config"]["sampled_latents"] is True
