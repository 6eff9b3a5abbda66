"""``baton report``: the command over :func:`baton.report.run.run`."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.report.config import ReportConfig

H = ReportConfig


def report_command(
    run: Path = typer.Option(None, "--run", help=field_help(H, "run")),
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    examples: int = typer.Option(None, "--examples", help=field_help(H, "examples")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    title: str = typer.Option(None, "--title", help=field_help(H, "title")),
    label_efficiency: Path = typer.Option(None, "--label-efficiency", help=field_help(H, "label_efficiency")),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Write one self-contained HTML report of a run: results, plots, audio players, settings."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console
    from baton.report.run import run as write_report

    settings = load_config(
        ReportConfig,
        config,
        {
            "run": run,
            "out": out,
            "examples": examples,
            "seed": seed,
            "title": title,
            "label_efficiency": label_efficiency,
        },
    )
    path = write_report(settings)
    console.print(f"report in [bold]{path}[/] ({path.stat().st_size / 1e6:.1f} MB)")
