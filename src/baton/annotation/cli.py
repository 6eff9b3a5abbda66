"""``baton annotate``: placeholder."""

import typer

annotate_app = typer.Typer(help="Collect human labels in a web app.", no_args_is_help=True)
