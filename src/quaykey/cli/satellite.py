"""`quaykey satellite`: Micius satellite passes over ground stations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from quaykey.cli._common import console, print_json, user_errors
from quaykey.network.presets import load_satellite_preset
from quaykey.network.satellite import (
    LinkBudget,
    Pass,
    Satellite,
    find_passes,
    key_per_pass,
    pass_profile,
    station_from_entry,
)

app = typer.Typer(help="Micius satellite passes over ground stations.", no_args_is_help=True)


def _satellite(start: datetime) -> Satellite:
    sat = load_satellite_preset()["satellite"]
    best = min(
        sat["tle"],
        key=lambda e: abs(
            (datetime.fromisoformat(str(e["epoch"])).replace(tzinfo=UTC) - start).total_seconds()
        ),
    )
    return Satellite.from_tle(best["line1"], best["line2"], name=str(sat["name"]))


def _pass_dict(p: Pass) -> dict[str, Any]:
    return {
        "station": p.station,
        "rise_utc": p.rise_utc.isoformat(),
        "culmination_utc": p.culmination_utc.isoformat(),
        "set_utc": p.set_utc.isoformat(),
        "max_elevation_deg": p.max_elevation_deg,
        "min_range_km": p.min_range_km,
        "night": p.night,
        "qkd_duration_s": p.qkd_duration_s,
        "sifted_bits": p.sifted_bits,
        "qber": p.qber,
        "key_bits": p.key_bits,
    }


@app.command("passes")
def passes(
    station: str = typer.Option("xinglong", help="Ground station (micius preset)."),
    from_: str = typer.Option("2016-12-18", "--from", help="UTC start date or date-time."),
    days: float = typer.Option(3.0, help="Days to search."),
    min_elevation: float = typer.Option(10.0, help="QKD minimum elevation, degrees."),
    plot: Path = typer.Option(None, help="PNG of loss and key rate over the best pass."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List passes (rise, culmination, set, max elevation, night) with key per pass."""
    with user_errors():
        stations = load_satellite_preset()["stations"]
        if station not in stations:
            raise ValueError(
                f"--station must be one of {', '.join(sorted(stations))}, got {station!r}"
            )
        if not days > 0:
            raise ValueError(f"--days must be > 0, got {days!r}")
        try:
            start = datetime.fromisoformat(from_)
        except ValueError:
            raise ValueError(f"--from must be an ISO date, got {from_!r}") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        gs = station_from_entry(stations[station])
        sat = _satellite(start)
        budget = LinkBudget.calibrated()
        from dataclasses import replace

        budget = replace(budget, receiver_aperture_m=gs.receiver_aperture_m)
        found = find_passes(
            sat, gs, start, start + timedelta(days=days), min_elevation_deg=min_elevation
        )
        found = [key_per_pass(sat, gs, p, budget) for p in found]
        if plot is not None:
            _plot(sat, gs, found, budget, plot)
    if json_out:
        print_json(
            {
                "station": station,
                "from_utc": start.isoformat(),
                "days": days,
                "min_elevation_deg": min_elevation,
                "passes": [_pass_dict(p) for p in found],
            }
        )
        return
    table = Table(title=f"Micius passes over {station} from {start:%Y-%m-%d} ({days:g} days)")
    for col in ("rise UTC", "culm. UTC", "set UTC", "max el", "min range km", "night", "key bits"):
        table.add_column(col)
    for p in found:
        table.add_row(
            f"{p.rise_utc:%m-%d %H:%M:%S}",
            f"{p.culmination_utc:%H:%M:%S}",
            f"{p.set_utc:%H:%M:%S}",
            f"{p.max_elevation_deg:.1f}",
            f"{p.min_range_km:.0f}",
            "yes" if p.night else "no",
            f"{p.key_bits:,}",
        )
    console.print(table)
    if plot is not None:
        console.print(f"wrote {plot}")


def _plot(sat: Satellite, gs: Any, found: list[Pass], budget: LinkBudget, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = max(found, key=lambda p: (p.key_bits, p.max_elevation_deg), default=None)
    if best is None or best.qkd_start_utc is None:
        raise ValueError("no pass reaches the minimum elevation: nothing to plot")
    prof = pass_profile(sat, gs, best, budget)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    a1.plot(prof.t_s, prof.loss_db, color="tab:red")
    a1.set_ylabel("link loss (dB)")
    a1b = a1.twinx()
    a1b.plot(prof.t_s, prof.elevation_deg, color="tab:gray", ls="--")
    a1b.set_ylabel("elevation (deg)")
    a2.semilogy(prof.t_s, prof.sifted_rate_bps, label="sifted detections")
    a2.semilogy(prof.t_s, prof.asymptotic_key_rate_bps, label="secret key (asymptotic)")
    a2.set_xlabel(f"seconds after {best.qkd_start_utc:%Y-%m-%d %H:%M:%S} UTC")
    a2.set_ylabel("rate (bit/s)")
    a2.legend()
    a2.grid(alpha=0.3)
    a1.set_title(
        f"Micius over {gs.name}: max elevation {best.max_elevation_deg:.1f} deg, "
        f"{'night' if best.night else 'day'}, pass key {best.key_bits:,} bits"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
