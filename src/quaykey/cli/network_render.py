"""Tables of `quaykey network simulate` and `quaykey network plan` (rich)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from quaykey.cli._common import console, format_qber
from quaykey.network.topology import Topology

__all__ = ["render_plan", "render_simulation"]


def render_simulation(out: dict[str, Any], name: str, hours: float, fidelity: str) -> None:
    """Links, routes (with the nodes that held each route's key), faults of a run."""
    table = Table(title=f"links ({name}, {hours:g} h, {fidelity})")
    for col in ("link", "km", "loss dB", "key rate bps", "PLOB bps", "QBER", "pool bits", "status"):
        table.add_column(col, justify="right" if col not in ("link", "status") else "left")
    for row in out["links"]:
        table.add_row(
            row["name"],
            f"{row['length_km']:.1f}",
            "-" if row["loss_db"] is None else f"{row['loss_db']:.1f}",
            f"{row['secret_key_rate_bps']:.4g}",
            "-" if row["plob_bound_bps"] is None else f"{row['plob_bound_bps']:.3g}",
            format_qber(row["qber"]),
            f"{row['pool_bits']:.4g}",
            row["status"],
        )
    console.print(table)
    rt = Table(title="routes (capacity: sum over the paths used of each path's bottleneck)")
    for col in (
        "src",
        "dst",
        "capacity bps",
        "hops",
        "limiting",
        "trusted nodes",
        "delivered bits",
    ):
        rt.add_column(col)
    rt.add_column("failed")
    for r in out["routes"]:
        rt.add_row(
            r["src"],
            r["dst"],
            f"{r['capacity_bps']:.4g}",
            str(r["hops"]),
            ", ".join(r["limiting_links"]),
            _trusted_cell(r["trusted_nodes"]),
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
    if "kme_feed" in out:
        k = out["kme_feed"]
        console.print(
            f"KMEs: {k['deposited_blocks']} blocks ({k['deposited_bytes']} bytes) deposited, "
            f"{k['skipped_blocks']} skipped"
        )
    console.print(
        f"simulated {out['simulated_s'] / 3600:g} h in {out['wall_s']:.1f} s "
        f"(real-time factor {out['realtime_factor']:.3g})"
    )


def _trusted_cell(nodes: list[str]) -> str:
    """The nodes that held a route's key, or that none did (an end-to-end entangled link)."""
    if not nodes:
        return "none (end to end)"
    if len(nodes) <= 3:
        return ", ".join(nodes)
    return f"{len(nodes)}: {nodes[0]} ... {nodes[-1]}"  # --json lists them all


def render_plan(
    t: Topology,
    links: list[dict[str, Any]],
    sat_links: list[dict[str, Any]],
    routes: list[dict[str, Any]],
    block_s: float,
) -> None:
    """Modelled links, satellite links' day of key, and routes with their trusted nodes."""
    table = Table(title=f"links of {t.name} (model, {block_s:g} s blocks)")
    for col in ("link", "km", "loss dB", "key rate bps", "QBER", "PLOB bps"):
        table.add_column(col)
    for row in links:
        table.add_row(
            row["name"],
            f"{row['length_km']:.1f}",
            f"{row['loss_db']:.1f}",
            f"{row['analytic_key_rate_bps']:.4g}",
            format_qber(row["analytic_qber"]),
            f"{row['plob_bound_bps']:.3g}",
        )
    console.print(table)
    if sat_links:
        st = Table(title="satellite links (key over one day)")
        for col in ("link", "kind", "windows with key", "key bits", "mean bps"):
            st.add_column(col)
        for s in sat_links:
            st.add_row(
                s["name"],
                s["kind"] + (f" via {s['via']}" if s["via"] else ""),
                str(s["windows_with_key"]),
                str(s["day_key_bits"]),
                f"{s['mean_key_rate_bps']:.4g}",
            )
        console.print(st)
    rt = Table(title="routes (capacity: sum over the paths used of each path's bottleneck)")
    for col in ("src", "dst", "capacity bps", "multipath", "hops", "limiting link", "paths"):
        rt.add_column(col)
    rt.add_column("trusted nodes")
    for r in routes:
        rt.add_row(
            r["src"],
            r["dst"],
            f"{r['capacity_bps']:.4g}",
            "yes" if r["multipath"] else "no",
            str(r["hops"]),
            r["limiting_link"],
            str(r["node_disjoint_paths"]),
            _trusted_cell(r["trusted_nodes"]),
        )
    console.print(rt)
