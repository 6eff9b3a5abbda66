"""Training the world's text-to-audio model from scratch on the world corpus.

One run: build the word vocabulary of the captions, turn every clip into normalised log-mel frames
(statistics of this corpus), then train the text encoder and the denoiser jointly with the diffusion
loss below, keeping an exponential moving average (EMA) of the weights, which is the model returned.

Loss per clip, for x0 its frames, t ~ U{0..T-1}, noise ~ N(0, I), x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise:

    L = w(t) * mean((model(x_t, t, text) - target)^2),   target = v = sqrt(a_t) noise - sqrt(1 - a_t) x0

with Min-SNR weighting (Hang et al. 2023) ``w(t) = min(SNR(t), gamma) / (SNR(t) + 1)`` for v-prediction
(``/ SNR(t)`` for epsilon), SNR(t) = a_t / (1 - a_t). For ``text_dropout`` of the steps' rows the caption
is replaced by "" so that the model also learns the unconditional prediction classifier-free guidance
needs.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from baton.config import config_to_dict, option
from baton.errors import InputError
from baton.world.model import (
    DenoiserConfig,
    SchedulerSettings,
    TextEncoderConfig,
    WordTokenizer,
    WorldT2A,
    WorldT2AConfig,
)

if TYPE_CHECKING:
    from baton.world.corpus import Corpus


@dataclass
class T2ATrainConfig:
    """How to build and train the world T2A model (defaults: the full world build)."""

    steps: int = option(1500, "Optimizer steps.")
    batch_size: int = option(32, "Clips per step.")
    learning_rate: float = option(1e-3, "Peak AdamW learning rate (after warm-up, then cosine decay to 10%).")
    warmup_steps: int = option(100, "Steps of linear learning-rate warm-up.")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    grad_clip: float = option(1.0, "Clip the gradient's global norm to this.")
    ema_decay: float = option(
        0.995, "Decay of the weights' moving average, the model kept (0 = last weights)."
    )
    text_dropout: float = option(0.1, "Share of training rows whose caption is dropped to '' (for guidance).")
    snr_gamma: float = option(5.0, "Min-SNR weighting's gamma (0 = unweighted loss).")
    x0_std: float = option(
        0.5, "Standard deviation of the normalised frames: below 1 shifts the work toward more noise."
    )
    channels: list[int] = option([128, 256], "Denoiser width at each U-Net level (time halves per level).")
    blocks_per_level: int = option(1, "Residual blocks (each followed by text cross-attention) per level.")
    patch: int = option(4, "Mel frames folded into one denoiser position.")
    text_dim: int = option(128, "Text encoder width.")
    text_layers: int = option(2, "Text encoder transformer layers.")
    max_tokens: int = option(40, "Longest caption in tokens (longer ones are cut).")
    prediction_type: str = option(
        "sample", "What the denoiser predicts: 'sample' (x0), 'v_prediction' or 'epsilon'."
    )
    sample_steps: int = option(25, "Default sampling steps (DPM-Solver++).")
    guidance_scale: float = option(3.0, "Default classifier-free guidance scale.")
    griffin_lim_iters: int = option(32, "Griffin-Lim iterations when turning frames into audio.")
    seed: int = option(0, "Seed of the weights' initialisation and of every draw in training.")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "text_dim", "text_layers", "max_tokens", "sample_steps", "patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.channels or min(self.channels) < 8 or any(c % 8 for c in self.channels):
            raise ValueError(f"channels must be multiples of 8, got {self.channels}")
        if self.prediction_type not in ("sample", "v_prediction", "epsilon"):
            raise ValueError(
                f"prediction_type must be 'sample', 'v_prediction' or 'epsilon', got {self.prediction_type!r}"
            )
        if not 0.0 <= self.text_dropout < 1.0:
            raise ValueError(f"text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.x0_std <= 0:
            raise ValueError(f"x0_std must be positive, got {self.x0_std}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    @classmethod
    def quick(cls, seed: int = 0) -> T2ATrainConfig:
        """A tiny model trained for a few seconds: for tests and ``baton world build --quick``."""
        return cls(
            steps=30,
            batch_size=8,
            warmup_steps=5,
            ema_decay=0.0,
            channels=[32, 64],
            text_dim=32,
            text_layers=1,
            sample_steps=4,
            griffin_lim_iters=4,
            seed=seed,
        )

    def model_config(self) -> WorldT2AConfig:
        return WorldT2AConfig(
            text=TextEncoderConfig(
                dim=self.text_dim, layers=self.text_layers, heads=4, max_tokens=self.max_tokens
            ),
            denoiser=DenoiserConfig(
                channels=list(self.channels),
                blocks_per_level=self.blocks_per_level,
                patch=self.patch,
                heads=4,
                groups=8,
            ),
            scheduler=SchedulerSettings(prediction_type=self.prediction_type),
            default_steps=self.sample_steps,
            default_guidance=self.guidance_scale,
            griffin_lim_iters=self.griffin_lim_iters,
        )


def min_snr_weights(
    alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float, prediction_type: str
) -> torch.Tensor:
    """Per-sample loss weights [B] of Min-SNR-gamma (Hang et al. 2023); all ones if ``gamma`` is 0.

    The same objective, ``min(SNR, gamma) * |x0_hat - x0|^2``, for each parameterisation: the weight is
    ``min(SNR, gamma)`` on an x0 ("sample") loss, ``/ SNR`` on an epsilon loss, ``/ (SNR + 1)`` on a v loss.
    """
    if gamma <= 0:
        return torch.ones(timesteps.shape, dtype=torch.float32)
    alpha = alphas_cumprod[timesteps].float()
    snr = alpha / (1.0 - alpha)
    clipped = snr.clamp(max=gamma)
    if prediction_type == "sample":
        return clipped
    if prediction_type == "v_prediction":
        return clipped / (snr + 1.0)
    if prediction_type == "epsilon":
        return clipped / snr
    raise ValueError(f"unknown prediction type {prediction_type!r}")


def diffusion_loss(
    model: WorldT2A,
    x0: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    timesteps: torch.Tensor,
    noise: torch.Tensor,
    snr_gamma: float,
) -> torch.Tensor:
    """Mean Min-SNR-weighted denoising loss of a batch: x0 [B, M, T], token ids and mask [B, L]."""
    scheduler = model.noise_scheduler
    noisy = scheduler.add_noise(x0, noise, timesteps)
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "v_prediction":
        target = scheduler.get_velocity(x0, noise, timesteps)
    elif prediction_type == "epsilon":
        target = noise
    else:
        target = x0
    states = model.text_encoder(ids, mask)
    prediction = model.predict(noisy, timesteps, states, mask)
    per_clip = (prediction - target).pow(2).mean(dim=(1, 2))  # [B]
    weights = min_snr_weights(scheduler.alphas_cumprod, timesteps, snr_gamma, prediction_type)
    import os

    if os.environ.get("EXP_PLUS1"):
        weights = weights + 1.0
    return (weights.to(per_clip.device) * per_clip).mean()


def corpus_frames(model: WorldT2A, audio: np.ndarray, chunk: int = 128) -> torch.Tensor:
    """Log-mels [N, n_mels, n_frames] of ``audio`` [N, samples], computed in chunks."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(audio), chunk):
            parts.append(model.log_mel(torch.from_numpy(np.ascontiguousarray(audio[start : start + chunk]))))
    return torch.cat(parts)


def _learning_rate(step: int, config: T2ATrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak at the last step."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_t2a(corpus: Corpus, config: T2ATrainConfig, progress: bool = True) -> WorldT2A:
    """Train a world T2A model on ``corpus``; the model's ``report`` holds steps, time and losses."""
    from baton.console import make_progress

    if len(corpus) == 0:
        raise InputError("the corpus has no clips", field="corpus")
    if corpus.sample_rate != config.model_config().mel.sample_rate:
        raise InputError(
            f"the corpus is at {corpus.sample_rate} Hz, the model at 16000 Hz", field="sample_rate"
        )
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)

    # 1. Vocabulary and model (initialised from the seed, without touching torch's global generator).
    tokenizer = WordTokenizer.build(corpus.captions)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = WorldT2A(config.model_config(), tokenizer)

    # 2. Every clip as log-mel frames; per-bin statistics; the normalised x0 the denoiser learns.
    log_mels = corpus_frames(model, corpus.audio)  # [N, M, T]
    # One offset and scale for all bins (per-bin scaling would blow up the rarely used high bins),
    # chosen so that x0 has mean 0 and standard deviation x0_std.
    import os

    if os.environ.get("EXP_PERBIN"):
        model.mel_mean.copy_(log_mels.mean(dim=(0, 2)))
        model.mel_std.copy_(log_mels.std(dim=(0, 2)).clamp_min(1e-3) / config.x0_std)
    else:
        model.mel_mean.fill_(float(log_mels.mean()))
        model.mel_std.fill_(max(float(log_mels.std()), 1e-3) / config.x0_std)
    x0_all = model.normalize(log_mels)
    del log_mels
    ids_all, mask_all = model.tokenize(corpus.captions)
    empty_ids, empty_mask = model.tokenize([""])

    # 3. Optimiser and the moving average of the weights.
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    ema = copy.deepcopy(model).requires_grad_(False) if config.ema_decay > 0 else None
    model.train()

    # 4. Training loop: shuffled epochs, fresh t and noise for every row.
    n = len(corpus)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    losses: list[float] = []
    num_timesteps = model.noise_scheduler.config.num_train_timesteps
    with make_progress() if progress else _NoProgress() as bar:
        task = bar.add_task("world T2A", total=config.steps)
        for step in range(config.steps):
            if cursor + config.batch_size > n:
                order = torch.randperm(n, generator=generator)
                cursor = 0
            rows = order[cursor : cursor + config.batch_size]
            cursor += config.batch_size
            ids, mask = ids_all[rows].clone(), mask_all[rows].clone()
            dropped = torch.rand(len(rows), generator=generator) < config.text_dropout
            ids[dropped], mask[dropped] = empty_ids, empty_mask
            timesteps = torch.randint(0, num_timesteps, (len(rows),), generator=generator)
            noise = torch.randn(x0_all[rows].shape, generator=generator)

            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, config)
            loss = diffusion_loss(model, x0_all[rows], ids, mask, timesteps, noise, config.snr_gamma)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            if ema is not None:
                # Early on the average follows the weights closely (decay warms up like 1 - 1/(step+1)).
                decay = min(config.ema_decay, (1.0 + step) / (10.0 + step))
                with torch.no_grad():
                    for average, current in zip(ema.parameters(), model.parameters(), strict=True):
                        average.lerp_(current, 1.0 - decay)
            losses.append(loss.item())
            bar.update(task, advance=1, description=f"world T2A  loss {np.mean(losses[-50:]):.4f}")

    # 5. Keep the average; report.
    final = ema if ema is not None else model
    final.eval()
    every = max(1, config.steps // 50)
    final.report = {
        "steps": config.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "final_loss": float(np.mean(losses[-max(1, min(50, config.steps // 10)) :])),
        "loss_curve": [
            {"step": start + every, "loss": float(np.mean(losses[start : start + every]))}
            for start in range(0, config.steps, every)
        ],
        "clips": n,
        "vocabulary": len(tokenizer),
        "parameters": sum(p.numel() for p in final.parameters()),
        "config": config_to_dict(config),
    }
    return final


class _NoProgress:
    """The few calls of a rich Progress that training makes, doing nothing."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- judging a trained model ------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def held_out_prompts(n: int, seed: int) -> dict[str, list[tuple[list[str], str, str]]]:
    """Prompts the model never saw, as (labels in time order, relation, text), ``n`` per task.

    * ``single``: one event, the classes in turn;
    * ``integrity``: two distinct events, half in sequence, half overlapping;
    * ``temporal``: three distinct events in sequence.
    """
    import random

    from baton.world.captions import caption
    from baton.world.spec import CLASSES

    rng = random.Random(f"world-t2a-eval:{seed}")
    prompts: dict[str, list[tuple[list[str], str, str]]] = {"single": [], "integrity": [], "temporal": []}
    for i in range(n):
        labels = [CLASSES[i % len(CLASSES)]]
        prompts["single"].append((labels, "single", caption(labels, "single", rng)))
        labels = rng.sample(CLASSES, 2)
        relation = "sequence" if i % 2 == 0 else "overlap"
        prompts["integrity"].append((labels, relation, caption(labels, relation, rng)))
        labels = rng.sample(CLASSES, 3)
        prompts["temporal"].append((labels, "sequence", caption(labels, "sequence", rng)))
    return prompts


def evaluate_t2a(
    model: WorldT2A,
    detector: Any,
    prompts_per_task: int = 96,
    seed: int = 0,
    steps: int | None = None,
    guidance_scale: float | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, Any]:
    """How often the detector finds what held-out prompts ask for, with 95 % Wilson intervals.

    ``single``: the named event is detected; ``integrity`` (two events): both are detected;
    ``temporal`` (three events in sequence): all are detected and their first onsets come in the
    stated order. ``detector`` is a :class:`baton.world.detectors.EventDetector` (use the evaluator).
    """
    from baton.console import track

    prompts = held_out_prompts(prompts_per_task, seed)
    figures: dict[str, Any] = {}
    for task_index, (task, rows) in enumerate(prompts.items()):
        texts = [text for _, _, text in rows]
        seeds = [1_000_000 * (seed + 1) + 10_000 * task_index + i for i in range(len(rows))]
        clips = []
        starts = range(0, len(texts), batch_size)
        for start in track(starts, f"judging the world T2A model: {task}", enabled=progress):
            frames = model.sample(
                texts[start : start + batch_size],
                seeds[start : start + batch_size],
                steps=steps,
                guidance_scale=guidance_scale,
            )
            clips.extend(model.frames_to_audio(frames, seeds[start : start + batch_size]))
        judge_task = "temporal" if task == "temporal" else "integrity"
        verdicts = detector.judge(np.stack(clips), [labels for labels, _, _ in rows], judge_task)
        right = int(sum(verdicts))
        low, high = wilson_interval(right, len(verdicts))
        figures[task] = {"accuracy": right / len(verdicts), "ci95": [low, high], "n": len(verdicts)}
    return figures
