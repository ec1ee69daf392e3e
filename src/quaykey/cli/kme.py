"""`quaykey kme`: Run and inspect Key Management Entities (ETSI GS QKD 014)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run and inspect Key Management Entities (ETSI GS QKD 014).", no_args_is_help=True
)
