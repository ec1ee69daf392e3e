"""`quaykey link keyrate` and `quaykey link plot`: analytic key rates of one link."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from quaykey.cli._common import (
    check_out_path,
    check_seed,
    console,
    format_qber,
    link_params,
    print_json,
    progress,
    user_errors,
)
from quaykey.physics.keyrate import (
    KEYRATE_MODELS,
    KeyRateResult,
    cutoff_distance_km,
    expected_gains_and_qbers,
    key_rate,
    key_rate_curve,
    observed_vacuum_weak_rate,
    plob_bound,
    tgw_bound,
)
from quaykey.physics.params import DecoySource, FibreChannel, LinkParams

__all__ = ["keyrate", "plot"]

_MODEL_HELP = "Key-rate model: " + ", ".join(KEYRATE_MODELS) + "."
_MC_POINTS = 8  # Monte-Carlo points on the plot


def _build_params(
    preset: str,
    distance_km: float | None,
    loss_db: float | None,
    config: Path | None,
    params: list[str],
) -> LinkParams:
    return link_params(preset, distance_km, loss_db, config=config, params=params)


def _check_model(model: str, block_bits: float | None) -> None:
    if model not in KEYRATE_MODELS:
        raise ValueError(f"--model must be one of {', '.join(KEYRATE_MODELS)}, got {model!r}")
    if KEYRATE_MODELS[model].needs_block_bits and block_bits is None:
        raise ValueError(
            f"--block-bits is required with --model {model} (block size n_X, e.g. 1e6)"
        )
    if block_bits is not None and not (math.isfinite(block_bits) and block_bits >= 10):
        raise ValueError(f"--block-bits must be a number >= 10, got {block_bits!r}")


def _table(result: KeyRateResult, link: LinkParams) -> Table:
    table = Table(title=f"{link.name}: {result.model} key rate", show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("model", result.model),
        ("distance (km)", f"{result.distance_km:g}"),
        ("channel transmittance", f"{result.channel_transmittance:.4g}"),
        ("secret key rate (bits/pulse)", f"{result.secret_key_rate_per_pulse:.4g}"),
        ("secret key rate (bit/s)", f"{result.secret_key_rate_bps:.4g}"),
        ("optimal signal intensity", f"{result.optimal_signal_intensity:.4g}"),
        ("QBER", format_qber(result.qber)),
        ("gain (detections/pulse)", f"{result.gain:.4g}"),
        ("PLOB bound (bits/pulse)", f"{result.plob_bound_per_pulse:.4g}"),
        ("TGW bound (bits/pulse)", f"{result.tgw_bound_per_pulse:.4g}"),
    ]
    if result.block_bits is not None:
        rows.append(("block size n_X (bits)", f"{result.block_bits:g}"))
    for name, value in result.optimal_parameters.items():
        rows.append((f"optimal {name}", f"{value:.4g}"))
    for row in rows:
        table.add_row(*row)
    return table


def keyrate(
    preset: str = typer.Option(
        "gys",
        "--preset",
        help="Link hardware preset: gys, lim2014, micius-2017, micius-2021, backbone.",
    ),
    distance_km: float | None = typer.Option(None, "--distance-km", help="Fibre length in km."),
    loss_db: float | None = typer.Option(
        None, "--loss-db", help="Channel loss (free-space presets)."
    ),
    model: str = typer.Option("asymptotic", "--model", help=_MODEL_HELP),
    block_bits: float | None = typer.Option(
        None, "--block-bits", help="Block size n_X for --model finite (e.g. 1e6)."
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Override a parameter, e.g. detector.efficiency=0.2 (repeatable)."
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML file of parameter overrides."),
    no_optimise: bool = typer.Option(
        False, "--no-optimise", help="Use the preset's source settings instead of optimising."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (keys carry units)."),
) -> None:
    """Secret-key rate of one link, with PLOB and TGW bounds."""
    with user_errors():
        _check_model(model, block_bits)
        link = _build_params(preset, distance_km, loss_db, config, param)
        result = key_rate(
            link,
            model,
            block_bits=block_bits if KEYRATE_MODELS[model].needs_block_bits else None,
            optimise=not no_optimise,
        )
    if as_json:
        payload = {"preset": preset, **result.to_dict()}
        payload["repetition_rate_hz"] = link.source.repetition_rate_hz
        print_json(payload)
    else:
        console.print(_table(result, link))


def _title(link: LinkParams) -> str:
    det = link.detector
    parts = []
    if isinstance(link.channel, FibreChannel):
        parts.append(f"{link.channel.attenuation_db_per_km:g} dB/km")
        if link.channel.fixed_loss_db:
            parts.append(f"+{link.channel.fixed_loss_db:g} dB fixed")
    parts.append(f"η_det={det.efficiency:g}")
    parts.append(f"p_dark={det.dark_count_probability:.2g}/detector")
    parts.append(f"e_d={det.misalignment_error:g}")
    if det.afterpulse_probability:
        parts.append(f"p_ap={det.afterpulse_probability:g}")
    parts.append(f"f_EC={link.security.error_correction_efficiency:g}")
    return f"Secret key rate vs fibre length, preset '{link.name}'\n" + ", ".join(parts)


def _monte_carlo_points(
    link: LinkParams,
    distances_km: list[float],
    seed: int,
    target_detections: float,
    advance: Callable[[float], None] = lambda _: None,
) -> tuple[list[float], list[float], str | None]:
    """Vacuum + weak estimates from sampled blocks; empty when no sampler is available."""
    try:
        from quaykey.physics.sampler import simulate_link
    except ImportError:
        return [], [], "Monte-Carlo points left out: quaykey.physics.sampler is not available"
    assert isinstance(link.source, DecoySource)
    if link.source.intensities[2] != 0.0:
        return [], [], "Monte-Carlo points left out: the preset has no vacuum decoy"
    rng = np.random.default_rng(seed)
    xs: list[float] = []
    ys: list[float] = []
    for d in distances_km:
        here = link.with_distance(d)
        expected_gain = expected_gains_and_qbers(here)[link.source.names[0]][0]
        n_pulses = int(min(max(target_detections / max(expected_gain, 1e-30), 1e6), 2e11))
        stats = simulate_link(here, n_pulses, rng).stats
        rate = observed_vacuum_weak_rate(here, stats.gain, stats.qber)
        if rate > 0:
            xs.append(d)
            ys.append(rate)
        advance(1)
    return xs, ys, None


def _draw_models(
    link: LinkParams,
    block_sizes: tuple[float, ...],
    draw: Callable[..., None],
) -> None:
    """One curve per key-rate model (and per finite block size)."""
    qx = link.source.basis_probability_x
    draw(
        "asymptotic",
        f"GLLP, infinite decoys (q={qx * qx + (1 - qx) ** 2:g})",
        {"color": "tab:blue", "lw": 2.2},
    )
    assert isinstance(link.source, DecoySource)
    nu = link.source.intensities[1]
    draw(
        "vacuum-weak",
        f"vacuum + weak decoy ν={nu:g} (Ma 2005)",
        {"color": "tab:green", "lw": 1.8, "ls": "-."},
    )
    draw(
        "three-intensity",
        f"3 intensities, asymptotic, q_x→1 (μ3={link.source.intensities[2]:g})",
        {"color": "tab:red", "lw": 2.0},
    )
    shades = ["#f4a582", "#d6604d", "#b2182b", "#67001f", "#3f0010"]
    for i, n in enumerate(sorted(block_sizes)):
        draw(
            "finite",
            f"finite key n_X=1e{math.log10(n):.0f} (Lim 2014)"
            if math.log10(n).is_integer()
            else f"finite key n_X={n:.3g} (Lim 2014)",
            {"color": shades[i % len(shades)], "lw": 1.4, "ls": "--"},
            block=n,
        )
    draw(
        "bbm92",
        "BBM92, SPDC source mid-link (Ma-Fung-Lo 2007)",
        {"color": "tab:purple", "lw": 1.4, "ls": (0, (3, 1, 1, 1))},
    )


def _draw_monte_carlo(
    ax: Any,
    link: LinkParams,
    reach_km: float,
    seed: int,
    advance: Callable[[float], None],
) -> str | None:
    """Sampler points against the vacuum+weak estimate; returns a note when none were drawn."""
    mc_d = [float(d) for d in np.linspace(5.0, max(reach_km, 10.0), _MC_POINTS)]
    xs, ys, note = _monte_carlo_points(link, mc_d, seed, 1e6, advance)
    if note or not xs:
        return note
    assert isinstance(link.source, DecoySource)
    mu, nu0 = link.source.intensities[0], link.source.intensities[1]
    ax.plot(
        xs,
        ys,
        "o",
        color="tab:green",
        mfc="white",
        mew=1.8,
        ms=7,
        label=f"Monte-Carlo sampler → vacuum+weak estimate (μ={mu:g}, ν={nu0:g}, "
        "≈1e6 clicks/point)",
    )
    return None


def _finish_axes(fig: Any, ax: Any, max_distance_km: float, title: str, bounded: bool) -> None:
    """Log axis, labels, legend and the caption explaining the conventions."""
    ax.set_yscale("log")
    ax.set_xlim(0.0, max_distance_km)
    ax.set_ylim(1e-8, 10.0 if bounded else 1.0)
    ax.set_xlabel("Fibre length (km)")
    ax.set_ylabel("Secret key rate (bits per pulse)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.text(
        0.5,
        0.01,
        "Rates per pulse sent, source settings optimised at each length. GLLP curves sift "
        "both bases (q = q_x² + (1−q_x)²);\nthe 3-intensity and finite-key curves keep the "
        "key basis only, with q_x optimised. PLOB and TGW use the fibre transmittance\n"
        "alone (detector efficiency excluded). BBM92 rates are per pair-generation attempt.",
        ha="center",
        va="bottom",
        fontsize=7.5,
        color="0.3",
    )
    fig.tight_layout(rect=(0.0, 0.06, 1.0, 1.0))


def _render_plot(
    link: LinkParams,
    out: Path,
    *,
    max_distance_km: float,
    block_sizes: tuple[float, ...],
    monte_carlo: bool,
    seed: int,
    title: str,
    advance: Callable[[float], None] = lambda _: None,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes: list[str] = []
    distances = [float(d) for d in np.linspace(0.0, max_distance_km, 33)]
    fig, ax = plt.subplots(figsize=(9.5, 8.5), dpi=120)

    fine = [float(d) for d in np.linspace(0.2, max_distance_km, 200)]
    plob = [plob_bound(link.with_distance(d).channel.transmittance()) for d in fine]
    tgw = [tgw_bound(link.with_distance(d).channel.transmittance()) for d in fine]
    ax.plot(fine, tgw, color="0.55", ls=":", lw=1.6, label="TGW bound (channel only)")
    ax.plot(fine, plob, color="black", ls="--", lw=1.6, label="PLOB bound (channel only)")

    cutoffs: dict[str, float] = {}

    def draw(model: str, label: str, style: dict[str, Any], block: float | None = None) -> None:
        curve = key_rate_curve(link, model, distances, block_bits=block)
        xs = [r.distance_km for r in curve if r.secret_key_rate_per_pulse > 0]
        ys = [r.secret_key_rate_per_pulse for r in curve if r.secret_key_rate_per_pulse > 0]
        cut = cutoff_distance_km(link, model, block_bits=block, max_distance_km=1000.0)
        cutoffs[model if block is None else f"{model}-{block:g}"] = cut
        ax.plot(xs, ys, label=f"{label}; cutoff {cut:.0f} km", **style)
        advance(1)

    _draw_models(link, block_sizes, draw)
    if monte_carlo:
        reach = min(0.95 * cutoffs["vacuum-weak"], max_distance_km)
        note = _draw_monte_carlo(ax, link, reach, seed, advance)
        if note:
            notes.append(note)
    finite_rates = [p for p in plob if math.isfinite(p)]
    _finish_axes(fig, ax, max_distance_km, title, bool(finite_rates))
    fig.savefig(out)
    plt.close(fig)
    advance(1)
    return notes


def plot(
    preset: str = typer.Option("gys", "--preset", help="Fibre preset: gys, lim2014, backbone."),
    out: Path = typer.Option(Path("keyrate.png"), "--out", help="PNG file to write."),
    max_distance_km: float = typer.Option(
        200.0, "--max-distance-km", help="Right end of the x axis."
    ),
    block_bits: list[float] = typer.Option(
        [], "--block-bits", help="Finite-key block sizes n_X (repeatable; default 1e4 1e6 1e8)."
    ),
    param: list[str] = typer.Option([], "--param", help="Override a parameter (repeatable)."),
    config: Path | None = typer.Option(None, "--config", help="YAML file of parameter overrides."),
    monte_carlo: bool = typer.Option(
        True, "--mc/--no-mc", help="Add Monte-Carlo points from the link sampler."
    ),
    seed: int = typer.Option(1, "--seed", help="Seed of the Monte-Carlo points."),
) -> None:
    """Plot key rate per pulse against distance for every model, with PLOB and TGW."""
    with user_errors():
        if not (math.isfinite(max_distance_km) and 10.0 <= max_distance_km <= 1000.0):
            raise ValueError(f"--max-distance-km must be in [10, 1000], got {max_distance_km!r}")
        for b in block_bits:
            if not (math.isfinite(b) and b >= 10):
                raise ValueError(f"--block-bits must be numbers >= 10, got {b!r}")
        check_out_path(out, "--out", suffix=".png")
        check_seed(seed)
        link = _build_params(preset, None, None, config, param)
        if not isinstance(link.channel, FibreChannel):
            raise ValueError(f"--preset {preset!r} is not a fibre link; plot needs distances")
        if not isinstance(link.source, DecoySource) or len(link.source.intensities) != 3:
            raise ValueError("plot needs a decoy source with three intensities")
        sizes = tuple(block_bits) or (1e4, 1e6, 1e8)
        steps = 5 + len(sizes) + (_MC_POINTS if monte_carlo else 0) + 1
        with progress("plotting key rates", steps, unit="steps") as advance:
            notes = _render_plot(
                link,
                out,
                max_distance_km=max_distance_km,
                block_sizes=sizes,
                monte_carlo=monte_carlo,
                seed=seed,
                title=_title(link),
                advance=advance,
            )
    console.print(f"wrote {out}")
    for note in notes:
        console.print(note)
