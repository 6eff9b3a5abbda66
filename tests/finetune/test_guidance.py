"""Caption dropout, the guided prediction and the timesteps drawn in fine-tuning, on a tiny world model."""

import pytest
import torch

from baton.backends import load_backend
from baton.diffusion import classifier_free_guidance as guided_prediction
from baton.errors import InputError
from baton.finetune import finetune
from baton.finetune.encode import TextTable
from baton.finetune.objectives import Denoising, Tables
from tests.finetune.helpers import finetune_config as _config


def _denoising(tmp_path, feedback, base, **overrides):
    """Two clips of random frames, captioned "a steady beep" and "", and the empty prompt at index 1."""
    backend = load_backend("world", base)
    frames = backend.model.config.n_frames
    x0 = torch.randn((2, backend.model.config.mel.n_mels, frames), generator=torch.Generator().manual_seed(0))
    tables = Tables(
        x0=x0,
        text=TextTable(backend, ["a steady beep", ""]),
        text_index=torch.tensor([0, 1]),
        rewards=torch.ones(2),
        empty_index=1,
    )
    config = _config(tmp_path, feedback, base, **overrides)
    return backend, Denoising(backend, tables, config, torch.device("cpu"))


def test_guided_prediction_by_hand():
    u = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    c = torch.tensor([[1.0, 1.0, 1.0, 5.0]])
    g = u + 3.0 * (c - u)  # [3, 1, -1, 9]
    assert torch.equal(guided_prediction(u, c, 3.0), g)
    assert torch.equal(guided_prediction(u, c, 1.0), c)
    ratio = c.std() / g.std()
    expected = 0.5 * g * ratio + 0.5 * g
    assert torch.allclose(guided_prediction(u, c, 3.0, rescale=0.5), expected)


def test_dropout_draws_leave_timesteps_and_noise_as_they_were(tmp_path, feedback, base):
    _, plain = _denoising(tmp_path, feedback, base, text_dropout=0.0)
    _, dropping = _denoising(tmp_path, feedback, base, text_dropout=0.3)
    t0, n0, d0 = plain.draw(7, 4000)
    t1, n1, d1 = dropping.draw(7, 4000)
    assert torch.equal(t0, t1) and torch.equal(n0, n1)
    assert not d0.any()
    assert 0.27 < d1.float().mean() < 0.33


def test_timesteps_are_drawn_from_the_asked_share_of_the_schedule(tmp_path, feedback, base):
    _, everywhere = _denoising(tmp_path, feedback, base)
    _, noisy_half = _denoising(tmp_path, feedback, base, timestep_low=0.5)
    t0, n0, _ = everywhere.draw(7, 4000)
    t1, n1, _ = noisy_half.draw(7, 4000)
    assert int(t0.min()) < 50 and int(t0.max()) > 950
    assert int(t1.min()) >= 500 and int(t1.max()) > 950
    assert torch.equal(n0, n1)  # the noise does not depend on the range
    _, narrow = _denoising(tmp_path, feedback, base, timestep_low=0.2, timestep_high=0.3)
    t2, _, _ = narrow.draw(7, 4000)
    assert int(t2.min()) >= 200 and int(t2.max()) < 300


def test_a_dropped_caption_is_the_empty_prompt(tmp_path, feedback, base):
    _, denoising = _denoising(tmp_path, feedback, base)
    t = torch.tensor([600, 600])
    noise = torch.randn((2, *denoising.sample_shape), generator=torch.Generator().manual_seed(1))
    noise[1] = noise[0]
    denoising.tables.x0[1] = denoising.tables.x0[0]  # row 1: the same clip, captioned ""
    kept = denoising.losses(torch.tensor([0, 1]), t, noise, weighted=True)
    assert kept[0] != kept[1]  # the caption matters to this model
    dropped = denoising.losses(
        torch.tensor([0, 1]), t, noise, weighted=True, dropped=torch.tensor([True, False])
    )
    assert torch.allclose(dropped[0], kept[1])


def test_guided_rows_are_fitted_with_guidance(tmp_path, feedback, base):
    from baton.diffusion import denoising_target
    from baton.finetune.losses import per_sample_loss

    backend, denoising = _denoising(tmp_path, feedback, base, train_guidance=4.0, train_guidance_rescale=0.5)
    rows, t = torch.tensor([0, 0]), torch.tensor([300, 700])
    noise = torch.randn((2, *denoising.sample_shape), generator=torch.Generator().manual_seed(2))
    guided = torch.tensor([True, False])
    losses = denoising.losses(rows, t, noise, weighted=False, guided=guided)
    # by hand: the conditional and unconditional predictions, combined for row 0 only
    x0 = denoising.tables.x0[rows]
    noisy = denoising.scheduler.add_noise(x0, noise, t)
    cond = backend.predict(noisy, t, denoising.tables.text.batch(torch.tensor([0, 0])))
    uncond = backend.predict(noisy, t, denoising.tables.text.batch(torch.tensor([1, 1])))
    target = denoising_target(denoising.scheduler, x0, noise, t)
    expected_guided = per_sample_loss(guided_prediction(uncond[:1], cond[:1], 4.0, 0.5), target[:1], None)
    expected_plain = per_sample_loss(cond[1:], target[1:], None)
    assert torch.allclose(losses, torch.cat([expected_guided, expected_plain]), rtol=1e-4, atol=1e-6)
    # the gradient flows through the caption's prediction alone: the unconditional one is held fixed
    denoiser = backend.denoiser.requires_grad_(True)

    def gradients():
        return torch.cat(
            [torch.zeros(p.numel()) if p.grad is None else p.grad.flatten() for p in denoiser.parameters()]
        )

    denoiser.zero_grad()
    denoising.losses(rows[:1], t[:1], noise[:1], weighted=False, guided=guided[:1]).sum().backward()
    got = gradients()
    denoiser.zero_grad()
    cond = backend.predict(noisy[:1], t[:1], denoising.tables.text.batch(torch.tensor([0])))
    fitted = guided_prediction(uncond[:1].detach(), cond, 4.0, 0.5)
    per_sample_loss(fitted, target[:1], None).sum().backward()
    assert got.abs().sum() > 0
    assert torch.allclose(got, gradients(), rtol=1e-4, atol=1e-7)
    # at scale 1 guidance is the conditional prediction
    _, plain = _denoising(tmp_path, feedback, base, train_guidance=1.0)
    assert torch.allclose(
        plain.losses(rows, t, noise, weighted=False, guided=guided),
        plain.losses(rows, t, noise, weighted=False),
    )


@pytest.mark.parametrize("method", ["baton", "sft", "dpo"])
def test_fine_tuning_with_dropout_and_guidance_runs(tmp_path, feedback, base, method):
    before = {k: v.clone() for k, v in load_backend("world", base).denoiser.state_dict().items()}
    finetune(_config(tmp_path, feedback, base, method=method, steps=2, text_dropout=0.5, train_guidance=3.0))
    after = load_backend("world", tmp_path / "out" / "model").denoiser.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text_dropout", 1.0),
        ("text_dropout", -0.1),
        ("train_guidance", 0.0),
        ("timestep_low", 1.0),
        ("timestep_high", 0.0),
    ],
)
def test_bad_guidance_settings_name_their_field(tmp_path, feedback, base, field, value):
    with pytest.raises(InputError) as error:
        _config(tmp_path, feedback, base, **{field: value})
    assert error.value.field == field
