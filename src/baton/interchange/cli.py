"""``baton data``: import other tools' files as baton records, and export records to them."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.interchange.run import ExportConfig, ImportConfig

data_app = typer.Typer(
    help=(
        "Import and export labels, rewards and samples in other tools' formats: Tango/BATON JSON, "
        "Hugging Face audiofolder, Label Studio; and preference pairs as Tango 2's Audio-Alpaca."
    ),
    no_args_is_help=True,
)

I = ImportConfig  # noqa: E741
E = ExportConfig


@data_app.command("import")
def import_command(
    input: Path = typer.Argument(None, help=field_help(I, "input"), show_default=False),
    format: str = typer.Option(None, "--format", help=field_help(I, "format")),
    out: Path = typer.Option(None, "--out", help=field_help(I, "out")),
    kind: str = typer.Option(None, "--kind", help=field_help(I, "kind")),
    task: str = typer.Option(None, "--task", help=field_help(I, "task")),
    audio_prefix: str = typer.Option(None, "--audio-prefix", help=field_help(I, "audio_prefix")),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Read a Tango/BATON file, an audiofolder or a Label Studio export into baton records."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.interchange.run import run_import

    settings = load_config(
        ImportConfig,
        config,
        {
            "input": input,
            "format": format,
            "out": out,
            "kind": kind,
            "task": task,
            "audio_prefix": audio_prefix,
        },
    )
    _print_line(run_import(settings).summary())


@data_app.command("export")
def export_command(
    input: Path = typer.Argument(None, help=field_help(E, "input"), show_default=False),
    format: str = typer.Option(None, "--format", help=field_help(E, "format")),
    out: Path = typer.Option(None, "--out", help=field_help(E, "out")),
    soft: bool = typer.Option(None, "--soft", help=field_help(E, "soft"), show_default=False),
    dataset: str = typer.Option(None, "--dataset", help=field_help(E, "dataset")),
    copy_audio: bool = typer.Option(
        None, "--copy-audio", help=field_help(E, "copy_audio"), show_default=False
    ),
    audio_prefix: str = typer.Option(None, "--audio-prefix", help=field_help(E, "audio_prefix")),
    votes: bool = typer.Option(None, "--votes/--no-votes", help=field_help(E, "votes"), show_default=False),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Write baton labels, rewards or samples as Tango JSON Lines, an audiofolder or Label Studio tasks."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.interchange.run import run_export

    settings = load_config(
        ExportConfig,
        config,
        {
            "input": input,
            "format": format,
            "out": out,
            "soft": soft,
            "dataset": dataset,
            "copy_audio": copy_audio,
            "audio_prefix": audio_prefix,
            "votes": votes,
        },
    )
    _print_line(run_export(settings).summary())


def _print_line(message: str) -> None:
    """One unwrapped line on the message console (stderr), taken literally (paths may hold '[')."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.console import console

    console.print(message, markup=False, highlight=False, soft_wrap=True)
