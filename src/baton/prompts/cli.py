"""``baton prompts``: placeholder until the prompt curator lands."""

import typer


def prompts_command() -> None:
    """Write multi-event prompts (integrity: 2 events, temporal: 3 in order)."""
    raise typer.Exit(1)
