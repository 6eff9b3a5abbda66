"""The fine-tuning objectives as small pure functions over tensors.

Notation: a clip's clean training target x0 (mel frames or VAE latents), noise eps ~ N(0, I), a
timestep t with cumulative signal level a_t (``alphas_cumprod[t]``), the noisy input
x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, and SNR(t) = a_t / (1 - a_t). The denoiser predicts eps,
v = sqrt(a_t) eps - sqrt(1 - a_t) x0 or x0 itself, as the scheduler's ``prediction_type`` says.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_sample_loss(
    prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """L_i = w_i * mean over every axis but the first of (prediction_i - target_i)^2 -> [B], float32."""
    squared = (prediction.float() - target.float()).pow(2)
    losses = squared.reshape(squared.shape[0], -1).mean(dim=1)
    return losses if weights is None else losses * weights.to(losses.device, torch.float32)


def reward_weighted_loss(
    feedback_losses: torch.Tensor,
    rewards: torch.Tensor,
    pretrain_losses: torch.Tensor | None,
    beta: float,
) -> torch.Tensor:
    """BATON's objective (Liao et al., 2024, eq. 3):

        loss = mean_i(r_i * L_i)  +  beta * mean_j(L_j)

    over a feedback batch (clips i with reward r_i in [0, 1]) and a pretraining batch (clips j).
    A clip with reward 0 contributes nothing; there is no penalty term. With no pretraining batch
    (or beta = 0) only the first term remains.
    """
    loss = (rewards.to(feedback_losses.device, torch.float32) * feedback_losses).mean()
    if pretrain_losses is not None and pretrain_losses.numel() and beta > 0:
        loss = loss + beta * pretrain_losses.mean()
    return loss


def diffusion_dpo_loss(
    loss_chosen: torch.Tensor,
    loss_rejected: torch.Tensor,
    ref_loss_chosen: torch.Tensor,
    ref_loss_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Diffusion-DPO (Wallace et al., 2023), as Tango 2 trains it, per pair -> [B]:

        loss = -log sigmoid( -beta / 2 * ((L_w - L_l) - (L_w_ref - L_l_ref)) )

    where L_w and L_l are the denoising losses of the chosen and the rejected clip of a pair (the
    same noise and timestep for both) under the model, and the _ref ones under the frozen
    reference. The model is pushed to denoise the chosen clip better, relative to the reference,
    than the rejected one.
    """
    model_margin = loss_chosen - loss_rejected
    reference_margin = ref_loss_chosen - ref_loss_rejected
    return -F.logsigmoid(-0.5 * beta * (model_margin - reference_margin))


def dpo_implicit_accuracy(
    loss_chosen: torch.Tensor,
    loss_rejected: torch.Tensor,
    ref_loss_chosen: torch.Tensor,
    ref_loss_rejected: torch.Tensor,
) -> torch.Tensor:
    """Share of pairs whose chosen clip the model prefers more than the reference does (a log figure)."""
    inside = (loss_chosen - loss_rejected) - (ref_loss_chosen - ref_loss_rejected)
    return (inside < 0).float().mean()


def supervised_loss(losses: torch.Tensor) -> torch.Tensor:
    """Plain fine-tuning: mean_i(L_i) over clips labelled 1 (BATON's objective with r = 1, beta = 0)."""
    return losses.mean()
