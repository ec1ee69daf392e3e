"""Key rates over fibre length: the rate curve and the cutoff distance of a model."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.keyrate.models import KeyRateModel, keyrate_model
from quaykey.physics.keyrate.result import KeyRateResult
from quaykey.physics.params import FibreChannel, LinkParams

__all__ = ["cutoff_distance_km", "key_rate_curve"]


def key_rate_curve(
    params: LinkParams,
    model: str | KeyRateModel,
    distances_km: Sequence[float],
    *,
    block_bits: float | None = None,
) -> list[KeyRateResult]:
    """Optimised key rates over fibre lengths (each optimum warm-starts the next).

    Parameters
    ----------
    params
        A fibre link; its length is replaced by each distance.
    model, block_bits
        As in :func:`key_rate`.
    distances_km
        Fibre lengths, each >= 0.

    Returns
    -------
    list of KeyRateResult
        One per distance, in the given order.

    Raises
    ------
    ValueError
        As :func:`key_rate`, and for a free-space channel or a negative distance.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> curve = key_rate_curve(load_preset("gys"), "asymptotic", [0, 50, 100])
    >>> [r.distance_km for r in curve]
    [0.0, 50.0, 100.0]
    """
    chosen = keyrate_model(model)
    bb = chosen.check_block_bits(block_bits)
    if not isinstance(params.channel, FibreChannel):
        raise ValueError("key_rate_curve needs a fibre channel (distances in km)")
    out: list[KeyRateResult] = []
    warm: NDArray[np.float64] | None = None
    for d in distances_km:
        if not (math.isfinite(d) and d >= 0):
            raise ValueError(f"distances_km must hold lengths >= 0, got {d!r}")
        res, x = chosen.solve(params.with_distance(d), bb, warm=warm)
        if res.secret_key_rate_per_pulse > 0:
            warm = x
        out.append(res)
    return out


def cutoff_distance_km(
    params: LinkParams,
    model: str | KeyRateModel = "asymptotic",
    *,
    block_bits: float | None = None,
    max_distance_km: float = 400.0,
    tolerance_km: float = 0.05,
) -> float:
    """Largest fibre length at which the optimised key rate is still positive.

    Parameters
    ----------
    params
        A fibre link (its length is ignored).
    model, block_bits
        As in :func:`key_rate`.
    max_distance_km
        Search limit; returned when the rate is still positive there.
    tolerance_km
        Bisection tolerance.

    Returns
    -------
    float
        The cutoff distance in km (0 when no key is possible even at 0 km).

    Raises
    ------
    ValueError
        As :func:`key_rate`, and for a free-space channel or a non-positive limit.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> 140 < cutoff_distance_km(load_preset("gys"), "asymptotic") < 145
    True
    """
    chosen = keyrate_model(model)
    bb = chosen.check_block_bits(block_bits)
    if not isinstance(params.channel, FibreChannel):
        raise ValueError("cutoff_distance_km needs a fibre channel (distances in km)")
    if not (math.isfinite(max_distance_km) and max_distance_km > 0):
        raise ValueError(f"max_distance_km must be > 0, got {max_distance_km!r}")
    if not tolerance_km > 0:
        raise ValueError(f"tolerance_km must be > 0, got {tolerance_km!r}")

    warm: list[NDArray[np.float64] | None] = [None]

    def positive(d: float) -> bool:
        res, x = chosen.solve(params.with_distance(d), bb, warm=warm[0])
        if res.secret_key_rate_per_pulse > 0:
            warm[0] = x
            return True
        return False

    if not positive(0.0):
        return 0.0
    if positive(max_distance_km):
        return float(max_distance_km)
    lo, hi = 0.0, float(max_distance_km)
    # Coarse scan first so that warm starts follow the curve outwards.
    step = max_distance_km / 16.0
    d = step
    while d < hi:
        if positive(d):
            lo = d
            d += step
        else:
            hi = d
            break
    while hi - lo > tolerance_km:
        mid = 0.5 * (lo + hi)
        if positive(mid):
            lo = mid
        else:
            hi = mid
    return lo
