"""The ``baton`` command line: one subcommand (or group) per stage of the loop.

Each stage's command lives beside its code in ``baton/<stage>/cli.py`` and imports only typer and its
config dataclass at start-up, so ``baton --help`` stays instant; the heavy work is imported inside the
command when it runs.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from baton import __version__
from baton.errors import BatonError


def _version(value: bool) -> None:
    if value:
        typer.echo(f"baton {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="baton",
        help=(
            "Align text-to-audio diffusion models with human preference feedback (BATON).\n\n"
            "The loop: prompts -> generate -> annotate -> reward -> finetune -> evaluate -> report. "
            "`baton demo` runs all of it on the built-in sound world."
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        add_completion=False,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """Align text-to-audio diffusion models with human preference feedback."""

    from baton.annotation.cli import annotate_app
    from baton.demo.cli import demo_command
    from baton.evaluation.cli import evaluate_command
    from baton.finetune.cli import finetune_command
    from baton.generation.cli import generate_command
    from baton.interchange.cli import data_app
    from baton.prompts.cli import prompts_command
    from baton.report.cli import report_command
    from baton.reward.cli import reward_app
    from baton.world.cli import world_app

    # In the order of the loop.
    app.command("prompts")(prompts_command)
    app.command("generate")(generate_command)
    app.add_typer(annotate_app, name="annotate")
    app.add_typer(reward_app, name="reward")
    app.command("finetune")(finetune_command)
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
    app.command("demo")(demo_command)
    app.add_typer(world_app, name="world")
    app.add_typer(data_app, name="data")
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the command line; a :class:`BatonError` becomes one clear message and a non-zero exit."""
    from baton.console import console

    app = build_app()
    try:
        app(args=argv, prog_name="baton")
    except BatonError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
