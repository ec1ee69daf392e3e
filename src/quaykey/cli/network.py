"""`quaykey network`: simulate, plan and map the trusted-relay network."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quaykey.cli._common import console, err_console, print_json, user_errors
from quaykey.network.engine import NetworkSimulation, SimulationConfig, parse_cut, parse_eve
from quaykey.network.link import analytic_link_summary
from quaykey.network.orbit import Satellite
from quaykey.network.passes import passes_for_topology
from quaykey.network.presets import (
    PRESET_NAMES,
    load_preset_topology,
    load_satellite_preset,
    load_topology_file,
)
from quaykey.network.routing import disjoint_route, key_aware_route
from quaykey.network.topology import Topology

app = typer.Typer(help="Simulate and plan the trusted-relay network.", no_args_is_help=True)


def _topology(preset: str | None, topology: Path | None, with_micius: bool) -> Topology:
    if preset and topology:
        raise ValueError("give --preset or --topology, not both")
    if topology is not None:
        if with_micius:
            raise ValueError("--with micius applies to the beijing-shanghai preset only")
        return load_topology_file(topology)
    name = preset or "beijing-shanghai"
    if name not in PRESET_NAMES:
        raise ValueError(f"--preset must be one of {', '.join(PRESET_NAMES)}, got {name!r}")
    return load_preset_topology(name, with_micius=with_micius)


def _with(value: str | None) -> bool:
    if value is None:
        return False
    if value != "micius":
        raise ValueError(f"--with must be 'micius', got {value!r}")
    return True


def _satellite_for(start: datetime) -> Satellite:
    sat = load_satellite_preset()["satellite"]
    # The TLE whose epoch is closest to the start of the run.
    best = min(
        sat["tle"],
        key=lambda e: abs(
            (datetime.fromisoformat(str(e["epoch"])).replace(tzinfo=UTC) - start).total_seconds()
        ),
    )
    return Satellite.from_tle(best["line1"], best["line2"], name=str(sat["name"]))


def _parse_start(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start must be an ISO date or date-time, got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _rate_rows(t: Topology, block_s: float) -> dict[str, dict[str, Any]]:
    rows = {}
    for link in t.links:
        if link.kind == "fibre":
            rows[link.name] = analytic_link_summary(link.params(), block_s)
    return rows


@app.command("simulate")
def simulate(
    preset: str = typer.Option(None, help="Preset topology (beijing-shanghai)."),
    topology: Path = typer.Option(None, help="Your own topology YAML file."),
    with_: str = typer.Option(None, "--with", help="Add 'micius' (satellite and stations)."),
    hours: float = typer.Option(24.0, help="Simulated hours."),
    fidelity: str = typer.Option("statistical", help="statistical (counts) or exact (bits)."),
    cut: list[str] = typer.Option([], help="Cut a fibre: LINK@HOUR (repeatable)."),
    eve: list[str] = typer.Option([], help="Eavesdropper: LINK:intercept-resend:0.3@HOUR."),
    block_s: float = typer.Option(600.0, help="Block duration of fibre links, seconds."),
    seed: int = typer.Option(1, help="Seed of all randomness."),
    start: str = typer.Option("2016-12-19T12:00:00", help="UTC time of simulation start."),
    realtime: float = typer.Option(None, help="Run in scaled real time: sim seconds per s."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Simulate the network for some hours and report links, routes and faults."""
    with user_errors():
        if fidelity not in ("statistical", "exact"):
            raise ValueError(f"--fidelity must be statistical or exact, got {fidelity!r}")
        if not (math.isfinite(hours) and hours > 0):
            raise ValueError(f"--hours must be > 0, got {hours!r}")
        t = _topology(preset, topology, _with(with_))
        faults = tuple(parse_cut(c) for c in cut) + tuple(parse_eve(e) for e in eve)
        cfg = SimulationConfig(
            duration_s=hours * 3600.0,
            fidelity=fidelity,  # type: ignore[arg-type]
            block_duration_s=block_s,
            seed=seed,
            faults=faults,
            start_utc=_parse_start(start),
            realtime_factor=realtime,
        )
        passes = None
        free = [link for link in t.links if link.kind == "free-space"]
        if free:
            stations = load_satellite_preset()["stations"]
            passes = passes_for_topology(
                free, stations, _satellite_for(cfg.start_utc), cfg.start_utc, cfg.duration_s
            )
        sim = NetworkSimulation(t, cfg, passes)
        if json_out:
            report = sim.run()
        else:
            with Progress(
                TextColumn("[bold]simulating[/]"),
                BarColumn(),
                TextColumn("{task.completed:.1f}/{task.total:.0f} h"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("sim", total=hours)
                report = sim.run(lambda s: bar.update(task, completed=s / 3600.0))
    out = report.to_dict()
    if json_out:
        print_json(out)
        return
    table = Table(title=f"links ({t.name}, {hours:g} h, {fidelity})")
    for col in ("link", "km", "loss dB", "key rate bps", "PLOB bps", "QBER", "pool bits", "status"):
        table.add_column(col, justify="right" if col not in ("link", "status") else "left")
    for row in out["links"]:
        table.add_row(
            row["name"],
            f"{row['length_km']:.1f}",
            "-" if row["loss_db"] is None else f"{row['loss_db']:.1f}",
            f"{row['secret_key_rate_bps']:.4g}",
            f"{row['plob_bound_bps']:.3g}" if "plob_bound_bps" in row else "-",
            "-" if row["qber"] is None else f"{row['qber']:.4f}",
            f"{row['pool_bits']:.4g}",
            row["status"],
        )
    console.print(table)
    rt = Table(title="routes")
    for col in ("src", "dst", "capacity bps", "hops", "limiting", "delivered bits", "failed"):
        rt.add_column(col)
    for r in out["routes"]:
        rt.add_row(
            r["src"],
            r["dst"],
            f"{r['capacity_bps']:.4g}",
            str(r["hops"]),
            ", ".join(r["limiting_links"]),
            str(r["delivered_bits"]),
            str(r["failed_requests"] + r["no_route_requests"]),
        )
    console.print(rt)
    for f in out["faults"]:
        console.print(f"[bold]{f['kind']}[/] {f['link']} at {f['at_hour']:g} h:")
        for r in f["routes"]:
            console.print(
                f"  {r['src']} -> {r['dst']}: {r['capacity_before_bps']:.4g} -> "
                f"{r['capacity_after_bps']:.4g} bps (lost {r['capacity_lost_bps']:.4g})"
            )
    console.print(
        f"simulated {out['simulated_s'] / 3600:g} h in {out['wall_s']:.1f} s "
        f"(real-time factor {out['realtime_factor']:.3g})"
    )


@app.command("plan")
def plan(
    topology: Path = typer.Option(None, help="Topology YAML file."),
    preset: str = typer.Option(None, help="Or a preset topology."),
    route: list[str] = typer.Option([], help="SRC:DST to plan (default: all user pairs)."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration, seconds."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Model key rates of every link and the capacity and limiting link of each route."""
    with user_errors():
        if topology is None and preset is None:
            raise ValueError("give --topology FILE or --preset NAME")
        t = _topology(preset, topology, False)
        rows = _rate_rows(t, block_s)
        rates = {name: r["analytic_key_rate_bps"] for name, r in rows.items()}
        pairs: list[tuple[str, str]] = []
        for item in route:
            src, sep, dst = item.partition(":")
            if not sep:
                raise ValueError(f"--route must be SRC:DST, got {item!r}")
            pairs.append((src, dst))
        if not pairs:
            users = [n.name for n in t.nodes if n.kind == "user"]
            pairs = [(a, b) for i, a in enumerate(users) for b in users[i + 1 :]]
        routes: list[dict[str, Any]] = []
        for src, dst in pairs:
            single = key_aware_route(t, src, dst, rates)
            multi = disjoint_route(t, src, dst, rates)
            routes.append(
                {
                    "src": src,
                    "dst": dst,
                    "capacity_bps": single.capacity_bps,
                    "hops": single.hops,
                    "path": list(single.paths[0]),
                    "limiting_link": single.limiting_links[0],
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
        print_json({"topology": t.name, "links": links, "routes": routes})
        return
    table = Table(title=f"links of {t.name} (model, {block_s:g} s blocks)")
    for col in ("link", "km", "loss dB", "key rate bps", "QBER", "PLOB bps"):
        table.add_column(col)
    for row in links:
        table.add_row(
            row["name"],
            f"{row['length_km']:.1f}",
            f"{row['loss_db']:.1f}",
            f"{row['analytic_key_rate_bps']:.4g}",
            f"{row['analytic_qber']:.4f}",
            f"{row['plob_bound_bps']:.3g}",
        )
    console.print(table)
    rt = Table(title="routes")
    for col in ("src", "dst", "capacity bps", "hops", "limiting link", "disjoint paths"):
        rt.add_column(col)
    for r in routes:
        rt.add_row(
            r["src"],
            r["dst"],
            f"{r['capacity_bps']:.4g}",
            str(r["hops"]),
            r["limiting_link"],
            str(r["node_disjoint_paths"]),
        )
    console.print(rt)


def _projected(t: Topology) -> dict[str, tuple[float, float]]:
    fibre = {e for link in t.links if link.kind == "fibre" for e in (link.a, link.b)}
    ground = [n for n in t.nodes if n.name in fibre]
    lat0 = sum(n.lat_deg for n in ground) / len(ground)
    k = math.cos(math.radians(lat0))
    return {n.name: (n.lon_deg * k, n.lat_deg) for n in ground}


@app.command("map")
def map_(
    preset: str = typer.Option("beijing-shanghai", help="Preset topology."),
    topology: Path = typer.Option(None, help="Or your own topology file."),
    with_: str = typer.Option(None, "--with", help="Add 'micius' ground stations."),
    out: Path = typer.Option(Path("map.png"), help="Output PNG file."),
    html_out: Path = typer.Option(None, "--html", help="Also write an offline HTML map."),
    block_s: float = typer.Option(600.0, help="Finite-key block duration, seconds."),
) -> None:
    """Draw the links on real coordinates, coloured by modelled key rate."""
    with user_errors():
        t = _topology(None if topology else preset, topology, _with(with_))
        rows = _rate_rows(t, block_s)
        _draw_png(t, rows, out)
        if html_out is not None:
            html_out.write_text(_html_map(t, rows), encoding="utf-8")
    console.print(f"wrote {out}" + (f" and {html_out}" if html_out else ""))


_SHORT = {
    "customs-hq-beijing": "Customs HQ",
    "shanghai-customs": "Shanghai Customs",
    "sipg-ops": "SIPG ops centre",
    "waigaoqiao-terminal": "Waigaoqiao",
    "yangshan-terminal": "Yangshan",
    "bonded-warehouse": "Bonded warehouse",
    "ningbo-zhoushan-port": "Ningbo-Zhoushan port",
}


def _short(t: Topology, name: str) -> str:
    if name in _SHORT:
        return _SHORT[name]
    label = t.node(name).label or name
    if " metro (" in label:
        return label.split(" metro (")[1].rstrip(")")
    return label.split(" (")[0].split(",")[0].replace(" ground station", "")


def _draw_png(t: Topology, rows: dict[str, dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors
    from matplotlib.collections import LineCollection

    pos = {n.name: (n.lon_deg, n.lat_deg) for n in t.nodes if n.kind != "satellite"}
    fibre_nodes = {e for link in t.links if link.kind == "fibre" for e in (link.a, link.b)}
    rates = [max(r["analytic_key_rate_bps"], 1.0) for r in rows.values()]
    norm = colors.LogNorm(vmin=min(rates), vmax=max(rates))
    cmap = plt.get_cmap("viridis")
    style = {
        "trusted": ("o", "#333333", 18),
        "user": ("s", "#d62728", 60),
        "ground-station": ("^", "#1f77b4", 90),
    }
    preset_layout = {"beijing", "shanghai", "sh-pudong"} <= set(pos)
    fig = plt.figure(figsize=(14, 10.5) if preset_layout else (11, 9))

    def draw(axis: Any, box: tuple[float, float, float, float], labels: dict[str, str]) -> None:
        x0, x1, y0, y1 = box
        k = math.cos(math.radians((y0 + y1) / 2))
        segs, cols = [], []
        for link in t.links:
            if link.name in rows and link.a in pos and link.b in pos:
                segs.append([pos[link.a], pos[link.b]])
                cols.append(cmap(norm(max(rows[link.name]["analytic_key_rate_bps"], 1.0))))
        axis.add_collection(LineCollection(segs, colors=cols, linewidths=3.5, zorder=1))
        for n in t.nodes:
            if n.name not in pos or n.name not in fibre_nodes:
                continue
            m, c, size = style.get(n.kind, ("o", "k", 20))
            axis.scatter(*pos[n.name], marker=m, color=c, s=size, zorder=2, edgecolors="white")
        for name, where in labels.items():
            if name in pos:
                dx, dy = {"l": (-6, 0), "r": (6, 0), "u": (0, 7), "d": (0, -12)}[where[0]]
                ha = {"l": "right", "r": "left"}.get(where[0], "center")
                axis.annotate(
                    _short(t, name),
                    pos[name],
                    xytext=(dx, dy),
                    textcoords="offset points",
                    fontsize=9 if len(where) == 1 else 8,
                    ha=ha,
                    va="center",
                    zorder=3,
                    color="#222" if t.node(name).kind != "trusted" else "#555",
                )
        axis.set_xlim(x0, x1)
        axis.set_ylim(y0, y1)
        axis.set_aspect(1.0 / k)
        axis.grid(alpha=0.25)

    if not preset_layout:
        ax = fig.add_axes((0.08, 0.2, 0.84, 0.72))
        xs = [pos[n][0] for n in fibre_nodes]
        ys = [pos[n][1] for n in fibre_nodes]
        mx = max(0.05, 0.12 * (max(xs) - min(xs)))
        my = max(0.05, 0.12 * (max(ys) - min(ys)))
        draw(
            ax,
            (min(xs) - mx, max(xs) + mx, min(ys) - my, max(ys) + my),
            {n: "r" for n in sorted(fibre_nodes)},
        )
        ax.set_title(f"{t.name}: links coloured by modelled secret key rate", fontsize=11)
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:.2f}°E")
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:.2f}°N")
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, cax=fig.add_axes((0.2, 0.09, 0.6, 0.025)), orientation="horizontal")
        cb.set_label("secret key rate, bit/s (finite key)")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return
    main = fig.add_axes((0.04, 0.05, 0.46, 0.88))
    inset = fig.add_axes((0.54, 0.36, 0.43, 0.57))
    main_labels = {
        "beijing": "l",
        "customs-hq-beijing": "d",
        "tianjin": "r",
        "jinan": "r",
        "xuzhou": "r",
        "bengbu": "r",
        "hefei": "l",
        "nanjing": "u",
        "suzhou": "u",
        "shanghai": "r",
        "ningbo": "r",
        "xinglong": "r",
        "miyun": "u",
    }
    draw(main, (114.8, 123.2, 29.4, 41.0), main_labels)
    main.set_title(f"{t.name}: fibre links coloured by modelled secret key rate", fontsize=11)
    main.indicate_inset_zoom(inset, edgecolor="#888")
    main.xaxis.set_major_formatter(lambda x, _: f"{x:.0f}°E")
    main.yaxis.set_major_formatter(lambda y, _: f"{y:.0f}°N")
    inset_labels = {
        "shanghai": "ds",
        "sh-pudong": "rs",
        "sh-minhang": "ls",
        "sh-lingang": "rs",
        "sh-jinshan": "ls",
        "jx-haiyan": "ls",
        "nb-cixi": "ls",
        "ningbo": "ls",
        "shanghai-customs": "l",
        "sipg-ops": "u",
        "waigaoqiao-terminal": "r",
        "yangshan-terminal": "r",
        "bonded-warehouse": "r",
        "ningbo-zhoushan-port": "r",
    }
    draw(inset, (120.75, 122.45, 29.75, 31.45), inset_labels)
    inset.set_title("Shanghai metro, Hangzhou Bay extension, Ningbo-Zhoushan", fontsize=10)
    inset.set_xticks([120.8, 121.2, 121.6, 122.0, 122.4])
    inset.xaxis.set_major_formatter(lambda x, _: f"{x:.1f}°E")
    inset.yaxis.set_major_formatter(lambda y, _: f"{y:.1f}°N")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cax = fig.add_axes((0.57, 0.27, 0.38, 0.018))
    cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
    cb.set_label("secret key rate, bit/s (finite key, 600 s blocks)")
    stations = [n for n in t.nodes if n.kind == "ground-station"]
    note = (
        "circles: trusted relays    squares: port and customs users\n"
        "Trusted-node sites are not public: city centres and corridor\n"
        "midpoints are used (provenance in the preset file)."
    )
    if stations:
        note += (
            "\ntriangles: Micius ground stations ("
            + ", ".join(_short(t, n.name) for n in stations)
            + ";\nonly Xinglong is fibre-connected, the others are off this map)"
        )
    fig.text(0.55, 0.2, note, fontsize=9.5, va="top")
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _html_map(t: Topology, rows: dict[str, dict[str, Any]]) -> str:
    pos = _projected(t)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    w, h, pad = 900.0, 1000.0, 30.0
    sx = (w - 2 * pad) / (max(xs) - min(xs))
    sy = (h - 2 * pad) / (max(ys) - min(ys))
    s = min(sx, sy)

    def xy(name: str) -> tuple[float, float]:
        x, y = pos[name]
        return pad + (x - min(xs)) * s, h - pad - (y - min(ys)) * s

    rates = [max(r["analytic_key_rate_bps"], 1.0) for r in rows.values()]
    lo, hi = math.log10(min(rates)), math.log10(max(rates))

    def colour(rate: float) -> str:
        f = 0.0 if hi == lo else (math.log10(max(rate, 1.0)) - lo) / (hi - lo)
        # blue (low) -> yellow (high)
        r, g, b = int(40 + 215 * f), int(60 + 170 * f), int(160 - 130 * f)
        return f"rgb({r},{g},{b})"

    parts = []
    for link in t.links:
        if link.name in rows and link.a in pos and link.b in pos:
            (x1, y1), (x2, y2) = xy(link.a), xy(link.b)
            r = rows[link.name]
            tip = (
                f"{link.name}: {link.length_km:.1f} km, {r['loss_db']:.1f} dB, "
                f"{r['analytic_key_rate_bps']:.4g} bit/s, QBER {r['analytic_qber']:.4f}"
            )
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="{colour(r["analytic_key_rate_bps"])}" stroke-width="4">'
                f"<title>{html.escape(tip)}</title></line>"
            )
    for n in t.nodes:
        if n.name in pos:
            x, y = xy(n.name)
            fill = {"user": "#d62728", "ground-station": "#1f77b4"}.get(n.kind, "#444")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if n.kind != "trusted" else 3}" '
                f'fill="{fill}"><title>{html.escape(n.label or n.name)} ({n.kind}; '
                f"{n.lat_deg:.3f}N {n.lon_deg:.3f}E){html.escape(' - ' + n.note if n.note else '')}"
                "</title></circle>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(t.name)} key-rate map</title></head><body "
        "style='font-family:sans-serif'>"
        f"<h1>{html.escape(t.name)}</h1><p>Links coloured by modelled secret key rate, "
        f"from {10**lo:.3g} bit/s (blue) to {10**hi:.3g} bit/s (yellow). Hover for details. "
        "Works offline: no scripts, no external resources.</p>"
        f"<svg width='{w:.0f}' height='{h:.0f}' style='background:#f8f8f4'>"
        + "".join(parts)
        + "</svg></body></html>"
    )
