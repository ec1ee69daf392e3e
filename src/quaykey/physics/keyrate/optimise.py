"""Optimisers of the source settings: a bounded scalar maximiser and Nelder-Mead searches.

The ``finite`` model searches ``x = [q_x, p_mu1, s, mu1, t]`` with
``p_mu2 = s (1 - p_mu1)`` and ``mu2 = mu3 + t (mu1 - 2 mu3)`` (``mu3`` fixed, as in Lim et al.
2014), so that every point inside the box is a valid three-intensity source; the
``three-intensity`` model searches ``[mu1, t]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from quaykey.physics.keyrate.gains import decoy_source, system_transmittance
from quaykey.physics.keyrate.rates import finite_rate, three_intensity_rate
from quaykey.physics.params import DecoySource, LinkParams

__all__ = [
    "FINITE_EXTRA_STARTS",
    "MU_MAX",
    "finite_bounds",
    "finite_start",
    "finite_unpack",
    "maximise_scalar",
    "optimise_finite",
    "optimise_three_intensity",
]

MU_MAX = 1.5  # largest signal intensity any optimiser may try


def maximise_scalar(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Bounded maximiser of a smooth unimodal function on [lo, hi] (grid + Brent)."""
    grid = np.geomspace(lo, hi, 24)
    values = [f(float(x)) for x in grid]
    i = int(np.argmax(values))
    a = grid[max(i - 1, 0)]
    b = grid[min(i + 1, grid.size - 1)]
    if b <= a:
        return float(grid[i])
    res = optimize.minimize_scalar(
        lambda x: -f(x), bounds=(a, b), method="bounded", options={"xatol": 1e-5 * b}
    )
    best = float(res.x) if -float(res.fun) >= values[i] else float(grid[i])
    return best


# finite model: x = [q_x, p_mu1, s, mu1, t], p_mu2 = s (1 - p_mu1), mu2 = mu3 + t (mu1 - 2 mu3)
def finite_unpack(
    x: NDArray[np.float64], mu3: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    qx, p1, s, mu1, t = (float(v) for v in x)
    p = np.array([p1, s * (1.0 - p1), (1.0 - s) * (1.0 - p1)])
    mu2 = mu3 + t * (mu1 - 2.0 * mu3)
    return qx, p, np.array([mu1, mu2, mu3])


def finite_bounds(mu3: float) -> list[tuple[float, float]]:
    return [
        (0.01, 0.9999),
        (0.01, 0.999),
        (0.01, 0.99),
        (max(3.0 * mu3, 0.02), 1.2),
        (0.01, 0.95),
    ]


def finite_start(source: DecoySource) -> NDArray[np.float64]:
    mu1, mu2, mu3 = source.intensities
    p1, p2, _ = source.probabilities
    t = (mu2 - mu3) / max(mu1 - 2.0 * mu3, 1e-12)
    x0 = np.array(
        [source.basis_probability_x, p1, p2 / max(1.0 - p1, 1e-12), mu1, t], dtype=np.float64
    )
    lo, hi = np.array(finite_bounds(mu3)).T
    return np.clip(x0, lo, hi)


# Starting points that cover small blocks (balanced bases, many decoys) and large ones.
FINITE_EXTRA_STARTS = [
    np.array([0.5, 0.08, 0.5, 0.48, 0.2]),
    np.array([0.75, 0.3, 0.6, 0.45, 0.4]),
]


def optimise_finite(
    params: LinkParams,
    block_bits: float,
    starts: list[NDArray[np.float64]],
    *,
    first_is_warm: bool = False,
) -> NDArray[np.float64]:
    """Nelder-Mead from each start; a warm start that already gives key is trusted alone."""
    source = decoy_source(params)
    mu3 = source.intensities[2]
    scale = max(system_transmittance(params), 1e-300)
    bounds = finite_bounds(mu3)

    def objective(x: NDArray[np.float64]) -> float:
        qx, p, mu = finite_unpack(x, mu3)
        try:
            rate = finite_rate(params, block_bits, qx, p, mu)[0]
        except ValueError:
            return 1e3
        return -rate / scale

    best_x, best_f = starts[0], objective(starts[0])
    for x0 in starts:
        res = optimize.minimize(
            objective,
            x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-3, "fatol": 1e-6, "maxfev": 1500, "adaptive": True},
        )
        if res.fun < best_f:
            best_x, best_f = np.asarray(res.x), float(res.fun)
        if first_is_warm and best_f < 0.0:
            break
    return best_x


def optimise_three_intensity(params: LinkParams, start: NDArray[np.float64]) -> NDArray[np.float64]:
    """Nelder-Mead over ``[mu1, t]`` of the asymptotic three-intensity rate."""
    source = decoy_source(params)
    mu3 = source.intensities[2]
    scale = max(system_transmittance(params), 1e-300)
    bounds = [(max(3.0 * mu3, 0.02), 1.2), (0.005, 0.95)]

    def objective(x: NDArray[np.float64]) -> float:
        mu1, t = float(x[0]), float(x[1])
        mu = [mu1, mu3 + t * (mu1 - 2.0 * mu3), mu3]
        return -three_intensity_rate(params, mu)[0] / scale

    res = optimize.minimize(
        objective,
        start,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-5, "fatol": 1e-9, "maxfev": 800},
    )
    return np.asarray(res.x)
