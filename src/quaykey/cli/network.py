"""`quaykey network`: simulate, plan and map the trusted-relay network."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quaykey.cli._common import (
    check_out_path,
    check_seed,
    console,
    err_console,
    print_json,
    user_errors,
)
from quaykey.cli.network_map import draw_png, html_map
from quaykey.cli.network_render import render_plan, render_simulation
from quaykey.network.cost import MAX_UNFORCED_S, run_cost_s
from quaykey.network.demands import Demand, parse_demand
from quaykey.network.distributed import open_client
from quaykey.network.distributed import simulate as simulate_tasks
from quaykey.network.faults import Fault, check_within_run, parse_cut, parse_eve
from quaykey.network.links import link_model
from quaykey.network.orbit import Satellite, closest_epoch, satellites_from_entry
from quaykey.network.passes import passes_for_topology, windows_for_topology
from quaykey.network.presets import (
    NETWORK_NAMES,
    load_preset_topology,
    load_satellite_preset,
    load_topology_file,
)
from quaykey.network.report import SimulationReport
from quaykey.network.routing import demand_route, disjoint_route, key_aware_route
from quaykey.network.sim import KeySink, NetworkSimulation, SimulationConfig
from quaykey.network.topology import Topology

T = TypeVar("T")

#: Environment variable naming the Dask scheduler of ``--scheduler``.
SCHEDULER_ENV = "QUAYKEY_DASK_SCHEDULER"
WORKERS_HELP = "Worker processes of a local Dask cluster (1: no cluster, this process)."
SCHEDULER_HELP = (
    f"Existing Dask scheduler, tcp://HOST:8786 (or ${SCHEDULER_ENV}); its workers do the work."
)


def check_cluster(workers: int, scheduler: str | None) -> None:
    """``--workers`` and ``--scheduler`` checked before any work starts."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"--scheduler must be an address like tcp://HOST:8786, got {scheduler!r}")


app = typer.Typer(help="Simulate and plan the trusted-relay network.", no_args_is_help=True)


#: ``--network NAME`` picks a packaged topology; ``--preset`` is its former name, still
#: accepted (link *hardware* presets are ``--preset`` on the ``link`` commands).
_NETWORK_FLAGS = ("--network", "--preset")
_NETWORK_HELP = "Packaged network topology: " + ", ".join(NETWORK_NAMES) + " (alias: --preset)."


def _topology(network: str | None, topology: Path | None, with_micius: bool) -> Topology:
    if network and topology:
        raise ValueError("give --network or --topology, not both")
    if topology is not None:
        if with_micius:
            raise ValueError("--with micius applies to the beijing-shanghai network only")
        return load_topology_file(topology)
    name = network or "beijing-shanghai"
    if name not in NETWORK_NAMES:
        raise ValueError(f"--network must be one of {', '.join(NETWORK_NAMES)}, got {name!r}")
    return load_preset_topology(name, with_micius=with_micius)


def _with(value: str | None) -> bool:
    if value is None:
        return False
    if value != "micius":
        raise ValueError(f"--with must be 'micius', got {value!r}")
    return True


def _satellite_for(start: datetime) -> Satellite:
    """The packaged element set closest to the start of the run."""
    return closest_epoch(satellites_from_entry(load_satellite_preset()["satellite"]), start)


def _parse_start(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start must be an ISO date or date-time, got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _rate_rows(t: Topology, block_s: float) -> dict[str, dict[str, Any]]:
    return {
        link.name: link_model(link.params(), block_s).to_dict()
        for link in t.links
        if link.kind == "fibre"
    }


def _flag(flag: str, parse: Callable[[str], T], spec: str) -> T:
    """``parse(spec)``, its ValueError prefixed with the flag that gave ``spec``."""
    try:
        return parse(spec)
    except ValueError as exc:
        raise ValueError(f"{flag} {exc}") from None


def _faults(cut: list[str], eve: list[str], duration_s: float) -> tuple[Fault, ...]:
    out: list[Fault] = []
    for flag, specs, parse in (("--cut", cut, parse_cut), ("--eve", eve, parse_eve)):
        for spec in specs:
            fault = _flag(flag, parse, spec)
            try:
                check_within_run(fault, duration_s)
            except ValueError as exc:
                raise ValueError(f"{flag} {exc}") from None
            out.append(fault)
    return tuple(out)


def _demands(t: Topology, specs: list[str], with_kmes: bool) -> tuple[Demand, ...] | None:
    if specs:
        ds = tuple(_flag("--demand", parse_demand, s) for s in specs)
        for d in ds:
            for end in d.pair:
                _flag("--demand", t.node, end)
        return ds
    # KMEs relay the applications' keys themselves: the pools' copy must not be spent too.
    return () if with_kmes else None


def _check_cost(t: Topology, cfg: SimulationConfig, force: bool, workers: int = 1) -> float:
    n_blocks = int(cfg.duration_s // cfg.block_duration_s)
    blocks = [
        (link.params(), link_model(link.params(), cfg.block_duration_s), n_blocks)
        for link in t.links
        if link.kind == "fibre"
    ]
    cost = run_cost_s(blocks, cfg.fidelity) / workers
    if cost > MAX_UNFORCED_S and not force:
        raise ValueError(
            f"--hours {cfg.duration_s / 3600:g}: this run would take ~{cost:.3g} s of wall time "
            f"(more than {MAX_UNFORCED_S:g} s); shorten it or pass --force"
        )
    return cost


@contextmanager
def _kme_sink(path: Path | None, t: Topology) -> Iterator[tuple[KeySink | None, Any]]:
    """A key sink into the KMEs of ``path`` (a KMS network YAML), closed after the run."""
    if path is None:
        yield None, None
        return
    from quaykey.kms.config import load_network_config
    from quaykey.kms.feed import link_key_sink
    from quaykey.kms.service import KmeService

    if not path.is_file():
        raise ValueError(f"--kme-config {path}: no such file")
    net = load_network_config(path)
    names = {n.name for n in t.nodes}
    services = {n: KmeService.from_settings(net.settings_for(n)) for n in net.nodes if n in names}
    if not services:
        raise ValueError(f"--kme-config {path}: no KME node is a node of topology {t.name!r}")
    sink = link_key_sink(services)
    try:
        yield sink, sink
    finally:
        for svc in services.values():
            svc.close()


def _run(sim: NetworkSimulation, hours: float, show: bool) -> SimulationReport:
    if not show:
        return sim.run()
    with Progress(
        TextColumn("[bold]simulating[/]"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.0f} h"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=hours)
        return sim.run(lambda s: bar.update(task, completed=s / 3600.0))


def _passes(t: Topology, start_utc: datetime, duration_s: float) -> dict[str, Any] | None:
    """Passes of the free-space links and shared night windows of the entangled links."""
    free = [link for link in t.links if link.kind == "free-space"]
    pairs = [link for link in t.links if link.kind == "entangled"]
    if not free and not pairs:
        return None
    stations = load_satellite_preset()["stations"]
    sat = _satellite_for(start_utc)
    out: dict[str, Any] = {}
    if free:
        out.update(passes_for_topology(free, stations, sat, start_utc, duration_s))
    if pairs:
        out.update(windows_for_topology(pairs, stations, sat, start_utc, duration_s))
    return out


@app.command("simulate")
def simulate(
    network: str = typer.Option(None, *_NETWORK_FLAGS, help=_NETWORK_HELP),
    topology: Path = typer.Option(None, help="Your own topology YAML file."),
    with_: str = typer.Option(None, "--with", help="Add 'micius' (satellite and stations)."),
    hours: float = typer.Option(24.0, help="Simulated hours."),
    fidelity: str = typer.Option("statistical", help="statistical (counts) or exact (bits)."),
    cut: list[str] = typer.Option([], help="Cut a fibre: LINK@HOUR (repeatable)."),
    eve: list[str] = typer.Option([], help="Eavesdropper: LINK:intercept-resend:0.3@HOUR."),
    demand: list[str] = typer.Option(
        [], help="Key demand SRC:DST:BITS_PER_S[:multipath] (repeatable; replaces the file's)."
    ),
    block_s: float = typer.Option(600.0, help="Block duration of fibre links, seconds."),
    seed: int = typer.Option(1, help="Seed of all randomness."),
    start: str = typer.Option("2016-12-19T12:00:00", help="UTC time of simulation start."),
    realtime: float = typer.Option(None, help="Run in scaled real time: sim seconds per s."),
    kme_config: Path = typer.Option(
        None, "--kme-config", help="KMS network YAML: deposit each link's key into its KMEs."
    ),
    force: bool = typer.Option(False, "--force", help="Run even if estimated to take long."),
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    scheduler: str = typer.Option(None, "--scheduler", envvar=SCHEDULER_ENV, help=SCHEDULER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Simulate the network for some hours and report links, routes and faults."""
    with user_errors():
        if fidelity not in ("statistical", "exact"):
            raise ValueError(f"--fidelity must be statistical or exact, got {fidelity!r}")
        if not (math.isfinite(hours) and hours > 0):
            raise ValueError(f"--hours must be > 0, got {hours!r}")
        if not (math.isfinite(block_s) and block_s > 0):
            raise ValueError(f"--block-s must be > 0, got {block_s!r}")
        if realtime is not None and not (math.isfinite(realtime) and realtime > 0):
            raise ValueError(f"--realtime must be > 0, got {realtime!r}")
        check_seed(seed)
        check_cluster(workers, scheduler)
        if kme_config is not None and fidelity != "exact":
            raise ValueError("--kme-config needs --fidelity exact (statistical runs make no bits)")
        t = _topology(network, topology, _with(with_))
        cfg = SimulationConfig(
            duration_s=hours * 3600.0,
            fidelity=fidelity,  # type: ignore[arg-type]
            block_duration_s=block_s,
            seed=seed,
            faults=_faults(cut, eve, hours * 3600.0),
            demands=_demands(t, demand, kme_config is not None),
            start_utc=_parse_start(start),
            realtime_factor=realtime,
        )
        cost = _check_cost(t, cfg, force, workers)
        distributed = workers > 1 or scheduler is not None
        if distributed and realtime is not None:
            raise ValueError("--realtime runs in this process: leave out --workers/--scheduler")
        with _kme_sink(kme_config, t) as (sink, feed):
            if distributed:
                with open_client(workers, scheduler) as client:
                    run = simulate_tasks(
                        t, cfg, client, _passes(t, cfg.start_utc, cfg.duration_s), key_sink=sink
                    )
                out = run.to_dict()
            else:
                sim = NetworkSimulation(
                    t, cfg, _passes(t, cfg.start_utc, cfg.duration_s), key_sink=sink
                )
                show = not json_out and (cost > 3 or realtime is not None)
                out = _run(sim, hours, show=show).to_dict()
    if feed is not None:
        c = feed.counters
        out["kme_feed"] = {
            "deposited_blocks": c.total_deposited_blocks,
            "deposited_bytes": c.total_deposited_bytes,
            "skipped_blocks": c.total_skipped_blocks,
        }
    if json_out:
        print_json(out)
        return
    render_simulation(out, t.name, hours, fidelity)


def _plan_pairs(t: Topology, route: list[str]) -> list[Demand]:
    """The demands to plan: ``--route`` pairs (the file's demand where one matches), else
    the topology's demands, else every pair of user nodes."""
    known = {d.pair: d for d in t.demands}
    pairs: list[Demand] = []
    for item in route:
        src, sep, dst = item.partition(":")
        if not sep:
            raise ValueError(f"--route must be SRC:DST, got {item!r}")
        _flag("--route", t.node, src)
        _flag("--route", t.node, dst)
        pairs.append(known.get((src, dst)) or Demand(src, dst))
    if pairs:
        return pairs
    if t.demands:
        return list(t.demands)
    users = [n.name for n in t.nodes if n.kind == "user"]
    return [Demand(a, b) for i, a in enumerate(users) for b in users[i + 1 :]]


@app.command("plan")
def plan(
    topology: Path = typer.Option(None, help="Topology YAML file."),
    network: str = typer.Option(None, *_NETWORK_FLAGS, help=_NETWORK_HELP),
    route: list[str] = typer.Option(
        [], help="SRC:DST to plan (default: the topology's demands, else all user pairs)."
    ),
    block_s: float = typer.Option(600.0, help="Finite-key block duration, seconds."),
    start: str = typer.Option(
        "2016-12-19T12:00:00", help="UTC start of the day whose passes rate satellite links."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Model key rates of every link and the capacity and limiting link of each route.

    A satellite link (free-space or entangled) is rated by its key over one day from
    ``--start`` (passes, shared night windows) spread over the day.
    """
    with user_errors():
        if topology is None and network is None:
            raise ValueError("give --topology FILE or --network NAME")
        if not (math.isfinite(block_s) and block_s > 0):
            raise ValueError(f"--block-s must be > 0, got {block_s!r}")
        t = _topology(network, topology, False)
        rows = _rate_rows(t, block_s)
        rates = {name: r["analytic_key_rate_bps"] for name, r in rows.items()}
        sat_links = _satellite_rows(t, _parse_start(start))
        rates.update({r["name"]: r["mean_key_rate_bps"] for r in sat_links})
        routes: list[dict[str, Any]] = []
        for d in _plan_pairs(t, route):
            used = demand_route(t, d.src, d.dst, rates, d.multipath)
            single = key_aware_route(t, d.src, d.dst, rates)
            multi = disjoint_route(t, d.src, d.dst, rates)
            routes.append(
                {
                    "src": d.src,
                    "dst": d.dst,
                    "multipath": d.multipath,
                    "capacity_bps": used.capacity_bps,
                    "hops": single.hops,
                    "path": list(single.paths[0]),
                    "limiting_link": single.limiting_links[0],
                    "trusted_nodes": list(used.trusted_nodes),
                    "single_path_capacity_bps": single.capacity_bps,
                    "node_disjoint_paths": len(multi.paths),
                    "multipath_capacity_bps": multi.capacity_bps,
                }
            )
    links = [
        {"name": link.name, "length_km": link.length_km, **rows[link.name]}
        for link in t.links
        if link.name in rows
    ]
    if json_out:
        print_json(
            {"topology": t.name, "links": links, "satellite_links": sat_links, "routes": routes}
        )
        return
    render_plan(t, links, sat_links, routes, block_s)


def _satellite_rows(t: Topology, start_utc: datetime) -> list[dict[str, Any]]:
    """Each satellite link's key over one day from ``start_utc`` and its mean rate."""
    day = 86400.0
    rows = []
    for name, found in (_passes(t, start_utc, day) or {}).items():
        bits = sum(p.key_bits for p in found)
        link = t.link(name)
        rows.append(
            {
                "name": name,
                "kind": link.kind,
                "via": link.via or None,
                "windows_with_key": sum(p.key_bits > 0 for p in found),
                "day_key_bits": bits,
                "mean_key_rate_bps": bits / day,
            }
        )
    return rows


@app.command("map")
def map_(
    network: str = typer.Option("beijing-shanghai", *_NETWORK_FLAGS, help=_NETWORK_HELP),
    topology: Path = typer.Option(None, help="Or your own topology file."),
    with_: str = typer.Option(None, "--with", help="Add 'micius' ground stations."),
    out: Path = typer.Option(Path("map.png"), help="Output PNG file."),
    html_out: Path = typer.Option(None, "--html", help="Also write an offline HTML map."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration, seconds."),
) -> None:
    """Draw the links on real coordinates, coloured by modelled key rate."""
    with user_errors():
        check_out_path(out, "--out", suffix=".png")
        check_out_path(html_out, "--html")
        t = _topology(None if topology else network, topology, _with(with_))
        rows = _rate_rows(t, block_s)
        draw_png(t, rows, out)
        if html_out is not None:
            html_out.write_text(html_map(t, rows), encoding="utf-8")
    console.print(f"wrote {out}" + (f" and {html_out}" if html_out else ""))
