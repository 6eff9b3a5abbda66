"""The ``baton`` command line: one subcommand (or group) per stage of the loop.

Each stage's command lives beside its code in ``baton/<stage>/cli.py`` and imports only typer and its
config dataclass at start-up, so ``baton --help`` stays instant; the heavy work is imported inside the
command when it runs.

Errors (docs/cli.md): typer reports a command line it cannot parse (exit status 2); :func:`main`
turns baton's own errors and an operating-system error on a path into one line without a traceback
(2 for a usage error, 1 for bad input or a failed run, 130 for Ctrl-C). ``BATON_TRACEBACK=1`` shows
the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from baton import __version__
from baton.errors import BatonError, Interrupted


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
        # -h as well as --help, for every command (click's contexts inherit it).
        context_settings={"help_option_names": ["-h", "--help"]},
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

    # the command's work, imported when it runs: `baton --help` imports this module
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
    """Run the command line; baton's errors and operating-system errors on a path become one line."""
    app = build_app()
    try:
        app(args=argv, prog_name="baton")
    except BatonError as exc:
        if os.environ.get("BATON_TRACEBACK"):
            raise
        _stop(str(exc), exc.exit_code, label=None if isinstance(exc, Interrupted) else "error")
    except OSError as exc:  # a path the command cannot read or write: its name and the reason
        if os.environ.get("BATON_TRACEBACK"):
            raise
        _stop(os_error_text(exc), 1, label="error")


def os_error_text(exc: OSError) -> str:
    """``ro/p.jsonl: Permission denied``; both paths of a rename or link; else the error as it reads."""
    if exc.filename is None or not exc.strerror:
        return str(exc) or type(exc).__name__
    paths = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    if isinstance(exc, FileExistsError) and os.path.isfile(exc.filename):
        return f"{paths}: is a file, where a folder is needed"  # mkdir(exist_ok=True) on a file
    return f"{paths}: {exc.strerror}"


def _stop(message: str, code: int, *, label: str | None) -> None:
    # the command's work, imported when it runs: `baton --help` imports this module
    from rich.markup import escape

    from baton.console import console

    prefix = f"[bold red]{label}:[/] " if label else ""
    console.print(prefix + escape(message), soft_wrap=True)
    sys.exit(code)
