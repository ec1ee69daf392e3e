"""`quaykey link`: Study one QKD link: key rates, simulation, plots, end-to-end runs."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Study one QKD link: key rates, simulation, plots, end-to-end runs.", no_args_is_help=True
)
