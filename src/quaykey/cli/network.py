"""`quaykey network`: Simulate and plan the trusted-relay network."""

from __future__ import annotations

import typer

app = typer.Typer(help="Simulate and plan the trusted-relay network.", no_args_is_help=True)
