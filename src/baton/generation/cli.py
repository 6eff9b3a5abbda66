"""``baton generate``: placeholder."""

import typer


def generate_command() -> None:
    """Generate clips for every prompt with a text-to-audio backend."""
    raise typer.Exit(1)
