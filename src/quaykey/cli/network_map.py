"""Maps of a topology for ``quaykey network map``: a PNG (matplotlib) and an offline HTML page.

Links are coloured by their modelled secret key rate
(:func:`quaykey.network.links.link_model`); nodes by kind. The HTML page is one
self-contained SVG (no scripts, no external resources) with a tooltip per link and node.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quaykey.cli._common import format_qber
from quaykey.network.topology import Topology

__all__ = ["draw_png", "html_map"]

_MARKERS = {
    "trusted": ("o", "#333333", 18),
    "user": ("s", "#d62728", 60),
    "ground-station": ("^", "#1f77b4", 90),
}


@dataclass
class _Style:
    pos: dict[str, tuple[float, float]]
    rows: dict[str, dict[str, Any]]
    cmap: Any
    norm: Any
    fibre: set[str]


def _projected(t: Topology) -> dict[str, tuple[float, float]]:
    fibre = {e for link in t.links if link.kind == "fibre" for e in (link.a, link.b)}
    ground = [n for n in t.nodes if n.name in fibre]
    lat0 = sum(n.lat_deg for n in ground) / len(ground)
    k = math.cos(math.radians(lat0))
    return {n.name: (n.lon_deg * k, n.lat_deg) for n in ground}


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


def _draw_axis(
    axis: Any,
    t: Topology,
    style: _Style,
    box: tuple[float, float, float, float],
    labels: dict[str, str],
) -> None:
    """Links coloured by rate, nodes by kind and the labels, inside ``box`` (lon/lat)."""
    pos, rows, cmap, norm, fibre_nodes = style.pos, style.rows, style.cmap, style.norm, style.fibre
    from matplotlib.collections import LineCollection

    markers = _MARKERS
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
        m, c, size = markers.get(n.kind, ("o", "k", 20))
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


def _colourbar(fig: Any, style: _Style, box: tuple[float, float, float, float], label: str) -> None:
    import matplotlib.pyplot as plt

    sm = plt.cm.ScalarMappable(norm=style.norm, cmap=style.cmap)
    cb = fig.colorbar(sm, cax=fig.add_axes(box), orientation="horizontal")
    cb.set_label(label)


def _png_generic(fig: Any, t: Topology, style: _Style) -> None:
    """Any topology: one axis around the fibre nodes."""
    ax = fig.add_axes((0.08, 0.2, 0.84, 0.72))
    xs = [style.pos[n][0] for n in style.fibre]
    ys = [style.pos[n][1] for n in style.fibre]
    mx = max(0.05, 0.12 * (max(xs) - min(xs)))
    my = max(0.05, 0.12 * (max(ys) - min(ys)))
    box = (min(xs) - mx, max(xs) + mx, min(ys) - my, max(ys) + my)
    _draw_axis(ax, t, style, box, {n: "r" for n in sorted(style.fibre)})
    ax.set_title(f"{t.name}: links coloured by modelled secret key rate", fontsize=11)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.2f}°E")
    ax.yaxis.set_major_formatter(lambda y, _: f"{y:.2f}°N")
    _colourbar(fig, style, (0.2, 0.09, 0.6, 0.025), "secret key rate, bit/s (finite key)")


_MAIN_LABELS = {
    "beijing": "l", "customs-hq-beijing": "d", "tianjin": "r", "jinan": "r", "xuzhou": "r",
    "bengbu": "r", "hefei": "l", "nanjing": "u", "suzhou": "u", "shanghai": "r",
    "ningbo": "r", "xinglong": "r", "miyun": "u",
}  # fmt: skip
_INSET_LABELS = {
    "shanghai": "ds", "sh-pudong": "rs", "sh-minhang": "ls", "sh-lingang": "rs",
    "sh-jinshan": "ls", "jx-haiyan": "ls", "nb-cixi": "ls", "ningbo": "ls",
    "shanghai-customs": "l", "sipg-ops": "u", "waigaoqiao-terminal": "r",
    "yangshan-terminal": "r", "bonded-warehouse": "r", "ningbo-zhoushan-port": "r",
}  # fmt: skip


def _png_preset(fig: Any, t: Topology, style: _Style) -> None:
    """The beijing-shanghai preset: the trunk, and an inset of Shanghai and Ningbo."""
    main = fig.add_axes((0.04, 0.05, 0.46, 0.88))
    inset = fig.add_axes((0.54, 0.36, 0.43, 0.57))
    _draw_axis(main, t, style, (114.8, 123.2, 29.4, 41.0), _MAIN_LABELS)
    main.set_title(f"{t.name}: fibre links coloured by modelled secret key rate", fontsize=11)
    main.indicate_inset_zoom(inset, edgecolor="#888")
    main.xaxis.set_major_formatter(lambda x, _: f"{x:.0f}°E")
    main.yaxis.set_major_formatter(lambda y, _: f"{y:.0f}°N")
    _draw_axis(inset, t, style, (120.75, 122.45, 29.75, 31.45), _INSET_LABELS)
    inset.set_title("Shanghai metro, Hangzhou Bay extension, Ningbo-Zhoushan", fontsize=10)
    inset.set_xticks([120.8, 121.2, 121.6, 122.0, 122.4])
    inset.xaxis.set_major_formatter(lambda x, _: f"{x:.1f}°E")
    inset.yaxis.set_major_formatter(lambda y, _: f"{y:.1f}°N")
    _colourbar(
        fig, style, (0.57, 0.27, 0.38, 0.018), "secret key rate, bit/s (finite key, 600 s blocks)"
    )
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


def draw_png(t: Topology, rows: dict[str, dict[str, Any]], out: Path) -> None:
    """Write a PNG map of ``t`` with links coloured by ``rows[link]["analytic_key_rate_bps"]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors

    pos = {n.name: (n.lon_deg, n.lat_deg) for n in t.nodes if n.kind != "satellite"}
    fibre = {e for link in t.links if link.kind == "fibre" for e in (link.a, link.b)}
    rates = [max(r["analytic_key_rate_bps"], 1.0) for r in rows.values()]
    norm = colors.LogNorm(vmin=min(rates), vmax=max(rates))
    style = _Style(pos, rows, plt.get_cmap("viridis"), norm, fibre)
    preset_layout = {"beijing", "shanghai", "sh-pudong"} <= set(pos)
    fig = plt.figure(figsize=(14, 10.5) if preset_layout else (11, 9))
    (_png_preset if preset_layout else _png_generic)(fig, t, style)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def html_map(t: Topology, rows: dict[str, dict[str, Any]]) -> str:
    """A self-contained HTML page (one SVG, no scripts) of ``t``, links coloured by rate."""
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
                f"{r['analytic_key_rate_bps']:.4g} bit/s, QBER {format_qber(r['analytic_qber'])}"
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
