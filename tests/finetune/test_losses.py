"""The objectives on hand-computed tensors."""

import math

import pytest
import torch

from baton.diffusion import denoising_target, min_snr_weights, signal_to_noise
from baton.finetune.losses import (
    diffusion_dpo_loss,
    dpo_implicit_accuracy,
    per_sample_loss,
    reward_weighted_loss,
    supervised_loss,
)


def test_signal_to_noise_is_alpha_over_one_minus_alpha():
    alphas = torch.tensor([0.8, 0.5, 0.2, 1.0])
    snr = signal_to_noise(alphas, torch.tensor([0, 1, 2, 3]))
    assert snr[:3].tolist() == pytest.approx([4.0, 1.0, 0.25])
    assert math.isinf(snr[3])


SNR = torch.tensor([0.5, 5.0, 20.0])


@pytest.mark.parametrize(
    ("prediction_type", "variant", "expected"),
    [
        # min(SNR, 5) / SNR: 0.5/0.5, 5/5, 5/20
        ("epsilon", "min-snr", [1.0, 1.0, 0.25]),
        # min(SNR, 5) / (SNR + 1): 0.5/1.5, 5/6, 5/21
        ("v_prediction", "min-snr", [1 / 3, 5 / 6, 5 / 21]),
        # min(SNR, 5)
        ("sample", "min-snr", [0.5, 5.0, 5.0]),
        # Tango's code: min(SNR, 5) / SNR whatever the target
        ("v_prediction", "tango", [1.0, 1.0, 0.25]),
        ("sample", "tango", [1.0, 1.0, 0.25]),
    ],
)
def test_min_snr_weights_by_hand(prediction_type, variant, expected):
    weights = min_snr_weights(SNR, 5.0, prediction_type, variant)
    assert weights.tolist() == pytest.approx(expected)


def test_min_snr_weights_at_the_ends_of_the_schedule():
    ends = torch.tensor([0.0, math.inf])  # pure noise (Stable Audio's last step), no noise
    assert min_snr_weights(ends, 5.0, "epsilon").tolist() == [1.0, 0.0]  # limit of min(s, g) / s
    assert min_snr_weights(ends, 5.0, "v_prediction").tolist() == [0.0, 0.0]
    assert min_snr_weights(ends, 5.0, "sample").tolist() == [0.0, 5.0]
    assert min_snr_weights(SNR, 0.0, "epsilon").tolist() == [1.0, 1.0, 1.0]  # gamma 0: unweighted


FLOORED = torch.tensor([0.01, 0.5, 5.0, 20.0])


@pytest.mark.parametrize(
    ("prediction_type", "expected"),
    [
        # clamp(SNR, 1, 5): the noisiest two steps weigh 1, not 0.01 and 0.5
        ("sample", [1.0, 1.0, 5.0, 5.0]),
        # clamp(SNR, 1, 5) / (SNR + 1): 1/1.01, 1/1.5, 5/6, 5/21
        ("v_prediction", [1 / 1.01, 1 / 1.5, 5 / 6, 5 / 21]),
        # clamp(SNR, 1, 5) / SNR: 1/0.01, 1/0.5, 5/5, 5/20
        ("epsilon", [100.0, 2.0, 1.0, 0.25]),
    ],
)
def test_min_snr_floor_by_hand(prediction_type, expected):
    weights = min_snr_weights(FLOORED, 5.0, prediction_type, floor=1.0)
    assert weights.tolist() == pytest.approx(expected, rel=1e-5)


def test_min_snr_floor_errors():
    with pytest.raises(ValueError, match="no floor"):
        min_snr_weights(SNR, 5.0, "sample", "tango", floor=1.0)
    with pytest.raises(ValueError, match="SNR > 0"):
        min_snr_weights(torch.tensor([0.0, 1.0]), 5.0, "epsilon", floor=1.0)
    # a floor above gamma is gamma: every weight of an x0 loss is then gamma
    assert min_snr_weights(SNR, 2.0, "sample", floor=3.0).tolist() == [2.0, 2.0, 2.0]


def test_denoising_target_per_prediction_type():
    from diffusers import DDPMScheduler

    x0 = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    noise = torch.tensor([[0.3, 0.1], [-1.0, 2.0]])
    t = torch.tensor([10, 500])
    for kind in ("epsilon", "v_prediction", "sample"):
        scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=kind)
        a = scheduler.alphas_cumprod[t][:, None]
        by_hand = {"epsilon": noise, "v_prediction": a.sqrt() * noise - (1 - a).sqrt() * x0, "sample": x0}[
            kind
        ]
        torch.testing.assert_close(denoising_target(scheduler, x0, noise, t), by_hand)


def test_per_sample_loss_is_the_mean_square_per_clip_times_its_weight():
    prediction = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])  # [2, 2, 2]
    target = torch.tensor([[[0.0, 2.0], [3.0, 2.0]], [[1.0, 1.0], [1.0, 3.0]]])
    # clip 0: (1 + 0 + 0 + 4) / 4 = 1.25; clip 1: (1 + 1 + 1 + 9) / 4 = 3
    assert per_sample_loss(prediction, target).tolist() == [1.25, 3.0]
    assert per_sample_loss(prediction, target, torch.tensor([2.0, 0.5])).tolist() == [2.5, 1.5]


def test_batons_objective_by_hand():
    feedback = torch.tensor([1.0, 2.0, 3.0])
    rewards = torch.tensor([1.0, 0.0, 0.5])
    pretrain = torch.tensor([4.0, 2.0])
    # mean(r L) = (1 + 0 + 1.5) / 3; beta * mean(L_pd) = 0.25 * 3
    loss = reward_weighted_loss(feedback, rewards, pretrain, beta=0.25)
    assert float(loss) == pytest.approx(2.5 / 3 + 0.75)
    assert float(reward_weighted_loss(feedback, rewards, None, beta=0.25)) == pytest.approx(2.5 / 3)
    assert float(reward_weighted_loss(feedback, rewards, pretrain, beta=0.0)) == pytest.approx(2.5 / 3)


def test_a_clip_with_reward_zero_contributes_nothing():
    losses = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    reward_weighted_loss(losses, torch.tensor([1.0, 0.0, 0.5]), torch.tensor([1.0]), beta=0.25).backward()
    assert losses.grad.tolist() == pytest.approx([1 / 3, 0.0, 0.5 / 3])


def test_diffusion_dpo_loss_by_hand():
    lw, ll = torch.tensor([0.1, 0.4]), torch.tensor([0.3, 0.2])
    rw, rl = torch.tensor([0.2, 0.2]), torch.tensor([0.2, 0.2])
    loss = diffusion_dpo_loss(lw, ll, rw, rl, beta=10.0)
    # pair 0: inside = -0.5 * 10 * ((0.1 - 0.3) - 0) = 1   -> -log sigmoid(1)  = log(1 + e^-1)
    # pair 1: inside = -0.5 * 10 * ((0.4 - 0.2) - 0) = -1  -> -log sigmoid(-1) = log(1 + e)
    assert loss.tolist() == pytest.approx([math.log1p(math.exp(-1)), math.log1p(math.e)])
    assert float(dpo_implicit_accuracy(lw, ll, rw, rl)) == 0.5


def test_dpo_loss_is_log_two_when_the_model_is_the_reference():
    lw, ll = torch.tensor([0.3, 0.1]), torch.tensor([0.2, 0.5])
    assert diffusion_dpo_loss(lw, ll, lw, ll, beta=2000.0).tolist() == pytest.approx([math.log(2)] * 2)


def test_dpo_gradient_lowers_the_chosen_loss_and_raises_the_rejected():
    lw = torch.tensor([0.3], requires_grad=True)
    ll = torch.tensor([0.3], requires_grad=True)
    diffusion_dpo_loss(lw, ll, torch.tensor([0.3]), torch.tensor([0.3]), beta=4.0).sum().backward()
    # d/dLw of -log sigmoid(-2 (Lw - Ll)) at 0 = 2 * sigmoid(0) = 1; the opposite for Ll
    assert lw.grad.tolist() == pytest.approx([1.0]) and ll.grad.tolist() == pytest.approx([-1.0])


def test_supervised_loss_is_the_mean():
    assert float(supervised_loss(torch.tensor([1.0, 2.0, 6.0]))) == 3.0
