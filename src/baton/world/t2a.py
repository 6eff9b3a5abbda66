"""Training the world's text-to-audio model from scratch on the world corpus.

One run: build the word vocabulary of the captions, turn every clip into normalised log-mel frames
(statistics of this corpus), then train the text encoder and the denoiser jointly with the diffusion
loss below, keeping an exponential moving average (EMA) of the weights, which is the model returned.

Loss per clip, for x0 its frames, t ~ U{0..T-1}, noise ~ N(0, I), x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise:

    L = w(t) * mean((model(x_t, t, text) - target)^2),   target = v = sqrt(a_t) noise - sqrt(1 - a_t) x0

(written for v; the world model predicts x0 by default, and then the target is x0) with weights that
give the x0 error the weight ``clamp(SNR(t), snr_floor, snr_gamma)``, SNR(t) = a_t / (1 - a_t)
(:func:`baton.diffusion.min_snr_weights`). Min-SNR (Hang et al. 2023) clips the nearly clean steps; the floor keeps the
noisiest steps, where only the text says what to make, from counting for nothing. With plain Min-SNR
the model hardly used its text after a CPU-sized training: on held-out single-event prompts the
evaluator detector found the event in 21-25% of clips after 500 steps, against 46-50% with the floor
after 500 steps and 83-92% after 1200 (guidance 3-5). Before the diffusion training the text encoder
learns which events a caption names, in order (:func:`pretrain_text_encoder`). For ``text_dropout``
of the steps' rows the caption is replaced by "" so that the model also learns the unconditional
prediction classifier-free guidance needs.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from baton.config import config_to_dict, documented, option
from baton.console import make_progress
from baton.diffusion import denoising_target, min_snr_weights, signal_to_noise
from baton.errors import InputError
from baton.world.captions import caption
from baton.world.model import (
    DenoiserConfig,
    SchedulerSettings,
    TextEncoderConfig,
    WordTokenizer,
    WorldT2A,
    WorldT2AConfig,
)
from baton.world.spec import CLASS_INDEX, CLASSES, MAX_EVENTS

if TYPE_CHECKING:
    from baton.world.corpus import Corpus


@documented
@dataclass
class T2ATrainConfig:
    """How to build and train the world T2A model (defaults: the full world build)."""

    # 1350 rather than 1500 (with a shorter evaluator and CLAP) brought the full build from 648 s to
    # 559 s; the base evaluation stayed within its intervals: single 0.95 / 0.94, integrity 0.742 / 0.697, temporal
    # 0.13 / 0.14, FAD 0.066 / 0.059.
    steps: int = option(1350, "Optimizer steps.")
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
    snr_floor: float = option(
        1.0,
        "Smallest weight of the x0 error, for the noisiest steps (see baton.diffusion.min_snr_weights; 0 = Min-SNR).",
    )
    x0_std: float = option(
        0.5, "Standard deviation of the normalised frames: below 1 shifts the work toward more noise."
    )
    channels: list[int] = option([128, 256], "Denoiser width at each U-Net level (time halves per level).")
    blocks_per_level: int = option(1, "Residual blocks (each followed by text cross-attention) per level.")
    # 8 rather than 4: 0.69x the training time and 0.70x the time per generated clip, with the same
    # quality (base evaluation at 100 prompts per task: FAD 0.076 against 0.080, single 0.94 / 0.97).
    patch: int = option(8, "Mel frames folded into one denoiser position (8 x 16 ms).")
    query_positions: bool = option(
        True, "Give every text cross-attention's queries the frame's place in the clip (see DenoiserConfig)."
    )
    text_dim: int = option(128, "Text encoder width.")
    text_layers: int = option(2, "Text encoder transformer layers.")
    max_tokens: int = option(40, "Longest caption in tokens (longer ones are cut).")
    prediction_type: str = option(
        "sample", "What the denoiser predicts: 'sample' (x0), 'v_prediction' or 'epsilon'."
    )
    # 16 rather than 25, then 20: the base model judged on demo prompts (4 clips each) at 25, 18 and 14
    # steps gave integrity 0.658 / 0.667 / 0.633, temporal 0.138 / 0.133 / 0.129, FAD 0.094 / 0.095 /
    # 0.102; on another run's prompts at 20, 16 and 14 steps 0.708 / 0.692 / 0.667, 0.138 / 0.129 /
    # 0.129, FAD 0.098 / 0.101 / 0.104 (all within the intervals), while a clip's sampling took 124, 92
    # and 80 ms (side by side in one process, 16 clips a batch, 2 threads).
    sample_steps: int = option(16, "Default sampling steps (DPM-Solver++).")
    guidance_scale: float = option(5.0, "Default classifier-free guidance scale.")
    guidance_rescale: float = option(
        0.7,
        "Default guidance rescale phi (Lin et al. 2023; 0 = none): pulls each guided prediction's spread"
        " toward the conditional one's (see WorldT2A.guided_prediction).",
    )
    griffin_lim_iters: int = option(
        8,
        "Griffin-Lim iterations when turning frames into audio (8: as good as 16 or 32 by FAD and accuracy).",
    )
    text_pretrain_steps: int = option(
        200,
        "Steps teaching the text encoder, before the diffusion training, which events a caption names"
        " and in what order (0 = none; see pretrain_text_encoder).",
    )
    text_pretrain_batch: int = option(48, "Captions per text pretraining step.")
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
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    @classmethod
    def quick(cls, seed: int = 0) -> T2ATrainConfig:
        """A tiny model trained for a few seconds: for tests and ``baton world build --quick``."""
        return cls(
            steps=16,
            batch_size=8,
            warmup_steps=5,
            ema_decay=0.0,
            channels=[32, 64],
            text_dim=32,
            text_layers=1,
            sample_steps=4,
            griffin_lim_iters=4,
            text_pretrain_steps=10,
            text_pretrain_batch=16,
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
                query_positions=self.query_positions,
                heads=4,
                groups=8,
            ),
            scheduler=SchedulerSettings(prediction_type=self.prediction_type),
            default_steps=self.sample_steps,
            default_guidance=self.guidance_scale,
            griffin_lim_iters=self.griffin_lim_iters,
            guidance_rescale=self.guidance_rescale,
        )


def diffusion_loss(
    model: WorldT2A,
    x0: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    timesteps: torch.Tensor,
    noise: torch.Tensor,
    snr_gamma: float,
    snr_floor: float = 0.0,
) -> torch.Tensor:
    """Mean Min-SNR-weighted denoising loss of a batch: x0 [B, M, T], token ids and mask [B, L]."""
    scheduler = model.noise_scheduler
    noisy = scheduler.add_noise(x0, noise, timesteps)
    prediction_type = scheduler.config.prediction_type
    target = denoising_target(scheduler, x0, noise, timesteps)
    states = model.text_encoder(ids, mask)
    prediction = model.predict(noisy, timesteps, states, mask)
    per_clip = (prediction - target).pow(2).mean(dim=(1, 2))  # [B]
    snr = signal_to_noise(scheduler.alphas_cumprod, timesteps)
    weights = min_snr_weights(snr, snr_gamma, prediction_type, floor=snr_floor)
    return (weights.to(per_clip.device) * per_clip).mean()


def text_pretraining_captions(n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """``n`` fresh captions of random events and their classes in caption order [n, MAX_EVENTS].

    Singles, sequences of 2-3 and overlaps of 2 in equal shares, phrased at random by
    :func:`baton.world.captions.caption`; unused event slots hold ``len(CLASSES)`` ("no event").
    """
    rng = random.Random(f"world-t2a-text:{seed}")
    kinds = [("single", 1), ("sequence", 2), ("sequence", 3), ("overlap", 2)]
    texts = []
    targets = torch.full((n, MAX_EVENTS), len(CLASSES), dtype=torch.long)
    for row in range(n):
        relation, size = kinds[row % len(kinds)]
        labels = rng.sample(CLASSES, size)
        texts.append(caption(labels, relation, rng))
        targets[row, :size] = torch.tensor([CLASS_INDEX[label] for label in labels])
    return texts, targets


def pretrain_text_encoder(
    model: WorldT2A,
    texts: list[str],
    targets: torch.Tensor,
    config: T2ATrainConfig,
    generator: torch.Generator,
) -> list[float]:
    """Teach the text encoder which events a caption names, and in what order; returns the losses.

    A linear head on the masked mean of the token states predicts the class of the first, second and
    third event (or "none"), with cross-entropy. Learning this from the diffusion loss alone is slow:
    its signal about the text is weak and noisy, so a fresh encoder long confuses the classes. Real
    T2A models start from a pretrained text encoder (FLAN-T5, CLAP); this is the world's small
    stand-in for one. The head is thrown away; the encoder goes on training with the denoiser.
    """
    encoder = model.text_encoder
    n_options = len(CLASSES) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        head = torch.nn.Linear(config.text_dim, MAX_EVENTS * n_options)
    ids_all, mask_all = model.tokenize(texts)
    parameters = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    losses = []
    for _ in range(config.text_pretrain_steps):
        rows = torch.randint(0, len(texts), (config.text_pretrain_batch,), generator=generator)
        ids, mask = ids_all[rows], mask_all[rows]
        states = encoder(ids, mask)  # [B, L, D]
        weights = mask.to(states.dtype)[:, :, None]
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1)  # [B, D]
        logits = head(pooled).view(-1, MAX_EVENTS, n_options)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n_options), targets[rows].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


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


def descend(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    trainable: list[torch.nn.Parameter],
    config: T2ATrainConfig,
    model: WorldT2A,
    ema: WorldT2A | None,
    step: int,
) -> None:
    """One optimisation step on ``loss`` (gradient clipped to ``grad_clip``), then the moving average."""
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


def train_t2a(corpus: Corpus, config: T2ATrainConfig, progress: bool = True) -> WorldT2A:
    """Train a world T2A model on ``corpus``; the model's ``report`` holds steps, time and losses."""
    if len(corpus) == 0:
        raise InputError("the corpus has no clips", field="corpus")
    if corpus.sample_rate != config.model_config().mel.sample_rate:
        raise InputError(
            f"the corpus is at {corpus.sample_rate} Hz, the model at 16000 Hz", field="sample_rate"
        )
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)

    # 1. Vocabulary (the corpus's captions and fresh ones in every phrasing) and model, initialised
    # from the seed without touching torch's global generator; the text encoder learns first.
    n_text = min(config.text_pretrain_steps * config.text_pretrain_batch, 8192)
    text_texts, text_targets = text_pretraining_captions(n_text, config.seed)
    tokenizer = WordTokenizer.build([*corpus.captions, *text_texts])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = WorldT2A(config.model_config(), tokenizer)
    text_losses = pretrain_text_encoder(model, text_texts, text_targets, config, generator)

    # 2. Every clip as log-mel frames; per-bin statistics; the normalised x0 the denoiser learns.
    log_mels = corpus_frames(model, corpus.audio)  # [N, M, T]
    # One offset and scale for all bins (per-bin scaling would blow up the rarely used high bins),
    # chosen so that x0 has mean 0 and standard deviation x0_std.
    # (Per-bin statistics were tried: no better at the same budget.)
    model.mel_mean.fill_(float(log_mels.mean()))
    model.mel_std.fill_(max(float(log_mels.std()), 1e-3) / config.x0_std)
    x0_all = model.normalize(log_mels)
    del log_mels
    ids_all, mask_all = model.tokenize(corpus.captions)
    empty_ids, empty_mask = model.tokenize([""])

    # 3. Optimiser and the moving average of the weights.
    trainable = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel over all tensors; on one CPU thread 11 ms a step against 24-35 ms for the
    # default per-tensor loop (foreach was slower still, 33 ms).
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
    )
    ema = copy.deepcopy(model).requires_grad_(False) if config.ema_decay > 0 else None
    model.train()

    # 4. Training loop: shuffled epochs, fresh t and noise for every row.
    n = len(corpus)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    losses: list[float] = []
    num_timesteps = model.noise_scheduler.config.num_train_timesteps
    with make_progress(progress) as bar:
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
            loss = diffusion_loss(
                model, x0_all[rows], ids, mask, timesteps, noise, config.snr_gamma, config.snr_floor
            )
            descend(loss, optimizer, trainable, config, model, ema, step)
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
        "text_pretrain_loss": float(np.mean(text_losses[-20:])) if text_losses else None,
        "vocabulary": len(tokenizer),
        "parameters": sum(p.numel() for p in final.parameters()),
        "config": config_to_dict(config),
    }
    return final
