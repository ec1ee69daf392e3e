"""`quaykey apps`: the port and customs applications (traffic profiles, key budget, runs)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from quaykey.cli._common import console, print_json, user_errors
from quaykey.cli.network import _plan_pairs, _rate_rows, _topology
from quaykey.logistics.budget import SCOPES, KeyPolicy, key_budget
from quaykey.logistics.profiles import PROFILE_NAMES, load_profile
from quaykey.network.routing import demand_route
from quaykey.network.topology import Topology

__all__ = ["app", "budget", "budget_markdown", "route_capacity", "run"]

app = typer.Typer(help="Port and customs applications.", no_args_is_help=True)


def route_capacity(t: Topology, src: str, dst: str, block_s: float = 600.0) -> dict[str, Any]:
    """The route's capacity exactly as ``quaykey network plan --route SRC:DST`` reports it.

    Modelled link key rates (finite-key blocks of ``block_s``), the topology's demand for the
    pair when it has one (so a multipath demand uses every node-disjoint path), and
    :func:`quaykey.network.routing.demand_route`.
    """
    (demand,) = _plan_pairs(t, [f"{src}:{dst}"])
    rates = {name: row["analytic_key_rate_bps"] for name, row in _rate_rows(t, block_s).items()}
    used = demand_route(t, demand.src, demand.dst, rates, demand.multipath)
    return {
        "capacity_bps": used.capacity_bps,
        "hops": used.hops,
        "multipath": demand.multipath,
        "paths": [list(p) for p in used.paths],
        "limiting_links": list(used.limiting_links),
        "block_s": block_s,
    }


def _route_pair(route: str | None, default: tuple[str, str]) -> tuple[str, str]:
    if route is None:
        return default
    src, sep, dst = route.partition(":")
    if not (sep and src and dst):
        raise ValueError(f"--route must be SRC:DST, got {route!r}")
    return src, dst


def _policy(rekey_messages: int, rekey_s: float, mac: bool) -> KeyPolicy:
    if rekey_messages < 0:
        raise ValueError(f"--rekey-messages must be >= 0 (0: no count limit), got {rekey_messages}")
    if not (math.isfinite(rekey_s) and rekey_s >= 0):
        raise ValueError(f"--rekey-s must be >= 0 (0: no time limit), got {rekey_s!r}")
    if rekey_messages == 0 and rekey_s == 0:
        raise ValueError("--rekey-messages and --rekey-s cannot both be 0")
    return KeyPolicy(
        rekey_messages=rekey_messages or None,
        rekey_interval_s=rekey_s or None,
        mac_per_message=mac,
    )


@app.command("budget")
def budget(
    profile: str = typer.Option(..., help=f"Traffic profile: {', '.join(PROFILE_NAMES)}."),
    route: str = typer.Option(None, help="SRC:DST sites (default: the profile's route)."),
    preset: str = typer.Option(
        "beijing-shanghai", "--network", "--preset", help="Network giving the route."
    ),
    scope: str = typer.Option(
        "all", help="all: the whole profile crosses the route; route: only flows between its ends."
    ),
    stock_bits: float = typer.Option(
        None, help="Key stock at the route's ends, bits (default: one hour of its key)."
    ),
    rekey_messages: int = typer.Option(1000, help="AES/hybrid: messages per key (0: no limit)."),
    rekey_s: float = typer.Option(60.0, help="AES/hybrid: seconds per key (0: no limit)."),
    mac: bool = typer.Option(False, "--mac", help="AES/hybrid: add a one-time MAC per message."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration of the link model, s."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a markdown table."),
) -> None:
    """Key each protection class needs for a traffic profile, against a route's capacity."""
    with user_errors():
        if profile not in PROFILE_NAMES:
            raise ValueError(
                f"--profile must be one of {', '.join(PROFILE_NAMES)}, got {profile!r}"
            )
        if scope not in SCOPES:
            raise ValueError(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        if stock_bits is not None and not (math.isfinite(stock_bits) and stock_bits >= 0):
            raise ValueError(f"--stock-bits must be >= 0, got {stock_bits!r}")
        if not (math.isfinite(block_s) and block_s > 0):
            raise ValueError(f"--block-s must be > 0, got {block_s!r}")
        policy = _policy(rekey_messages, rekey_s, mac)
        prof = load_profile(profile)
        src, dst = _route_pair(route, prof.default_route)
        if scope == "route" and not any(f.pair_share(src, dst) for f in prof.flows):
            raise ValueError(
                f"--scope route: no flow of {profile} runs between {src} and {dst}; "
                "give another --route or --scope all"
            )
        t = _topology(preset, None, False)
        planned = route_capacity(t, src, dst, block_s)
        result = key_budget(
            prof,
            planned["capacity_bps"],
            route=(src, dst),
            scope=scope,
            stock_bits=stock_bits,
            policy=policy,
        )
    payload = {**result.to_dict(), "preset": preset, "route_plan": planned}
    if json_out:
        print_json(payload)
    elif markdown:
        sys.stdout.write(budget_markdown(payload) + "\n")
    else:
        _render(payload)


def _kbps(bps: float) -> str:
    return f"{bps / 1e3:.3g}"


def _lasts(p: dict[str, Any]) -> str:
    s = p["drain_at_peak_s"]
    if s is None:
        return "no deficit"
    return f"{s / 60:.3g} min" if s < 7200 else f"{s / 3600:.3g} h"


def _pct(share: float) -> str:
    return f"{100 * share:,.0f} %" if share >= 0.1 else f"{100 * share:.2g} %"


def _dry(p: dict[str, Any]) -> str:
    s = p["dry_after_s"]
    if s is None:
        return "never"
    day, rest = divmod(s, 86_400.0)
    return f"day {int(day) + 1}, {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}"


def _needed(p: dict[str, Any]) -> str:
    s = p["stock_needed_bits"]
    return "none lasts" if s is None else f"{s / 1e6:.3g}"


def _rows(payload: dict[str, Any]) -> list[list[str]]:
    rows = []
    for p in payload["plans"]:
        rows.append(
            [
                p["plan"],
                f"{p['messages_per_s_mean']:.3g} / {p['messages_per_s_peak']:.3g}",
                f"{p['otp_messages_per_s_mean']:.3g}",
                _kbps(p["key_bps_mean"]),
                _kbps(p["key_bps_peak"]),
                f"{_pct(p['capacity_share_mean'])} / {_pct(p['capacity_share_peak'])}",
                f"{'yes' if p['sustained_mean'] else 'no'} / "
                f"{'yes' if p['sustained_peak'] else 'no'}",
                _lasts(p),
                _dry(p),
                _needed(p),
            ]
        )
    return rows


_COLUMNS = (
    "plan",
    "msg/s mean / peak",
    "OTP msg/s",
    "key kbit/s mean",
    "key kbit/s peak",
    "of route mean / peak",
    "sustained mean / peak",
    "stock lasts at peak",
    "stock runs dry",
    "stock needed, Mbit",
)


def _title(payload: dict[str, Any]) -> str:
    plan = payload["route_plan"]
    r = payload["route"]
    return (
        f"{payload['profile']} on {r['src']} <-> {r['dst']} ({payload['preset']}: "
        f"{plan['hops']} hops, {_kbps(payload['capacity_bps'])} kbit/s, limiting "
        f"{', '.join(plan['limiting_links'])}); scope {payload['scope']}; stock "
        f"{payload['stock_bits'] / 1e6:.3g} Mbit"
    )


def budget_markdown(payload: dict[str, Any]) -> str:
    """The budget table and verdict as markdown, from ``quaykey apps budget --json`` output."""
    lines = [
        f"{_title(payload)}.",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(payload)]
    lines += ["", payload["verdict"]]
    return "\n".join(lines)


def _render(payload: dict[str, Any]) -> None:
    table = Table(title=_title(payload))
    for col in _COLUMNS:
        table.add_column(col)
    for row in _rows(payload):
        table.add_row(*row)
    console.print(table)
    console.print(payload["verdict"])


@app.command("run")
def run(
    profile: str = typer.Option(..., help=f"Traffic profile: {', '.join(PROFILE_NAMES)}."),
    minutes: float = typer.Option(2.0, help="Profile minutes to run."),
    speed: float = typer.Option(1.0, help="Profile seconds per wall second."),
    start: str = typer.Option("09:00", help="Profile time of day to start at, HH:MM."),
    seed: int = typer.Option(1, help="Seed of the traffic and of the link blocks."),
    state: Path = typer.Option(None, help="State directory (default: a temporary one)."),
    block_s: float = typer.Option(10.0, help="Link seconds per QKD block."),
    prefill_s: float = typer.Option(60.0, help="Link seconds of key made before traffic."),
    attack_every: int = typer.Option(
        0, help="Inject a tampered/replayed/reordered/wrongly keyed envelope every N messages."
    ),
    mqtt_url: str = typer.Option(
        None, help="MQTT broker for sensor frames, mqtt://host:port (default: embedded amqtt)."
    ),
    stock: bool = typer.Option(
        True, "--stock/--no-stock", help="Keep an end-to-end key stock for remote pairs."
    ),
    network: str = typer.Option(
        "chain",
        help="chain: 3 KMEs, 20 km links, exact blocks (fast); beijing-shanghai: one KME per "
        "node of that preset's route between the profile's route sites, statistical blocks.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Run a profile's applications over real KMEs (mTLS) fed with QKD link key."""
    from quaykey.cli.apps_run import run_command

    with user_errors():
        if profile not in PROFILE_NAMES:
            raise ValueError(
                f"--profile must be one of {', '.join(PROFILE_NAMES)}, got {profile!r}"
            )
        run_command(
            load_profile(profile), minutes=minutes, speed=speed, start=start, seed=seed,
            state=state, block_s=block_s, prefill_s=prefill_s, attack_every=attack_every,
            json_out=json_out, mqtt_url=mqtt_url, stock=stock, network=network,
        )  # fmt: skip
