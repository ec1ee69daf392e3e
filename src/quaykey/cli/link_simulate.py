"""``quaykey link simulate``: sample one block of a link and report gains, QBERs and key rate."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from rich.table import Table

from quaykey.cli._common import (
    check_positive,
    check_seed,
    console,
    format_qber,
    link_params,
    print_json,
    user_errors,
)
from quaykey.physics.attacks import parse_attack
from quaykey.physics.keyrate import asymptotic_key_rate_estimate, estimate_secret_key_rate
from quaykey.physics.params import PRESETS, DecoySource, LinkParams
from quaykey.physics.pulse_classes import bb84_class_probabilities, bbm92_pattern_probabilities

if TYPE_CHECKING:  # the sampler (numba) is imported when the command runs, not for --help
    from quaykey.physics.sampler import LinkSample

# a guard against asking for more detections than memory holds (about 12 bytes each)
MAX_EXPECTED_DETECTIONS = 300_000_000


def build_params(
    preset: str,
    distance_km: float | None,
    loss_db: float | None,
    params: list[str] | None,
) -> LinkParams:
    """Preset at a distance or loss, with ``--param`` overrides; errors name the option."""
    return link_params(preset, distance_km, loss_db, params=params)


def _expected_detections(params: LinkParams, n_pulses: int) -> float:
    eta = params.channel.transmittance(0.0)
    if isinstance(params.source, DecoySource):
        p = bb84_class_probabilities(params, eta)
        return n_pulses * float(1.0 - p[..., -1].sum())
    q = bbm92_pattern_probabilities(params, eta)
    return n_pulses * float(1.0 - q[..., 0].sum())


def _clean(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(x)


def summarise(
    sample: LinkSample, params: LinkParams, wall_s: float, cpu_s: float, seed: int
) -> dict[str, Any]:
    """The JSON payload of ``link simulate``."""
    st = sample.stats
    expected: dict[str, Any] = {}
    try:
        from quaykey.physics.keyrate import expected_gains_and_qbers

        expected = {
            k: {"gain": g, "qber": e} for k, (g, e) in expected_gains_and_qbers(params).items()
        }
    except (ImportError, ValueError):  # the analytic model is optional here
        expected = {}
    return {
        "preset": params.name,
        "distance_km": params.distance_km,
        "channel_transmittance": st.mean_transmittance,
        "seed": seed,
        "attack": st.attack,
        "n_pulses": st.n_pulses,
        "duration_s": st.duration_s,
        "pulses": st.pulses,
        "detections": st.detections,
        "gain": {k: _clean(v) for k, v in st.gain.items()},
        "qber": {k: _clean(v) for k, v in st.qber.items()},
        "qber_x": {k: _clean(v) for k, v in st.qber_x.items()},
        "qber_z": {k: _clean(v) for k, v in st.qber_z.items()},
        "double_clicks": st.double_clicks,
        "alice_clicks": st.alice_clicks,
        "bob_clicks": st.bob_clicks,
        "expected": expected,
        "estimated_secret_key_rate_per_pulse": _clean(estimate_secret_key_rate(sample, params)),
        "asymptotic_key_rate_per_pulse": _clean(asymptotic_key_rate_estimate(sample, params)),
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "effective_pulses_per_s": st.n_pulses / wall_s if wall_s > 0 else None,
    }


def _table(payload: dict[str, Any]) -> Table:
    table = Table(
        title=(
            f"{payload['preset']}: {payload['n_pulses']:.3g} pulses, "
            f"channel transmittance {payload['channel_transmittance']:.3g}"
            + (f", eve {payload['attack']}" if payload["attack"] else "")
        )
    )
    for col in (
        "intensity",
        "clicks",
        "gain",
        "QBER",
        "model gain",
        "model QBER",
    ):
        table.add_column(col, justify="right", no_wrap=True)

    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    for name in payload["pulses"]:
        exp = payload["expected"].get(name)
        table.add_row(
            name,
            f"{payload['detections'][name]:,}",
            fmt(payload["gain"][name], ".3g"),
            format_qber(payload["qber"][name]),
            "-" if exp is None else f"{exp['gain']:.3g}",
            "-" if exp is None else format_qber(exp["qber"]),
        )
    return table


def simulate(
    preset: str = typer.Option("gys", "--preset", help=f"Link hardware: {', '.join(PRESETS)}."),
    distance_km: float | None = typer.Option(None, "--distance-km", help="Fibre length."),
    loss_db: float | None = typer.Option(
        None, "--loss-db", help="Free-space loss (micius-2017, micius-2021)."
    ),
    duration_s: float = typer.Option(1.0, "--duration-s", help="Block length in seconds."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same result)."),
    eve: str | None = typer.Option(
        None, "--eve", help="Attack, e.g. intercept-resend:0.3 or pns:1.0."
    ),
    param: list[str] | None = typer.Option(
        None, "--param", help="Override, e.g. detector.efficiency=0.2 (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Simulate one block of a link (fast sampler) and report gains, QBERs and key rate."""
    with user_errors():
        check_positive(duration_s, "--duration-s")
        check_seed(seed)
        params = build_params(preset, distance_km, loss_db, param)
        attack = parse_attack(eve) if eve is not None else None
        n_pulses = round(duration_s * params.source.repetition_rate_hz)
        expected = _expected_detections(params, n_pulses)
        if expected > MAX_EXPECTED_DETECTIONS:
            raise ValueError(
                f"--duration-s {duration_s:g} gives about {expected:.3g} detections, more than "
                f"{MAX_EXPECTED_DETECTIONS:.0e} fit in memory; simulate a shorter block"
            )
        if attack is not None and params.source.protocol().kind != "bb84-decoy":
            raise ValueError("--eve: attacks are modelled for decoy BB84 presets only")
        from quaykey.physics.sampler import simulate_link

        # load the compiled kernels first so that wall_s measures sampling only
        simulate_link(params, 1000, np.random.default_rng(0))
        rng = np.random.default_rng(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        sample = simulate_link(params, n_pulses, rng, attack=attack)
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        payload = summarise(sample, params, wall_s, cpu_s, seed)
    if as_json:
        print_json(payload)
        return
    console.print(_table(payload))
    rate = payload["estimated_secret_key_rate_per_pulse"]
    asym = payload["asymptotic_key_rate_per_pulse"]
    console.print(
        f"key rate, Lim 2014 finite key on this block: "
        f"{'-' if rate is None else format(rate, '.4g')} bits/pulse"
    )
    console.print(
        f"key rate, asymptotic GLLP from the observed counts: "
        f"{'-' if asym is None else format(asym, '.4g')} bits/pulse"
    )
    console.print(
        f"{payload['n_pulses']:.3g} pulses in {wall_s:.3f} s wall "
        f"({payload['effective_pulses_per_s']:.3g} effective pulses/s)"
    )
