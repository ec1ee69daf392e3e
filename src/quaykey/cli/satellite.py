"""`quaykey satellite`: Micius satellite passes over ground stations."""

from __future__ import annotations

import typer

app = typer.Typer(help="Micius satellite passes over ground stations.", no_args_is_help=True)
