"""``baton world``: placeholder until the world build lands."""

import typer

world_app = typer.Typer(help="Build and inspect the built-in sound world.", no_args_is_help=True)
