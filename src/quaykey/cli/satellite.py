"""`quaykey satellite`: Micius satellite passes over ground stations."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quaykey.cli._common import console, err_console, format_qber, print_json, user_errors
from quaykey.network.downlink import DOWNLINKS, Downlink, downlink_for
from quaykey.network.dual_downlink import (
    YIN2020_DOWNLINK,
    YIN2020_LINK,
    YIN2020_STATIONS,
    DualWindow,
    dual_profile,
    find_dual_windows,
    summarise,
)
from quaykey.network.orbit import (
    GroundStation,
    Satellite,
    closest_epoch,
    parse_tle_text,
    satellites_from_entry,
    station_from_entry,
)
from quaykey.network.passes import Pass, find_passes, key_per_pass, pass_profile, within_range
from quaykey.network.presets import load_satellite_preset
from quaykey.physics.params import LinkParams, load_preset

app = typer.Typer(help="Micius satellite passes over ground stations.", no_args_is_help=True)

#: Warn when the element set is this far from the requested dates (SGP4 errors grow by
#: kilometres per day away from the epoch).
TLE_WARN_DAYS = 30.0
#: Cost of one searched day (pass search plus the key of its night passes): 200 days took
#: 27 s on one loaded core of the development machine. Used only to refuse long runs.
SECONDS_PER_DAY_ESTIMATE = 0.12
#: Runs estimated above this need --force; runs above MAX_DAYS are refused outright.
MAX_ESTIMATED_S = 300.0
MAX_DAYS = 36525.0
#: Show a progress bar when the estimate exceeds this.
PROGRESS_ABOVE_S = 3.0
_CHUNK_DAYS = 10.0


def _satellites(tle: Path | None) -> list[Satellite]:
    if tle is None:
        return satellites_from_entry(load_satellite_preset()["satellite"])
    try:
        text = tle.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"--tle: cannot read {str(tle)!r}: {reason}") from None
    try:
        return parse_tle_text(text, default_name=tle.stem)
    except ValueError as exc:
        raise ValueError(f"--tle: {tle}: {exc}") from None


def _warn_epoch(sat: Satellite, start: datetime, end: datetime) -> None:
    epoch = sat.epoch_utc
    gap_days = max(abs((epoch - start).total_seconds()), abs((epoch - end).total_seconds()))
    gap_days /= 86400.0
    if gap_days > TLE_WARN_DAYS:
        err_console.print(
            f"[yellow]warning:[/] the TLE epoch {epoch:%Y-%m-%d} is {gap_days:,.0f} days from "
            f"the requested dates (more than {TLE_WARN_DAYS:g}): predicted passes are unreliable",
            soft_wrap=True,
        )


def _check_days(days: float, force: bool) -> float:
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"--days must be a number > 0, got {days!r}")
    if days > MAX_DAYS:
        raise ValueError(f"--days must be at most {MAX_DAYS:g} (100 years), got {days:g}")
    estimate_s = days * SECONDS_PER_DAY_ESTIMATE
    if estimate_s > MAX_ESTIMATED_S and not force:
        raise ValueError(
            f"--days {days:g} would take about {estimate_s / 60:.0f} min "
            f"(limit {MAX_ESTIMATED_S / 60:.0f} min); use fewer --days or add --force"
        )
    return estimate_s


def _search(
    sat: Satellite,
    gs: GroundStation,
    start: datetime,
    days: float,
    min_elevation: float,
    key: Callable[[Pass], Pass],
    advance: Callable[[float], None],
) -> list[Pass]:
    """Passes with their key, in chunks of days so that memory stays bounded."""
    found: list[Pass] = []
    end = start + timedelta(days=days)
    t = start
    while t < end:
        # Chunks overlap by an hour so that a pass cut by a chunk edge is found whole once.
        t_next = min(end, t + timedelta(days=_CHUNK_DAYS))
        stop = min(end, t_next + timedelta(hours=1))
        for p in find_passes(sat, gs, t, stop, min_elevation_deg=min_elevation):
            if p.rise_utc < t_next and p.qkd_start_utc is not None:
                p = key(p)
                if p.qkd_start_utc is not None:
                    found.append(p)
        advance((t_next - t).total_seconds() / 86400.0)
        t = t_next
    return found


def _pass_dict(p: Pass) -> dict[str, Any]:
    return {
        "station": p.station,
        "rise_utc": p.rise_utc.isoformat(),
        "culmination_utc": p.culmination_utc.isoformat(),
        "set_utc": p.set_utc.isoformat(),
        "max_elevation_deg": p.max_elevation_deg,
        "min_range_km": p.min_range_km,
        "night": p.night,
        "qkd_start_utc": p.qkd_start_utc.isoformat() if p.qkd_start_utc else None,
        "qkd_end_utc": p.qkd_end_utc.isoformat() if p.qkd_end_utc else None,
        "qkd_duration_s": p.qkd_duration_s,
        "sifted_bits": p.sifted_bits,
        "qber": p.qber,
        "key_bits": p.key_bits,
    }


def _parse_from(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--from must be an ISO date or date-time, got {text!r}") from None
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@app.command("passes")
def passes(
    station: str = typer.Option("xinglong", help="Ground station (of the micius network)."),
    from_: str = typer.Option("2016-12-18", "--from", help="UTC start date or date-time."),
    days: float = typer.Option(3.0, help="Days to search."),
    min_elevation: float = typer.Option(10.0, help="QKD minimum elevation, degrees (0-90)."),
    max_range_km: float = typer.Option(
        None, help="Run QKD only within this slant range (Liao et al. 2017: 1200)."
    ),
    tle: Path = typer.Option(None, help="Two- or three-line element file (default: packaged)."),
    preset: str = typer.Option(
        "micius-2017", help="Link hardware preset: micius-2017 (Liao 2017) or micius-2021."
    ),
    force: bool = typer.Option(False, help="Run even when --days would take long."),
    plot: Path = typer.Option(None, help="PNG of loss and key rate over the best pass."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    with_station: str = typer.Option(
        None,
        "--with-station",
        help="Second ground station: shared windows with entangled pairs to both at once "
        "(BBM92, Yin et al. 2020 budget; --preset and --max-range-km do not apply).",
    ),
) -> None:
    """List passes that reach --min-elevation (rise, culmination, set, night) with their key."""
    with user_errors():
        stations = load_satellite_preset()["stations"]
        for opt, name in (("--station", station), ("--with-station", with_station)):
            if name is not None and name not in stations:
                raise ValueError(
                    f"{opt} must be one of {', '.join(sorted(stations))}, got {name!r}"
                )
        if with_station is not None:
            if plot is not None or max_range_km is not None:
                raise ValueError("--plot and --max-range-km do not apply with --with-station")
            _dual(station, with_station, stations, from_, days, min_elevation, tle, force, json_out)
            return
        if preset not in DOWNLINKS:
            raise ValueError(f"--preset must be one of {', '.join(DOWNLINKS)}, got {preset!r}")
        if not (math.isfinite(min_elevation) and 0.0 <= min_elevation <= 90.0):
            raise ValueError(f"--min-elevation must be in [0, 90] degrees, got {min_elevation!r}")
        if max_range_km is not None and not (math.isfinite(max_range_km) and max_range_km > 0):
            raise ValueError(f"--max-range-km must be a number > 0, got {max_range_km!r}")
        estimate_s = _check_days(days, force)
        start = _parse_from(from_)
        gs = station_from_entry(stations[station])
        sat = closest_epoch(_satellites(tle), start)
        _warn_epoch(sat, start, start + timedelta(days=days))
        params = load_preset(preset)
        downlink = downlink_for(preset)

        def key(p: Pass) -> Pass:
            if max_range_km is not None:
                p = within_range(sat, gs, p, max_range_km)
            return key_per_pass(sat, gs, p, params, downlink)

        if estimate_s > PROGRESS_ABOVE_S:
            with Progress(
                TextColumn("[bold]searching passes[/]"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} days"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("passes", total=days)
                found = _search(
                    sat, gs, start, days, min_elevation, key, lambda d: bar.advance(task, d)
                )
        else:
            found = _search(sat, gs, start, days, min_elevation, key, lambda d: None)
        if plot is not None:
            _plot(sat, gs, found, params, downlink, plot)
    if json_out:
        print_json(
            {
                "station": station,
                "preset": preset,
                "tle_epoch_utc": sat.epoch_utc.isoformat(),
                "from_utc": start.isoformat(),
                "days": days,
                "min_elevation_deg": min_elevation,
                "max_range_km": max_range_km,
                "passes": [_pass_dict(p) for p in found],
            }
        )
        return
    _table(found, station, start, days, preset)
    if plot is not None:
        console.print(f"wrote {plot}")


def _table(found: list[Pass], station: str, start: datetime, days: float, preset: str) -> None:
    table = Table(
        title=f"Micius passes over {station} from {start:%Y-%m-%d} ({days:g} days, {preset})"
    )
    for col in (
        "rise UTC",
        "culm. UTC",
        "set UTC",
        "max el",
        "min range km",
        "night",
        "sifted bits",
        "QBER",
        "key bits",
    ):
        table.add_column(col)
    for p in found:
        table.add_row(
            f"{p.rise_utc:%Y-%m-%d %H:%M:%S}",
            f"{p.culmination_utc:%H:%M:%S}",
            f"{p.set_utc:%H:%M:%S}",
            f"{p.max_elevation_deg:.1f}",
            f"{p.min_range_km:.0f}",
            "yes" if p.night else "no",
            f"{p.sifted_bits:,.0f}",
            format_qber(p.qber) if p.sifted_bits else "-",
            f"{p.key_bits:,}",
        )
    console.print(table)


def _plot(
    sat: Satellite,
    gs: GroundStation,
    found: list[Pass],
    params: LinkParams,
    downlink: Downlink,
    out: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = max(found, key=lambda p: (p.key_bits, p.max_elevation_deg), default=None)
    if best is None or best.qkd_start_utc is None:
        raise ValueError("--plot: no pass reaches the minimum elevation, nothing to plot")
    prof = pass_profile(sat, gs, best, params, downlink)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    a1.plot(prof.t_s, prof.loss_db, color="tab:red")
    a1.set_ylabel("loss to the detectors (dB)")
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


def _dual_station(name: str, stations: dict[str, Any]) -> GroundStation:
    """The paper's coordinates and telescope for Yin et al.'s two stations, else the preset's."""
    return YIN2020_STATIONS.get(name) or station_from_entry(stations[name])


def _dual_window_dict(sat: Satellite, a: GroundStation, b: GroundStation, w: DualWindow) -> dict:
    out: dict[str, Any] = {
        "start_utc": w.start_utc.isoformat(),
        "end_utc": w.end_utc.isoformat(),
        "duration_s": w.duration_s,
        "max_elevation_deg": [w.max_elevation_a_deg, w.max_elevation_b_deg],
        "range_sum_km": [w.min_range_sum_km, w.max_range_sum_km],
        "night": w.night,
    }
    prof = dual_profile(sat, a, b, w)
    s = summarise([prof], YIN2020_LINK)
    out.update(
        coincidences=s.coincidences,
        coincidence_rate_hz=s.coincidence_rate_hz,
        signal_to_noise=s.signal_to_noise,
        sifted_bits=s.sifted_bits,
        qber=s.qber,
        mean_link_loss_db=s.mean_link_loss_db,
        asymptotic_key_bits=s.asymptotic_key_bits if w.night else 0.0,
        finite_key_bits=s.finite_key_bits if w.night else 0.0,
    )
    every = slice(None, None, 10)  # the 1 s profile, every 10 s
    out["profile"] = {
        "t_s": prof.t_s[every].tolist(),
        "elevation_deg": [
            prof.elevation_a_deg[every].tolist(),
            prof.elevation_b_deg[every].tolist(),
        ],
        "range_km": [prof.range_a_km[every].tolist(), prof.range_b_km[every].tolist()],
        "loss_db": [prof.loss_a_db[every].tolist(), prof.loss_b_db[every].tolist()],
        "coincidence_rate_hz": prof.coincidence_rate_hz[every].tolist(),
        "qber": prof.counts.qber[every].tolist(),
        "asymptotic_key_rate_bps": prof.asymptotic_key_rate_bps[every].tolist(),
    }
    return out


def _dual(
    station: str,
    with_station: str,
    stations: dict[str, Any],
    from_: str,
    days: float,
    min_elevation: float,
    tle: Path | None,
    force: bool,
    json_out: bool,
) -> None:
    """Shared windows of two stations with the two-photon (BBM92) key of each."""
    if with_station == station:
        raise ValueError("--with-station must differ from --station")
    if not (math.isfinite(min_elevation) and 0.0 <= min_elevation <= 90.0):
        raise ValueError(f"--min-elevation must be in [0, 90] degrees, got {min_elevation!r}")
    _check_days(days, force)
    start = _parse_from(from_)
    a, b = _dual_station(station, stations), _dual_station(with_station, stations)
    sat = closest_epoch(_satellites(tle), start)
    _warn_epoch(sat, start, start + timedelta(days=days))
    found = find_dual_windows(sat, a, b, start, start + timedelta(days=days), min_elevation)
    rows = [_dual_window_dict(sat, a, b, w) for w in found]
    if json_out:
        link, dl = YIN2020_LINK, YIN2020_DOWNLINK
        print_json(
            {
                "station": station,
                "with_station": with_station,
                "protocol": "bbm92",
                "trusted_nodes": [],
                "tle_epoch_utc": sat.epoch_utc.isoformat(),
                "from_utc": start.isoformat(),
                "days": days,
                "min_elevation_deg": min_elevation,
                "link": {
                    "pair_rate_hz": link.pair_rate_hz,
                    "coincidence_window_s": link.coincidence_window_s,
                    "detector_efficiency": link.detector_efficiency,
                    "noise_hz": [link.noise_a_hz, link.noise_b_hz],
                    "visibility": link.visibility,
                    "ec_inefficiency": link.ec_inefficiency,
                    "epsilon": link.epsilon,
                    "receiver_aperture_m": [a.receiver_aperture_m, b.receiver_aperture_m],
                    "divergence_urad": dl.divergence_urad,
                },
                "windows": rows,
            }
        )
        return
    table = Table(
        title=f"Entangled pairs from Micius to {station} and {with_station} "
        f"from {start:%Y-%m-%d} ({days:g} days, BBM92, no trusted node)"
    )
    for col in (
        "start UTC",
        "s",
        "max el",
        "night",
        "coinc. Hz",
        "QBER",
        "key asym.",
        "key finite",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["start_utc"][:19].replace("T", " "),
            f"{r['duration_s']:.0f}",
            " / ".join(f"{e:.0f}" for e in r["max_elevation_deg"]),
            "yes" if r["night"] else "no",
            f"{r['coincidence_rate_hz']:.2f}",
            format_qber(r["qber"]),
            f"{r['asymptotic_key_bits']:,.0f}",
            f"{r['finite_key_bits']:,.0f}",
        )
    console.print(table)
