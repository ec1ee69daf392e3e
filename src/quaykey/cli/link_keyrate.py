"""`quaykey link` commands (being written)."""

from __future__ import annotations

import typer


def keyrate() -> None:
    """Not available yet."""
    raise typer.Exit(code=1)


def plot() -> None:
    """Not available yet."""
    raise typer.Exit(code=1)
