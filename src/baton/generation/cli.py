"""``baton generate``: the command over :func:`baton.generation.run.run`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from baton.config import field_help
from baton.generation.config import GenerateConfig

H = GenerateConfig


def generate_command(
    prompts: Path = typer.Option(None, "--prompts", help=field_help(H, "prompts")),
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    backend: str = typer.Option(None, "--backend", help=field_help(H, "backend")),
    model: str = typer.Option(None, "--model", help=field_help(H, "model")),
    per_prompt: int = typer.Option(None, "--per-prompt", help=field_help(H, "per_prompt")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    steps: int = typer.Option(None, "--steps", help=field_help(H, "steps")),
    guidance_scale: float = typer.Option(None, "--guidance-scale", help=field_help(H, "guidance_scale")),
    duration: float = typer.Option(None, "--duration", help=field_help(H, "duration")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(H, "batch_size")),
    audio_format: str = typer.Option(None, "--format", help=field_help(H, "audio_format")),
    save_latents: bool = typer.Option(
        None, "--save-latents/--no-save-latents", help=field_help(H, "save_latents")
    ),
    device: str = typer.Option(None, "--device", help=field_help(H, "device")),
    dtype: str = typer.Option(None, "--dtype", help=field_help(H, "dtype")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Generate several clips per prompt with a text-to-audio backend (rerun skips finished clips)."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console, counted
    from baton.generation.run import SAMPLES_FILE, run

    settings = load_config(
        GenerateConfig,
        config,
        {
            "prompts": prompts,
            "out": out,
            "backend": backend,
            "model": model,
            "per_prompt": per_prompt,
            "seed": seed,
            "steps": steps,
            "guidance_scale": guidance_scale,
            "duration": duration,
            "batch_size": batch_size,
            "audio_format": audio_format,
            "save_latents": save_latents,
            "device": device,
            "dtype": dtype,
            "progress": False if no_progress else None,
        },
    )
    samples = run(settings)
    if os.environ.get("RANK", "0") == "0":  # under `accelerate launch`, one process reports
        console.print(f"{counted(len(samples), 'clip')} in [bold]{settings.out / SAMPLES_FILE}[/]")
