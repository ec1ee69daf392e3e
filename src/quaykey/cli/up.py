"""`quaykey up`: the whole system live, with its dashboard, until Ctrl-C (or ``--duration``).

This module parses the flags, works out where the KMEs run (the hubs of the profile's sites,
:func:`quaykey.cli.apps_sites.chain_for`) and serves :mod:`quaykey.operate` with uvicorn on
127.0.0.1. The first line on stdout is ``dashboard: http://127.0.0.1:PORT/#token=TOKEN``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import typer

from quaykey.cli._common import check_seed, user_errors
from quaykey.cli.apps_sites import STOCK_KEY_BITS, chain_for, node_of, profile_sites, stock_plan
from quaykey.logistics.profiles import PROFILE_NAMES, load_profile
from quaykey.network.presets import NETWORK_NAMES
from quaykey.operate.config import DEFAULT_START_UTC, KmsPlan, UpConfig

__all__ = ["up"]

log = logging.getLogger("quaykey.operate")

DEFAULT_STATE_DIR = Path(".quaykey/up")


def _start(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start must be an ISO-8601 UTC time, got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def build_config(
    *, state_dir: Path, network: str, profile: str, speed: float, tick_s: float,
    apps_speed: float, seed: int, start: str, kmes: bool, apps: bool,
    deposit_cap_bytes: int,
) -> UpConfig:  # fmt: skip
    """Check the flags and build the run's settings and KME plan."""
    check_seed(seed)
    if network not in NETWORK_NAMES:
        raise ValueError(f"--network must be one of {', '.join(NETWORK_NAMES)}, got {network!r}")
    if profile not in PROFILE_NAMES:
        raise ValueError(f"--profile must be one of {', '.join(PROFILE_NAMES)}, got {profile!r}")
    for flag, v in (("--speed", speed), ("--tick-s", tick_s), ("--apps-speed", apps_speed)):
        if not v > 0:
            raise ValueError(f"{flag} must be > 0, got {v}")
    prof = load_profile(profile)
    sites, pairs = profile_sites(prof)
    route_pairs = sorted(
        {(e.src, e.dst) for f in prof.flows for e in f.endpoints if e.src != e.dst}
    )
    plan = None
    if kmes:
        chain = chain_for(sites)
        stock = stock_plan(prof, apps_speed, prefill_s=600.0)
        plan = KmsPlan(
            nodes=chain, links=tuple(itertools.pairwise(chain)),
            saes={s: node_of(s) for s in sites}, pairs=tuple(pairs), stock=stock.config(),
            key_bits=STOCK_KEY_BITS,
        )  # fmt: skip
    return UpConfig(
        state_dir=state_dir, network=network, profile=profile, speed=speed,
        tick_wall_s=tick_s, apps_speed=apps_speed, seed=seed, start_utc=_start(start),
        deposit_cap_bytes=deposit_cap_bytes, kms=plan, apps=apps and kmes,
        route_pairs=tuple(route_pairs),
    )  # fmt: skip


def serve(config: UpConfig, port: int, duration_s: float | None) -> None:
    """Start everything, print the address, serve until Ctrl-C or ``duration_s``."""
    import uvicorn

    from quaykey.operate import Live, create_dashboard_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
    actual = sock.getsockname()[1]
    live = Live(config)
    try:
        live.attach()
        app = create_dashboard_app(live)
        server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", log_config=None
            )
        )
        live.start()
        log.info("started", extra={"event": "started", "port": actual, "resumed": live.resumed,
                                   "state_dir": str(config.state_dir)})  # fmt: skip
        print(f"dashboard: http://127.0.0.1:{actual}/#token={live.token}", flush=True)
        print(f"state: {config.state_dir} ({'resumed' if live.resumed else 'new'})", flush=True)
        if duration_s is not None:
            timer = threading.Timer(duration_s, lambda: setattr(server, "should_exit", True))
            timer.daemon = True
            timer.start()
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again on exit
            server.run(sockets=[sock])
    finally:
        live.stop()
    print(f"stopped at t_sim={live.backbone.t_sim:.0f} s", file=sys.stderr, flush=True)


def up(
    port: int = typer.Option(8000, help="Dashboard port on 127.0.0.1 (0: a free port)."),
    state_dir: Path = typer.Option(
        DEFAULT_STATE_DIR,
        help="State directory: dev PKI, operator token, KME databases, the applications' "
        "state, operate.db. Made on first start, resumed on the next.",
    ),
    speed: float = typer.Option(60.0, help="Simulated network seconds per wall second."),
    duration: float = typer.Option(None, help="Stop after this many wall seconds."),
    network: str = typer.Option(
        "micius",
        help="micius (beijing-shanghai with the Micius satellite) or beijing-shanghai.",
    ),
    profile: str = typer.Option(
        "shanghai-day", help=f"Applications' traffic profile: {', '.join(PROFILE_NAMES)}."
    ),
    apps_speed: float = typer.Option(
        1.0, help="Profile seconds per wall second of the applications."
    ),
    tick_s: float = typer.Option(
        1.0, help="Wall seconds per tick (one block of speed x tick-s per fibre link)."
    ),
    start: str = typer.Option(
        DEFAULT_START_UTC.isoformat().replace("+00:00", "Z"), help="Simulated start, UTC."
    ),
    seed: int = typer.Option(1, help="Seed of the link blocks and the traffic."),
    kmes: bool = typer.Option(True, "--kmes/--no-kmes", help="Run the KMEs (and the apps)."),
    apps: bool = typer.Option(True, "--apps/--no-apps", help="Run the applications."),
    deposit_cap: int = typer.Option(
        16384, help="Most link key bytes deposited per tick per KME pair."
    ),
    log_json: bool = typer.Option(False, "--log-json", help="Log one JSON object per line."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the network, the KMEs, the applications and the dashboard live (Ctrl-C stops).

    The Beijing-Shanghai backbone with Micius in scaled real time (statistical blocks), the
    KMEs of the applications' hubs (ETSI GS QKD 014 over mTLS on loopback), the port and
    customs applications through them, and the dashboard server. A restart on the same
    --state-dir resumes where the last run stopped.
    """
    from quaykey.operate.logs import setup_logging

    with user_errors():
        if log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(
                f"--log-level must be debug, info, warning or error, got {log_level!r}"
            )
        if duration is not None and not duration > 0:
            raise ValueError(f"--duration must be > 0 seconds, got {duration}")
        if not 0 <= port < 65536:
            raise ValueError(f"--port must be 0 to 65535, got {port}")
        cfg = build_config(
            state_dir=state_dir, network=network, profile=profile, speed=speed, tick_s=tick_s,
            apps_speed=apps_speed, seed=seed, start=start, kmes=kmes, apps=apps,
            deposit_cap_bytes=deposit_cap,
        )  # fmt: skip
        setup_logging(log_level, log_json)
        serve(cfg, port, duration)
