"""``baton demo``: placeholder."""

import typer


def demo_command() -> None:
    """Run the whole BATON loop on the built-in sound world."""
    raise typer.Exit(1)
