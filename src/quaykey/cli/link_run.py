"""`quaykey link` commands (being written)."""

from __future__ import annotations

import typer


def run() -> None:
    """Not available yet."""
    raise typer.Exit(code=1)
