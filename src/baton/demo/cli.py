"""``baton demo``: the command over :func:`baton.demo.run.run`."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.demo.run import DemoConfig

H = DemoConfig


def demo_command(
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    quick: bool = typer.Option(None, "--quick", help=field_help(H, "quick")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    cache: Path = typer.Option(None, "--cache", help=field_help(H, "cache")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Run the BATON loop on the built-in sound world (resumes when rerun)."""
    from baton.config import load_config
    from baton.demo.run import run

    settings = load_config(
        DemoConfig,
        config,
        {
            "out": out,
            "quick": quick,
            "seed": seed,
            "cache": cache,
            "progress": False if no_progress else None,
        },
    )
    run(settings)
