"""``baton data``: placeholder until interchange lands."""

import typer

data_app = typer.Typer(help="Import and export labels and samples in other tools' formats.", no_args_is_help=True)
