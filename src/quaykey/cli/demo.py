"""`quaykey demo`: the main job on embedded defaults.

The demo runs, in order, what a network planner would look at first: the key rate of one
backbone hop, that hop simulated and post-processed end to end, the key-rate plot against
distance, the Beijing–Shanghai backbone with the Micius satellite for a simulated day
(route table, limiting links), the network map, and one night of Micius passes over
Xinglong. Every step is an ordinary ``quaykey`` command, printed before it runs, so a
reader can rerun any of them alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.rule import Rule

from quaykey.cli._common import console


def _steps(out: Path, hours: float) -> list[tuple[str, list[str]]]:
    return [
        (
            "Key rate of one backbone hop (70 km, finite key, 10^8-bit blocks)",
            [
                "link",
                "keyrate",
                "--preset",
                "backbone",
                "--distance-km",
                "70",
                "--model",
                "finite",
                "--block-bits",
                "1e8",
            ],
        ),
        (
            "That hop simulated and post-processed end to end (Cascade, Toeplitz, Wegman-Carter)",
            [
                "link",
                "run",
                "--preset",
                "backbone",
                "--distance-km",
                "70",
                "--duration-s",
                "10",
                "--seed",
                "1",
            ],
        ),
        (
            "Key rate against distance (GYS parameters, every model, Monte-Carlo, PLOB)",
            ["link", "plot", "--preset", "gys", "--out", str(out / "keyrate.png")],
        ),
        (
            f"Beijing-Shanghai backbone with Micius, {hours:g} simulated hours",
            [
                "network",
                "simulate",
                "--network",
                "beijing-shanghai",
                "--with",
                "micius",
                "--hours",
                f"{hours:g}",
            ],
        ),
        (
            "Network map (links coloured by key rate)",
            [
                "network",
                "map",
                "--network",
                "beijing-shanghai",
                "--with",
                "micius",
                "--out",
                str(out / "map.png"),
                "--html",
                str(out / "map.html"),
            ],
        ),
        (
            "Micius passes over Xinglong on 19 December 2016 (Liao et al. 2017's key pass)",
            [
                "satellite",
                "passes",
                "--station",
                "xinglong",
                "--from",
                "2016-12-19",
                "--days",
                "1",
                "--plot",
                str(out / "pass.png"),
            ],
        ),
    ]


def demo(
    out: Path = typer.Option(Path("out"), help="Folder for plots and reports."),
    hours: float = typer.Option(24.0, help="Simulated hours of the network run.", min=0.1),
) -> None:
    """Draw the link, network and satellite plots on embedded defaults into OUT (live: `up`)."""
    from quaykey.cli.main import app

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for title, argv in _steps(out, hours):
        console.print(Rule(f"[bold]{title}"))
        console.print(f"[dim]$ quaykey {' '.join(argv)}[/]")
        code = app(argv, standalone_mode=False)
        if isinstance(code, int) and code != 0:  # a step that fails stops the demo
            console.print(f"[bold red]step failed[/] (exit code {code}): {title}")
            raise typer.Exit(code=code)
    console.print(Rule())
    console.print(
        f"[bold green]demo finished[/] in {time.perf_counter() - started:.0f} s; "
        f"plots and maps in {out}/"
    )
