"""`quaykey network cuts | sweep | feasibility`: the studies a planner runs.

- ``cuts``: every single-fibre cut and the demands it breaks (:func:`single_cuts`);
- ``sweep``: a link parameter (or the hop length) swept over values, a table and a PNG
  (:func:`quaykey.network.studies.sweep`);
- ``feasibility``: a topology file's routes, their capacity, and which protection class
  each route carries for a traffic profile (:func:`quaykey.logistics.budget.key_budget`).

The studies run their tasks on a Dask cluster with ``--workers N`` (a local one) or
``--scheduler ADDR`` (an existing one); the results do not depend on it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from quaykey.cli._common import check_out_path, check_seed, console, print_json, user_errors
from quaykey.cli.network import (
    _NETWORK_FLAGS,
    _NETWORK_HELP,
    SCHEDULER_ENV,
    SCHEDULER_HELP,
    WORKERS_HELP,
    _topology,
    app,
    check_cluster,
)
from quaykey.errors import NoRouteError
from quaykey.logistics.budget import KeyPolicy, key_budget
from quaykey.logistics.profiles import PROFILE_NAMES, load_profile
from quaykey.network.distributed import open_client
from quaykey.network.routing import demand_route, disjoint_paths
from quaykey.network.studies import (
    HOP_KEYS,
    model_rates,
    parse_sweep_values,
    single_cuts,
    study_demands,
    sweep,
)
from quaykey.network.topology import Topology

__all__ = ["cuts", "feasibility", "sweep_command"]

#: Protection classes a route is judged for, in order (quaykey.logistics.budget plans).
CLASSES: tuple[str, ...] = ("otp", "aes", "hybrid")


def _block_s(block_s: float) -> None:
    if not (math.isfinite(block_s) and block_s > 0):
        raise ValueError(f"--block-s must be > 0, got {block_s!r}")


def _load(network: str | None, topology: Path | None) -> Topology:
    if topology is None and network is None:
        raise ValueError("give --topology FILE or --network NAME")
    return _topology(network, topology, False)


@app.command("cuts")
def cuts(
    network: str = typer.Option(None, *_NETWORK_FLAGS, help=_NETWORK_HELP),
    topology: Path = typer.Option(None, help="Your own topology YAML file."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration of the model, s."),
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    scheduler: str = typer.Option(None, "--scheduler", envvar=SCHEDULER_ENV, help=SCHEDULER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Cut every fibre in turn: which demands each cut breaks or leaves short of key."""
    with user_errors():
        _block_s(block_s)
        check_cluster(workers, scheduler)
        t = _load(network, topology)
        with open_client(workers, scheduler) as client:
            impacts = single_cuts(t, block_s, client)
    rows = [i.to_dict() for i in impacts]
    critical = [r for r in rows if r["broken"] or r["short"]]
    if json_out:
        print_json({"topology": t.name, "cuts": rows, "critical_links": len(critical)})
        return
    table = Table(title=f"single-fibre cuts of {t.name}: {len(critical)} of {len(rows)} matter")
    for col in ("link", "km", "breaks (no route)", "leaves short of key"):
        table.add_column(col)
    for r in critical:
        table.add_row(
            r["link"],
            f"{r['length_km']:.1f}",
            ", ".join(r["broken"]) or "-",
            ", ".join(r["short"]) or "-",
        )
    console.print(table)


def _plot(points: list[dict[str, Any]], key: str, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    xs = [p["value"] for p in points]
    for i, route in enumerate(points[0]["routes"][:8]):
        ys = [max(p["routes"][i]["capacity_bps"], 1e-3) for p in points]
        ax.plot(xs, ys, marker="o", label=f"{route['src']} -> {route['dst']}")
    ax.plot(xs, [max(p["mean_link_rate_bps"], 1e-3) for p in points], "k--", label="mean link")
    ax.set_yscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel("key rate, bit/s (model)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


@app.command("sweep")
def sweep_command(
    param: str = typer.Option(
        ...,
        "--param",
        help="KEY=VALUES: a link parameter (detector.efficiency=0.1:0.5:5, "
        "source.repetition_rate_hz=1e8,6.25e8) or " + ", ".join(HOP_KEYS) + ".",
    ),
    network: str = typer.Option(None, *_NETWORK_FLAGS, help=_NETWORK_HELP),
    topology: Path = typer.Option(None, help="Your own topology YAML file."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration, s."),
    hours: float = typer.Option(None, help="Also simulate each point (statistical) this long."),
    seed: int = typer.Option(1, help="Seed of the simulations."),
    out: Path = typer.Option(None, "--out", help="Write a PNG plot of the sweep."),
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    scheduler: str = typer.Option(None, "--scheduler", envvar=SCHEDULER_ENV, help=SCHEDULER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Sweep one parameter over every fibre link: link and route key rates per value."""
    with user_errors():
        key, sep, text = param.partition("=")
        if not (sep and key.strip()):
            raise ValueError(f"--param must be KEY=VALUES, got {param!r}")
        try:
            values = parse_sweep_values(text)
        except ValueError as exc:
            raise ValueError(f"--param {exc}") from None
        _block_s(block_s)
        if hours is not None and not (math.isfinite(hours) and hours > 0):
            raise ValueError(f"--hours must be > 0, got {hours!r}")
        check_seed(seed)
        check_out_path(out, "--out", suffix=".png")
        check_cluster(workers, scheduler)
        t = _load(network, topology)
        key = key.strip()
        with open_client(workers, scheduler) as client:
            try:
                points = sweep(t, key, values, block_s, client, hours, seed)
            except ValueError as exc:
                raise ValueError(f"--param {exc}") from None
        rows = [p.to_dict() for p in points]
        if out is not None:
            _plot(rows, key, out, f"{t.name}: {key}")
    if json_out:
        print_json({"topology": t.name, "param": key, "points": rows})
        return
    _render_sweep(t, key, rows)
    if out is not None:
        console.print(f"wrote {out}")


def _render_sweep(t: Topology, key: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{t.name}: {key} swept (model key rates, bit/s)")
    table.add_column(key)
    for col in ("mean hop km", "links with key", "min link", "mean link"):
        table.add_column(col, justify="right")
    routes = rows[0]["routes"]
    for r in routes:
        table.add_column(f"{r['src']}->{r['dst']}", justify="right")
    for p in rows:
        table.add_row(
            f"{p['value']:.4g}",
            f"{p['mean_hop_km']:.1f}",
            f"{p['links_with_key']}/{p['fibre_links']}",
            f"{p['min_link_rate_bps']:.3g}",
            f"{p['mean_link_rate_bps']:.3g}",
            *(f"{r['capacity_bps']:.3g}" for r in p["routes"]),
        )
    console.print(table)


def _route_classes(
    t: Topology, rates: dict[str, float], profile: str, policy: KeyPolicy
) -> list[dict[str, Any]]:
    prof = load_profile(profile)
    out = []
    for d in study_demands(t):
        try:
            r = demand_route(t, d.src, d.dst, rates, d.multipath)
            cap, path, limiting = r.capacity_bps, r.paths[0], r.limiting_links[0]
        except NoRouteError:
            cap, path, limiting = 0.0, (), None
        budget = key_budget(prof, cap, route=(d.src, d.dst), scope="all", policy=policy)
        carries = [c for c in CLASSES if budget.plan(c).sustained_peak]
        fibre_km = sum(link.length_km for link in t.path_links(path)) if path else 0.0
        out.append(
            {
                "src": d.src,
                "dst": d.dst,
                "capacity_bps": cap,
                "hops": max(0, len(path) - 1),
                "fibre_km": fibre_km,
                "node_disjoint_paths": len(disjoint_paths(t, d.src, d.dst)) if path else 0,
                "limiting_link": limiting,
                "carries": carries,
                "recommended_plan": budget.recommended,
                "otp_peak_bps": budget.plan("otp").key_bps_peak,
                "aes_peak_bps": budget.plan("aes").key_bps_peak,
            }
        )
    return out


@app.command("feasibility")
def feasibility(
    topology: Path = typer.Option(None, help="Topology YAML file of the region."),
    network: str = typer.Option(None, *_NETWORK_FLAGS, help=_NETWORK_HELP),
    profile: str = typer.Option(
        "shanghai-day", help=f"Traffic each route must carry: {', '.join(PROFILE_NAMES)}."
    ),
    block_s: float = typer.Option(600.0, help="Finite-key block duration of the model, s."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """A region's routes, their key rate, cuts, and which protection class each carries."""
    with user_errors():
        if profile not in PROFILE_NAMES:
            names = ", ".join(PROFILE_NAMES)
            raise ValueError(f"--profile must be one of {names}, got {profile!r}")
        _block_s(block_s)
        t = _load(network, topology)
        rates = model_rates(t, block_s)
        routes = _route_classes(t, rates, profile, KeyPolicy())
        impacts = single_cuts(t, block_s)
    single_points = sorted({link for i in impacts for link in [i.link] if i.broken})
    payload = {
        "topology": t.name,
        "profile": profile,
        "fibre_km": t.fibre_km,
        "links_with_key": sum(r > 0 for r in rates.values()),
        "fibre_links": len(rates),
        "routes": routes,
        "single_points_of_failure": single_points,
    }
    if json_out:
        print_json(payload)
        return
    _render_feasibility(payload)


def _render_feasibility(p: dict[str, Any]) -> None:
    console.print(
        f"[bold]{p['topology']}[/]: {p['fibre_km']:.0f} km of fibre, "
        f"{p['links_with_key']}/{p['fibre_links']} links make key; traffic {p['profile']}"
    )
    table = Table(title="routes (model capacity; classes sustained at the profile's peak)")
    for col in ("route", "km", "hops", "paths", "kbit/s", "limiting link", "carries", "plan"):
        table.add_column(col)
    for r in p["routes"]:
        table.add_row(
            f"{r['src']} -> {r['dst']}",
            f"{r['fibre_km']:.0f}",
            str(r["hops"]),
            str(r["node_disjoint_paths"]),
            f"{r['capacity_bps'] / 1e3:.3g}",
            r["limiting_link"] or "-",
            ", ".join(r["carries"]) or "none",
            r["recommended_plan"] or "-",
        )
    console.print(table)
    spof = p["single_points_of_failure"]
    console.print(f"single fibres whose cut leaves a route with none: {', '.join(spof) or 'none'}")
    console.print("[bold]which routes carry which protection class[/]")
    for cls in CLASSES:
        names = [f"{r['src']}->{r['dst']}" for r in p["routes"] if cls in r["carries"]]
        console.print(f"  {cls}: {', '.join(names) or 'no route'}")
    none = [f"{r['src']}->{r['dst']}" for r in p["routes"] if not r["carries"]]
    if none:
        console.print(f"  none of them: {', '.join(none)}")
