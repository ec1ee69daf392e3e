"""`quaykey demo`: the main job on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from quaykey.cli._common import console


def demo(out: Path = typer.Option(Path("out"), help="Folder for plots and reports.")) -> None:
    """Run the main job on embedded defaults and write its plots to OUT."""
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]quaykey demo[/] writing to {out}")
