"""``baton finetune``: the command over :func:`baton.finetune.run.finetune`.

baton finetune --method baton --labels labels.jsonl --rewards rewards.jsonl --steps 200 --out tuned
accelerate launch --multi_gpu --num_processes 2 -m baton finetune ...   # 2 GPUs, or 2 CPU workers
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from baton.config import field_help
from baton.finetune.config import FinetuneConfig

H = FinetuneConfig


def finetune_command(
    method: str = typer.Option(None, "--method", help=field_help(H, "method")),
    backend: str = typer.Option(None, "--backend", help=field_help(H, "backend")),
    model: str = typer.Option(None, "--model", help=field_help(H, "model")),
    labels: Path = typer.Option(None, "--labels", help=field_help(H, "labels")),
    rewards: Path = typer.Option(None, "--rewards", help=field_help(H, "rewards")),
    pairs: Path = typer.Option(None, "--pairs", help=field_help(H, "pairs")),
    pretrain: Path = typer.Option(None, "--pretrain", help=field_help(H, "pretrain")),
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    sampled_latents: bool = typer.Option(
        None, "--sampled-latents/--no-sampled-latents", help=field_help(H, "sampled_latents")
    ),
    steps: int = typer.Option(None, "--steps", help=field_help(H, "steps")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    beta: float = typer.Option(None, "--beta", help=field_help(H, "beta")),
    reward_mode: str = typer.Option(None, "--reward-mode", help=field_help(H, "reward_mode")),
    reward_threshold: float = typer.Option(
        None, "--reward-threshold", help=field_help(H, "reward_threshold")
    ),
    human_share: float = typer.Option(None, "--human-share", help=field_help(H, "human_share")),
    snr_gamma: float = typer.Option(None, "--snr-gamma", help=field_help(H, "snr_gamma")),
    snr_weighting: str = typer.Option(None, "--snr-weighting", help=field_help(H, "snr_weighting")),
    snr_floor: float = typer.Option(None, "--snr-floor", help=field_help(H, "snr_floor")),
    timestep_low: float = typer.Option(None, "--timestep-low", help=field_help(H, "timestep_low")),
    timestep_high: float = typer.Option(None, "--timestep-high", help=field_help(H, "timestep_high")),
    text_dropout: float = typer.Option(None, "--text-dropout", help=field_help(H, "text_dropout")),
    train_guidance: float = typer.Option(None, "--train-guidance", help=field_help(H, "train_guidance")),
    train_guidance_rescale: float = typer.Option(
        None, "--train-guidance-rescale", help=field_help(H, "train_guidance_rescale")
    ),
    dpo_beta: float = typer.Option(None, "--dpo-beta", help=field_help(H, "dpo_beta")),
    dpo_margin: float = typer.Option(None, "--dpo-margin", help=field_help(H, "dpo_margin")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(H, "batch_size")),
    pretrain_batch_size: int = typer.Option(
        None, "--pretrain-batch-size", help=field_help(H, "pretrain_batch_size")
    ),
    grad_accum: int = typer.Option(None, "--grad-accum", help=field_help(H, "grad_accum")),
    learning_rate: float = typer.Option(None, "--lr", "--learning-rate", help=field_help(H, "learning_rate")),
    lr_schedule: str = typer.Option(None, "--lr-schedule", help=field_help(H, "lr_schedule")),
    warmup_steps: int = typer.Option(None, "--warmup-steps", help=field_help(H, "warmup_steps")),
    weight_decay: float = typer.Option(None, "--weight-decay", help=field_help(H, "weight_decay")),
    max_grad_norm: float = typer.Option(None, "--max-grad-norm", help=field_help(H, "max_grad_norm")),
    mixed_precision: str = typer.Option(None, "--mixed-precision", help=field_help(H, "mixed_precision")),
    ema_decay: float = typer.Option(None, "--ema-decay", help=field_help(H, "ema_decay")),
    train_text_encoder: bool = typer.Option(
        None, "--train-text-encoder/--frozen-text-encoder", help=field_help(H, "train_text_encoder")
    ),
    lora_rank: int = typer.Option(None, "--lora-rank", help=field_help(H, "lora_rank")),
    lora_alpha: float = typer.Option(None, "--lora-alpha", help=field_help(H, "lora_alpha")),
    lora_target: list[str] = typer.Option(
        None, "--lora-target", help=field_help(H, "lora_targets") + " Repeat for each."
    ),
    val_fraction: float = typer.Option(None, "--val-fraction", help=field_help(H, "val_fraction")),
    val_timestep: int = typer.Option(None, "--val-timestep", help=field_help(H, "val_timestep")),
    eval_every: int = typer.Option(None, "--eval-every", help=field_help(H, "eval_every")),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every", help=field_help(H, "checkpoint_every")),
    keep_checkpoints: int = typer.Option(None, "--keep-checkpoints", help=field_help(H, "keep_checkpoints")),
    select: str = typer.Option(None, "--select", help=field_help(H, "select")),
    resume: bool = typer.Option(False, "--resume", help=field_help(H, "resume")),
    stop_after: int = typer.Option(None, "--stop-after", help=field_help(H, "stop_after")),
    log_every: int = typer.Option(None, "--log-every", help=field_help(H, "log_every")),
    report_to: list[str] = typer.Option(
        None, "--report-to", help=field_help(H, "report_to") + " Repeat for several."
    ),
    dtype: str = typer.Option(None, "--dtype", help=field_help(H, "dtype")),
    gradient_checkpointing: bool = typer.Option(
        None,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help=field_help(H, "gradient_checkpointing"),
    ),
    device: str = typer.Option(None, "--device", help=field_help(H, "device")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Fine-tune a text-to-audio model on feedback: BATON, Diffusion-DPO, SFT or a label-blind control."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console
    from baton.finetune.config import TRAIN_LOG
    from baton.finetune.run import finetune

    settings = load_config(
        FinetuneConfig,
        config,
        {
            "method": method,
            "backend": backend,
            "model": model,
            "labels": labels,
            "rewards": rewards,
            "pairs": pairs,
            "pretrain": pretrain,
            "out": out,
            "sampled_latents": sampled_latents,
            "steps": steps,
            "seed": seed,
            "beta": beta,
            "reward_mode": reward_mode,
            "reward_threshold": reward_threshold,
            "human_share": human_share,
            "snr_gamma": snr_gamma,
            "snr_weighting": snr_weighting,
            "snr_floor": snr_floor,
            "timestep_low": timestep_low,
            "timestep_high": timestep_high,
            "text_dropout": text_dropout,
            "train_guidance": train_guidance,
            "train_guidance_rescale": train_guidance_rescale,
            "dpo_beta": dpo_beta,
            "dpo_margin": dpo_margin,
            "batch_size": batch_size,
            "pretrain_batch_size": pretrain_batch_size,
            "grad_accum": grad_accum,
            "learning_rate": learning_rate,
            "lr_schedule": lr_schedule,
            "warmup_steps": warmup_steps,
            "weight_decay": weight_decay,
            "max_grad_norm": max_grad_norm,
            "mixed_precision": mixed_precision,
            "ema_decay": ema_decay,
            "train_text_encoder": train_text_encoder,
            "lora_rank": lora_rank,
            "lora_alpha": lora_alpha,
            "lora_targets": list(lora_target) if lora_target else None,
            "val_fraction": val_fraction,
            "val_timestep": val_timestep,
            "eval_every": eval_every,
            "checkpoint_every": checkpoint_every,
            "keep_checkpoints": keep_checkpoints,
            "select": select,
            "resume": True if resume else None,
            "stop_after": stop_after,
            "log_every": log_every,
            "report_to": list(report_to) if report_to else None,
            "dtype": dtype,
            "gradient_checkpointing": gradient_checkpointing,
            "device": device,
            "progress": False if no_progress else None,
        },
    )
    result = finetune(settings)
    if os.environ.get("RANK", "0") == "0":  # under `accelerate launch`, one process reports
        console.print(f"tuned model in [bold]{result}[/]; training log {Path(settings.out) / TRAIN_LOG}")
