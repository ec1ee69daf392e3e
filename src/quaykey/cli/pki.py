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
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON.")
    ] = False,
) -> None:
    """Create a development CA, KME server and client certificates, and SAE certificates.

    With --config, also creates each node's master key file if it does not exist.
    """
    from quaykey.kms.config import load_network_config
    from quaykey.kms.pki import init_dev_pki
    from quaykey.kms.store import create_master_key

    with user_errors():
        nodes = list(node or [])
        saes = list(sae or [])
        master_keys: list[str] = []
        kme_ids: dict[str, str] = {}
        if config is not None:
            net = load_network_config(config)
            kme_ids = {n: c.kme_id for n, c in net.nodes.items()}
            nodes += [n for n in net.nodes if n not in nodes]
            saes += [s for s in net.saes if s not in saes]
            for n in net.nodes:
                path = net.settings_for(n).master_key_file
                create_master_key(path)
                master_keys.append(str(path))
        if not nodes and not saes:
            raise ValueError("name at least one --node or --sae, or pass --config")
        layout = init_dev_pki(out, nodes, saes, kme_ids)
    summary = {
        "ca": str(layout.ca_cert),
        "kmes": nodes,
        "saes": saes,
        "master_keys": master_keys,
        "dir": str(out),
    }
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote CA {layout.ca_cert}, {len(nodes)} KME(s) and {len(saes)} SAE(s) to {out}"
        )
