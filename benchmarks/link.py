"""Link sampler speed: the fast sampler's cost grows with detections, not pulses.

Run: ``.venv/bin/python benchmarks/link.py`` (``--quick`` for a short run).

Prints three tables:

1. the fast sampler (``simulate_link``) on the gys preset at 50 km for 10^8 .. 10^11 pulses
   and at 150 km for 10^8 .. 10^12 pulses: CPU seconds (``time.process_time``, this process
   only), wall seconds, nanoseconds per detection and effective pulses per CPU-second;
2. a straightforward per-pulse numpy sampler (every pulse's intensity, bases, bit, photon
   numbers per detector and dark counts drawn as arrays, in chunks of 10^6) at 10^6 and 10^7
   pulses, with its cost per pulse;
3. the speed-up of the fast sampler over the per-pulse one at 50 km, 10^9 pulses (the
   per-pulse time extrapolated linearly from its measured cost per pulse).

Timings are CPU time of this process; on a shared machine other jobs still slow it through
caches and memory bandwidth, so the script also prints the load average.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

from quaykey.physics.params import LinkParams, load_preset
from quaykey.physics.sampler import simulate_link


def per_pulse_numpy(params: LinkParams, n_pulses: int, rng: np.random.Generator) -> int:
    """Per-pulse sampler: materialise every pulse in chunks; returns Bob's click count."""
    src = params.source
    det = params.detector
    mu = np.array(src.intensities)  # type: ignore[union-attr]
    probs = np.array(src.probabilities)  # type: ignore[union-attr]
    eta = params.channel.transmittance() * det.efficiency
    clicks = 0
    chunk = 1_000_000
    for start in range(0, n_pulses, chunk):
        m = min(chunk, n_pulses - start)
        k = rng.choice(mu.size, size=m, p=probs)
        a = rng.random(m) >= src.basis_probability_x
        b = rng.random(m) >= src.basis_probability_x
        bit = rng.integers(0, 2, m)
        lam = mu[k] * eta
        r_right = np.where(a == b, 1.0 - det.misalignment_error, 0.5)
        n_right = rng.poisson(lam * r_right)
        n_wrong = rng.poisson(lam * (1.0 - r_right))
        dark = rng.random((m, 2)) < det.dark_count_probability
        fire_right = (n_right > 0) | dark[:, 0]
        fire_wrong = (n_wrong > 0) | dark[:, 1]
        click = fire_right | fire_wrong
        bob_bit = np.where(fire_right, bit, 1 - bit)
        double = fire_right & fire_wrong
        bob_bit[double] = rng.integers(0, 2, int(double.sum()))
        slots = np.flatnonzero(click) + start
        clicks += int(slots.size)
        _ = (bob_bit[click], a[click], b[click], k[click])
    return clicks


def _time(fn, repeats: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    best_cpu, best_wall, out = math.inf, math.inf, None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes only")
    args = parser.parse_args()

    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"# load average (1, 5, 15 min) at start: {os.getloadavg()}")
    print(f"# numpy {np.__version__}")
    # warm the numba kernels (compiled once, cached on disk)
    simulate_link(load_preset("gys", 50), 10**6, np.random.default_rng(0))

    runs = [(50.0, 10**8), (50.0, 10**9), (50.0, 10**10), (50.0, 2 * 10**10), (50.0, 10**11)]
    runs += [(150.0, 10**e) for e in (8, 9, 10, 11, 12)]
    if args.quick:
        runs = [(50.0, 10**8), (50.0, 10**9), (150.0, 10**10), (150.0, 10**11)]

    print("\n## fast sampler (simulate_link), gys preset")
    print(
        "| distance km | pulses | detections | CPU s | wall s | ns per detection "
        "| effective pulses per CPU-s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    fast_at_50_1e9 = None
    for distance, n in runs:
        params = load_preset("gys", distance)
        repeats = 3 if n <= 10**9 else 1
        cpu, wall, sample = _time(
            lambda p=params, n=n: simulate_link(p, n, np.random.default_rng(1)), repeats
        )
        det = sample.stats.total_detections  # type: ignore[attr-defined]
        print(
            f"| {distance:g} | {n:.0e} | {det:,} | {cpu:.3f} | {wall:.3f} | "
            f"{cpu / max(det, 1) * 1e9:.0f} | {n / cpu:.2e} |"
        )
        if distance == 50.0 and n == 10**9:
            fast_at_50_1e9 = cpu

    print("\n## per-pulse numpy sampler, gys 50 km")
    print("| pulses | detections | CPU s | wall s | ns per pulse | pulses per CPU-s |")
    print("|---:|---:|---:|---:|---:|---:|")
    params = load_preset("gys", 50)
    per_pulse_cost = None
    for n in (10**6, 10**7):
        cpu, wall, clicks = _time(
            lambda n=n: per_pulse_numpy(params, n, np.random.default_rng(2)), 1
        )
        per_pulse_cost = cpu / n
        print(
            f"| {n:.0e} | {clicks:,} | {cpu:.3f} | {wall:.3f} | "
            f"{cpu / n * 1e9:.1f} | {n / cpu:.2e} |"
        )

    if fast_at_50_1e9 is not None and per_pulse_cost is not None:
        extrapolated = per_pulse_cost * 1e9
        print(
            f"\n## speed-up at 50 km, 10^9 pulses: per-pulse (extrapolated from 10^7) "
            f"{extrapolated:.1f} CPU s vs fast {fast_at_50_1e9:.3f} CPU s "
            f"= {extrapolated / fast_at_50_1e9:,.0f}x"
        )
    print(f"\n# load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
