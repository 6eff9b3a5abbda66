"""``baton demo``: the command over :func:`baton.demo.run.run`."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.demo.config import DemoConfig

H = DemoConfig


def demo_command(
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    quick: bool = typer.Option(None, "--quick", help=field_help(H, "quick")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    world_seed: int = typer.Option(None, "--world-seed", help=field_help(H, "world_seed")),
    cache: Path = typer.Option(None, "--cache", help=field_help(H, "cache")),
    human: bool = typer.Option(None, "--human", help=field_help(H, "human")),
    active: bool = typer.Option(None, "--active", help=field_help(H, "active")),
    active_rounds: int = typer.Option(None, "--active-rounds", help=field_help(H, "active_rounds")),
    per_prompt: int = typer.Option(None, "--per-prompt", help=field_help(H, "per_prompt")),
    human_share: float = typer.Option(None, "--human-share", help=field_help(H, "human_share")),
    annotators: int = typer.Option(None, "--annotators", help=field_help(H, "annotators")),
    noise: float = typer.Option(None, "--noise", help=field_help(H, "noise")),
    reward_head: str = typer.Option(None, "--reward-head", help=field_help(H, "reward_head")),
    reward_event_judge: bool = typer.Option(
        None, "--reward-event-judge/--no-reward-event-judge", help=field_help(H, "reward_event_judge")
    ),
    reward_folds: int = typer.Option(None, "--reward-folds", help=field_help(H, "reward_folds")),
    methods: list[str] = typer.Option(
        None,
        "--method",
        "--methods",
        help=field_help(H, "methods") + " Repeat, or separate with commas: --method baton,dpo,sft,control.",
    ),
    steps: int = typer.Option(None, "--steps", help=field_help(H, "steps")),
    learning_rate: float = typer.Option(None, "--lr", "--learning-rate", help=field_help(H, "learning_rate")),
    beta: float = typer.Option(None, "--beta", help=field_help(H, "beta")),
    reward_mode: str = typer.Option(None, "--reward-mode", help=field_help(H, "reward_mode")),
    eval_per_prompt: int = typer.Option(None, "--eval-per-prompt", help=field_help(H, "eval_per_prompt")),
    jobs: int = typer.Option(None, "--jobs", help=field_help(H, "jobs")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Run the BATON loop on the built-in sound world (resumes when rerun)."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.demo.run import run

    settings = load_config(
        DemoConfig,
        config,
        {
            "out": out,
            "quick": quick,
            "seed": seed,
            "world_seed": world_seed,
            "cache": cache,
            "human": human,
            "active": active,
            "active_rounds": active_rounds,
            "per_prompt": per_prompt,
            "human_share": human_share,
            "annotators": annotators,
            "noise": noise,
            "reward_head": reward_head,
            "reward_folds": reward_folds,
            "reward_event_judge": reward_event_judge,
            "methods": _listed(methods) or None,
            "steps": steps,
            "learning_rate": learning_rate,
            "beta": beta,
            "reward_mode": reward_mode,
            "eval_per_prompt": eval_per_prompt,
            "jobs": jobs,
            "progress": False if no_progress else None,
        },
    )
    run(settings)


def _listed(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values as one list: ["a,b", "c"] -> ["a", "b", "c"]."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]
