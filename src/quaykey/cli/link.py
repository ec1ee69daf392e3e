"""`quaykey link`: study one QKD link (key rates, simulation, plots, end-to-end runs)."""

from __future__ import annotations

import typer

from quaykey.cli import link_keyrate, link_run, link_simulate

app = typer.Typer(
    help="Study one QKD link: key rates, simulation, plots, end-to-end runs.",
    no_args_is_help=True,
)
app.command("keyrate")(link_keyrate.keyrate)
app.command("plot")(link_keyrate.plot)
app.command("simulate")(link_simulate.simulate)
app.command("run")(link_run.run)
