"""Unit conversions and physical constants. Names carry their units."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_KM",
    "binary_entropy",
    "db_to_transmittance",
    "transmittance_to_db",
]

EARTH_RADIUS_KM = 6371.0


def db_to_transmittance(loss_db: float) -> float:
    """Return the power transmittance of a loss given in dB (``10 ** (-loss_db / 10)``).

    Examples
    --------
    >>> db_to_transmittance(10.0)
    0.1
    """
    return float(10.0 ** (-loss_db / 10.0))


def transmittance_to_db(transmittance: float) -> float:
    """Return the loss in dB of a power transmittance in (0, 1].

    Examples
    --------
    >>> transmittance_to_db(0.01)
    20.0
    """
    if not 0.0 < transmittance <= 1.0:
        raise ValueError(f"transmittance must be in (0, 1], got {transmittance!r}")
    return float(-10.0 * math.log10(transmittance))


def binary_entropy(p: ArrayLike) -> NDArray[np.float64] | float:
    """Binary Shannon entropy h(p) in bits, with h(0) = h(1) = 0.

    Examples
    --------
    >>> round(binary_entropy(0.11), 4)
    0.4999
    """
    if isinstance(p, float | int):  # scalar fast path (optimisers call this in loops)
        x = float(p)
        if x <= 0.0 or x >= 1.0:
            return 0.0
        return -x * math.log2(x) - (1.0 - x) * math.log2(1.0 - x)
    arr = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -arr * np.log2(arr) - (1.0 - arr) * np.log2(1.0 - arr)
    out = np.where((arr <= 0.0) | (arr >= 1.0), 0.0, out)
    if out.ndim == 0:
        return float(out)
    return out
