"""--train-text-encoder: the world model's text encoder trains with the denoiser, and only when asked."""

import json

import pytest
import torch

from baton.backends import load_backend
from baton.backends.world import WorldBackend
from baton.errors import InputError
from baton.finetune import finetune
from baton.finetune.encode import TextTable
from tests.finetune.helpers import finetune_config as _config


class FrozenTextWorld(WorldBackend):
    """A plug-in backend whose text encoder cannot train (as the real backends' cannot)."""

    @property
    def trainable_text_encoder(self):
        return None


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, after):
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_the_text_encoder_trains_and_is_saved_with_the_denoiser(tmp_path, feedback, base):
    before = load_backend("world", base)
    model_dir = finetune(_config(tmp_path, feedback, base, train_text_encoder=True))
    tuned = load_backend("world", model_dir)
    assert _changed(_weights(before.model.text_encoder), _weights(tuned.model.text_encoder))
    assert _changed(_weights(before.denoiser), _weights(tuned.denoiser))
    caption = json.loads(feedback[0].read_text().splitlines()[0])["text"]
    with torch.no_grad():
        old, new = before.encode_text([caption]), tuned.encode_text([caption])
    assert not torch.allclose(old.hidden_states, new.hidden_states)
    # a loaded model's encoder is frozen again until a run asks for it
    assert not any(p.requires_grad for p in tuned.model.text_encoder.parameters())
    assert tuned.encode_text([caption]).hidden_states.grad_fn is None


def test_resuming_restores_the_text_encoder_too(tmp_path, feedback, base):
    settings = dict(train_text_encoder=True, checkpoint_every=2, select="last")
    finetune(_config(tmp_path / "a", feedback, base, **settings))
    finetune(_config(tmp_path / "b", feedback, base, stop_after=2, **settings))
    finetune(_config(tmp_path / "b", feedback, base, resume=True, **settings))
    one = load_backend("world", tmp_path / "a" / "out" / "model").model
    two = load_backend("world", tmp_path / "b" / "out" / "model").model
    for part in ("text_encoder", "denoiser"):
        first, second = _weights(getattr(one, part)), _weights(getattr(two, part))
        assert not _changed(first, second), part


def test_dpo_keeps_its_reference_on_the_starting_text_encoder(tmp_path, feedback, base):
    from baton.finetune.objectives import FrozenReference

    backend = load_backend("world", base)
    captions = ["a dog barks", "rain falls then a bell rings"]
    frozen = TextTable(backend, captions)
    reference = FrozenReference(backend, text=frozen)
    trained = TextTable(backend, captions, precompute=False)
    assert frozen.precomputed and not trained.precomputed
    noisy = torch.randn(2, 64, 251)
    timesteps = torch.tensor([10, 500])
    rows = torch.tensor([0, 1])
    start = reference.predict(noisy, timesteps, reference.text.batch(rows))
    backend.model.text_encoder.requires_grad_(True)
    with torch.no_grad():
        for p in backend.model.text_encoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
    # the run's own table follows the training encoder, with gradients; the reference's does not move
    states = trained.batch(rows).hidden_states
    assert states.requires_grad
    assert not torch.allclose(states, frozen.batch(rows).hidden_states)
    assert torch.equal(reference.predict(noisy, timesteps, reference.text.batch(rows)), start)


def test_dpo_with_the_text_encoder_starts_at_log_two(tmp_path, feedback, base, monkeypatch):
    from baton.finetune import objectives
    from baton.finetune import run as finetune_run

    made = []

    class Recorded(objectives.FrozenReference):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(finetune_run, "FrozenReference", Recorded)  # where the run makes it
    model_dir = finetune(_config(tmp_path, feedback, base, method="dpo", steps=2, train_text_encoder=True))
    first = json.loads((tmp_path / "out" / "train_log.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.693147, abs=1e-5)
    # the run's reference was conditioned on the starting encoder's states, not the tuned one's
    (reference,) = made
    assert reference.text is not None and reference.text.precomputed
    captions = reference.text.texts
    rows = torch.arange(len(captions))
    with torch.no_grad():
        start = load_backend("world", base).encode_text(captions).hidden_states
        tuned = load_backend("world", model_dir).encode_text(captions).hidden_states
    kept = reference.text.batch(rows).hidden_states
    assert torch.allclose(kept[:, : start.shape[1]], start, atol=1e-6)
    assert not torch.allclose(kept[:, : tuned.shape[1]], tuned, atol=1e-6)


def test_text_encoder_training_is_refused_where_it_cannot_work(tmp_path, feedback, base, monkeypatch):
    with pytest.raises(InputError, match="LoRA adapts the denoiser alone") as caught:
        _config(tmp_path, feedback, base, train_text_encoder=True, lora_rank=2)
    assert caught.value.field == "train_text_encoder"
    monkeypatch.setenv("BATON_EXTRA_BACKENDS", f"frozen={__name__}:FrozenTextWorld")
    with pytest.raises(InputError, match="frozen backend keeps its text encoder frozen") as caught:
        finetune(_config(tmp_path, feedback, base, backend="frozen", beta=0.0, train_text_encoder=True))
    assert caught.value.field == "train_text_encoder"
    assert not (tmp_path / "out" / "train_log.jsonl").exists()  # refused before any training
