"""Diffusion maths that the world's model, the backends and fine-tuning share: classifier-free
guidance, the signal-to-noise ratio of a timestep, Min-SNR loss weights and the denoiser's target.

Notation: a clip's clean target x0, noise eps ~ N(0, I), a timestep t with cumulative signal level
a_t (``alphas_cumprod[t]``), the noisy input x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps and
SNR(t) = a_t / (1 - a_t). The denoiser predicts eps, v = sqrt(a_t) eps - sqrt(1 - a_t) x0 or x0
itself, as the scheduler's ``prediction_type`` says.

On the ground floor (it imports torch alone), so that the world's T2A model and the fine-tuner use
one copy of each formula.
"""

from __future__ import annotations

from typing import Any

import torch


def classifier_free_guidance(
    unconditional: torch.Tensor, conditional: torch.Tensor, scale: float, rescale: float = 0.0
) -> torch.Tensor:
    """Guidance ``g = u + s (c - u)``; with ``rescale`` phi > 0 each row's spread is pulled toward ``c``'s.

    Rescaled: ``phi * g * std(c) / std(g) + (1 - phi) * g`` (Lin et al. 2023, sec. 3.4), the standard
    deviations taken over every axis but the first.
    """
    guided = unconditional + scale * (conditional - unconditional)
    if rescale > 0:
        dims = tuple(range(1, guided.ndim))
        ratio = conditional.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True).clamp_min(1e-8)
        guided = rescale * guided * ratio + (1.0 - rescale) * guided
    return guided


def signal_to_noise(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """SNR(t) = a_t / (1 - a_t) for integer ``timesteps`` [B] -> [B] (float32; inf where a_t = 1)."""
    alpha = alphas_cumprod.to(timesteps.device)[timesteps].float()
    return alpha / (1.0 - alpha)


def min_snr_weights(
    snr: torch.Tensor,
    gamma: float,
    prediction_type: str,
    variant: str = "min-snr",
    floor: float = 0.0,
) -> torch.Tensor:
    """Per-sample loss weights [B] of Min-SNR-gamma weighting; all ones when ``gamma`` is 0.

    ``variant="min-snr"`` (Hang et al., 2023) weighs every parameterisation to the same objective,
    clamp(SNR, floor, gamma) * |x0_hat - x0|^2:

        w = clamp(SNR, floor, gamma) / SNR        on an epsilon loss,
        w = clamp(SNR, floor, gamma) / (SNR + 1)  on a v loss,
        w = clamp(SNR, floor, gamma)              on an x0 ("sample") loss.

    ``floor`` (0 in Hang et al.; 1 is the "truncated SNR" of Salimans & Ho, 2022) keeps the noisiest
    steps from counting for nothing. Those are the steps where a denoiser decides from the text alone
    which sounds a clip holds and where; an x0 error weighted by SNR ~ 0.01 teaches it almost nothing
    there. ``variant="tango"`` is what Tango's training code (and so BATON's) computes for any
    target: w = min(SNR, gamma) / SNR, with no floor. The two agree for epsilon prediction.

    Written as ``min(1, gamma / SNR)`` where SNR divides, so that SNR = 0 (pure noise) gives 1, the
    limit, instead of 0 / 0.
    """
    if gamma <= 0:
        return torch.ones_like(snr, dtype=torch.float32)
    snr = snr.float()
    floor = min(float(floor), gamma)
    if floor < 0:
        raise ValueError(f"the SNR floor must be >= 0, got {floor}")
    if variant == "tango":
        if floor > 0:
            raise ValueError("Tango's weighting has no floor; use variant 'min-snr' with a floor")
        return (gamma / snr).clamp(max=1.0)
    if variant != "min-snr":
        raise ValueError(f"unknown Min-SNR variant {variant!r}")
    if prediction_type == "epsilon":
        if floor > 0 and bool((snr <= 0).any()):
            raise ValueError("an SNR floor on an epsilon loss needs SNR > 0 at every timestep")
        weight = (gamma / snr).clamp(max=1.0)
        return weight if floor == 0 else torch.maximum(weight, floor / snr)
    if prediction_type == "v_prediction":
        return snr.clamp(min=floor, max=gamma) / (snr + 1.0)
    if prediction_type == "sample":
        return snr.clamp(min=floor, max=gamma)
    raise ValueError(f"unknown prediction type {prediction_type!r}")


def denoising_target(
    scheduler: Any, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the denoiser should output: eps, v = sqrt(a_t) eps - sqrt(1 - a_t) x0, or x0."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(x0, noise, timesteps)
    if prediction_type == "sample":
        return x0
    raise ValueError(f"unknown prediction type {prediction_type!r}")
