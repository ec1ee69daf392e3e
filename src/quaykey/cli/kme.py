"""`quaykey kme`: Run and inspect Key Management Entities (ETSI GS QKD 014)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quaykey.cli._common import console, print_json, user_errors

if TYPE_CHECKING:
    from quaykey.kms.config import NetworkConfig

app = typer.Typer(
    help="Run and inspect Key Management Entities (ETSI GS QKD 014).", no_args_is_help=True
)

_CONFIG_HELP = "KMS network YAML file (`quaykey examples` writes one)."


def network_from_option(config: Path | None) -> NetworkConfig:
    """Read the ``--config`` file; every failure is one ValueError naming ``--config``."""
    import yaml
    from pydantic import ValidationError

    from quaykey.kms.config import load_network_config

    if config is None:
        raise ValueError("--config is required: the KMS network YAML file")
    try:
        return load_network_config(config)
    except FileNotFoundError:
        raise ValueError(f"--config {config}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"--config {config}: is a folder, not a file") from None
    except OSError as exc:
        raise ValueError(f"--config {config}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"--config {config}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"--config {config}: not valid YAML{where}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "top level"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ValueError(f"--config {config}: {loc}: {msg}") from None
    except ValueError as exc:
        raise ValueError(f"--config {config}: {exc}") from None


@app.command("serve")
def serve(
    node: Annotated[str, typer.Option("--node", help="Which node's KME to run.")],
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes serving this KME (above 1 needs a PostgreSQL database).",
        ),
    ] = 1,
) -> None:
    """Serve one KME over HTTPS with mutual TLS until interrupted."""
    import logging

    import uvicorn

    from quaykey.kms.app import create_app, server_config
    from quaykey.kms.config import fault_point_from_env
    from quaykey.kms.workers import check_workers, serve_workers

    with user_errors():
        settings = network_from_option(config).settings_for(
            node, fault_point=fault_point_from_env(), workers=workers
        )
        check_workers(settings)
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
        if workers > 1:
            serve_workers(settings, log_level=log_level, access_log=access_log)
            return
        app_ = create_app(settings)
    uvicorn.Server(server_config(app_, settings, log_level=log_level, access_log=access_log)).run()


@app.command("status")
def status(
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    node: Annotated[
        list[str] | None, typer.Option("--node", help="Only these nodes (repeatable).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each KME's link pools, held keys and SAEs (reads the KME databases)."""
    from quaykey.kms.service import KmeService

    with user_errors():
        net = network_from_option(config)
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
        if info["stock"]["enabled"]:
            levels = info["stock"]["by_node"].items()
            console.print(
                "key stock, ready/bound keys per remote KME: "
                + (", ".join(f"{d} {v['ready_keys']}/{v['target_keys']}" for d, v in levels) or "-")
            )
        console.print("SAEs: " + ", ".join(f"{s} ({e['tenant']})" for s, e in info["saes"].items()))
