"""`quaykey kme`: Run and inspect Key Management Entities (ETSI GS QKD 014)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from quaykey.cli._common import console, print_json, user_errors

app = typer.Typer(
    help="Run and inspect Key Management Entities (ETSI GS QKD 014).", no_args_is_help=True
)


@app.command("serve")
def serve(
    node: Annotated[str, typer.Option("--node", help="Which node's KME to run.")],
    config: Annotated[Path, typer.Option("--config", help="KMS network YAML file.")],
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = False,
) -> None:
    """Serve one KME over HTTPS with mutual TLS until interrupted."""
    import logging

    import uvicorn

    from quaykey.kms.app import create_app, server_config
    from quaykey.kms.config import fault_point_from_env, load_network_config

    with user_errors():
        settings = load_network_config(config).settings_for(
            node, fault_point=fault_point_from_env()
        )
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
        app_ = create_app(settings)
    uvicorn.Server(server_config(app_, settings, log_level=log_level, access_log=access_log)).run()


@app.command("status")
def status(
    config: Annotated[Path, typer.Option("--config", help="KMS network YAML file.")],
    node: Annotated[
        list[str] | None, typer.Option("--node", help="Only these nodes (repeatable).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each KME's link pools, held keys and SAEs (reads the KME databases)."""
    from quaykey.kms.config import load_network_config
    from quaykey.kms.service import KmeService

    with user_errors():
        net = load_network_config(config)
        out: dict[str, Any] = {}
        for n in node or list(net.nodes):
            svc = KmeService.from_settings(net.settings_for(n))
            try:
                out[n] = svc.pools()
            finally:
                svc.close()
    if json_out:
        print_json({"kmes": out})
        return
    from rich.table import Table

    for n, info in out.items():
        t = Table(title=f"KME {info['kme_id']} (node {n})")
        t.add_column("link to")
        t.add_column("sendable bytes", justify="right")
        t.add_column("receivable bytes", justify="right")
        for peer, p in info["links"].items():
            t.add_row(peer, str(p["sendable_bytes"]), str(p["receivable_bytes"]))
        console.print(t)
        console.print(f"held keys: {info['held_keys'] or 0}")
        console.print("SAEs: " + ", ".join(f"{s} ({e['tenant']})" for s, e in info["saes"].items()))
