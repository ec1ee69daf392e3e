"""`quaykey pki`: Development PKI for KMEs and SAEs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quaykey.cli._common import console, print_json, user_errors

app = typer.Typer(help="Development PKI for KMEs and SAEs.", no_args_is_help=True)


@app.command("init")
def init(
    out: Annotated[Path, typer.Option("--out", help="Directory for the CA, certificates, keys.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="KMS network YAML: take nodes and SAEs from it."),
    ] = None,
    node: Annotated[
        list[str] | None, typer.Option("--node", help="A KME node name (repeatable).")
    ] = None,
    sae: Annotated[list[str] | None, typer.Option("--sae", help="An SAE ID (repeatable).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a CA that already exists in --out.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON.")
    ] = False,
) -> None:
    """Create a development CA, KME server and client certificates, and SAE certificates.

    With --config, also creates each node's master key file if it does not exist. Every
    name is checked before any file is written; an existing CA is kept unless --force.
    """
    from quaykey.cli.kme import network_from_option
    from quaykey.kms.pki import check_name, init_dev_pki
    from quaykey.kms.store import create_master_key

    with user_errors():
        nodes = list(node or [])
        saes = list(sae or [])
        for n in nodes:
            check_name(n, "--node")
        for s in saes:
            check_name(s, "--sae", sae=True)
        master_keys: list[Path] = []
        kme_ids: dict[str, str] = {}
        if config is not None:
            net = network_from_option(config)
            for n, c in net.nodes.items():
                check_name(n, "--config: node")
                check_name(c.kme_id, "--config: KME ID")
            for s in net.saes:
                check_name(s, "--config: SAE ID", sae=True)
            kme_ids = {n: c.kme_id for n, c in net.nodes.items()}
            nodes += [n for n in net.nodes if n not in nodes]
            saes += [s for s in net.saes if s not in saes]
            master_keys = [net.settings_for(n).master_key_file for n in net.nodes]
        if not nodes and not saes:
            raise ValueError("name at least one --node or --sae, or pass --config")
        try:
            layout = init_dev_pki(out, nodes, saes, kme_ids, force=force)
        except ValueError as exc:
            raise ValueError(f"--out {exc}") from None
        for path in master_keys:
            create_master_key(path)
    summary = {
        "ca": str(layout.ca_cert),
        "kmes": nodes,
        "saes": saes,
        "master_keys": [str(p) for p in master_keys],
        "dir": str(out),
    }
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote CA {layout.ca_cert}, {len(nodes)} KME(s) and {len(saes)} SAE(s) to {out}"
        )
