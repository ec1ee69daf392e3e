"""The ``quaykey`` command: registers each command group."""

from __future__ import annotations

import typer

from quaykey.cli import demo, edi, kme, link, network, pki, satellite

app = typer.Typer(
    name="quaykey",
    help="Simulate, operate and use a trusted-relay QKD network for ports and customs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(link.app, name="link")
app.add_typer(network.app, name="network")
app.add_typer(satellite.app, name="satellite")
app.add_typer(pki.app, name="pki")
app.add_typer(kme.app, name="kme")
app.add_typer(edi.app, name="edi")
app.command("demo")(demo.demo)


def main() -> None:
    """Entry point of the ``quaykey`` console script."""
    app()


if __name__ == "__main__":
    main()
