"""Photon- and pair-number statistics of the sources (weak coherent pulses, SPDC pairs).

The fast sampler never draws photons one by one: it needs, per pulse class, the
probability-generating function (PGF) ``G(z) = E[z^m]`` of the number ``m`` of photons that
reach Bob's detectors. A :class:`PhotonDistribution` holds that distribution, either as a
Poisson law (a weak coherent pulse after a lossy channel stays Poisson, with mean
``mu * eta``) or as an explicit probability vector (used by attacks such as photon-number
splitting, where Eve changes the statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "PhotonDistribution",
    "pair_number_pgf",
    "poisson_pmf",
]


def poisson_pmf(mean: float, n_max: int | None = None) -> NDArray[np.float64]:
    """Poisson probabilities ``P(n) = exp(-mean) mean^n / n!`` for ``n = 0 .. n_max``.

    Parameters
    ----------
    mean
        Mean photon number, >= 0.
    n_max
        Largest photon number kept. By default the tail beyond it is below 1e-18.

    Returns
    -------
    numpy.ndarray
        ``P(0) .. P(n_max)`` (float64). The truncated tail is *not* folded in.

    Raises
    ------
    ValueError
        If ``mean`` is negative or not finite, or ``n_max`` is negative.

    Example
    -------
    >>> [round(float(x), 4) for x in poisson_pmf(0.5, 2)]
    [0.6065, 0.3033, 0.0758]
    """
    if not (math.isfinite(mean) and mean >= 0.0):
        raise ValueError(f"mean must be a finite number >= 0, got {mean!r}")
    if n_max is None:
        n_max = int(mean + 12.0 * math.sqrt(mean) + 40.0)
    if n_max < 0:
        raise ValueError(f"n_max must be >= 0, got {n_max!r}")
    n = np.arange(n_max + 1, dtype=np.float64)
    if mean == 0.0:
        out = np.zeros(n_max + 1)
        out[0] = 1.0
        return out
    log_p = -mean + n * math.log(mean) - np.array([math.lgamma(x + 1.0) for x in n])
    return np.exp(log_p)


@dataclass(frozen=True)
class PhotonDistribution:
    """Distribution of the number of photons that arrive at a party's detectors in one pulse.

    Exactly one of ``poisson_mean`` and ``pmf`` is given.

    Parameters
    ----------
    poisson_mean
        Mean of a Poisson law (weak coherent pulse after a lossy channel).
    pmf
        Explicit probabilities ``P(m)`` for ``m = 0, 1, ...`` (must sum to 1 within 1e-9).

    Raises
    ------
    ValueError
        If neither or both are given, the mean is negative or the probabilities are invalid.

    Example
    -------
    >>> d = PhotonDistribution(poisson_mean=0.1)
    >>> round(d.pgf_complement(0.0), 6)  # P(at least one photon)
    0.095163
    """

    poisson_mean: float | None = None
    pmf: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.poisson_mean is None) == (self.pmf is None):
            raise ValueError("give exactly one of poisson_mean and pmf")
        if self.poisson_mean is not None:
            m = float(self.poisson_mean)
            if not (math.isfinite(m) and m >= 0.0):
                raise ValueError(f"poisson_mean must be a finite number >= 0, got {m!r}")
            object.__setattr__(self, "poisson_mean", m)
        if self.pmf is not None:
            arr = np.asarray(self.pmf, dtype=np.float64)
            if arr.ndim != 1 or arr.size == 0 or np.any(arr < 0) or not np.all(np.isfinite(arr)):
                raise ValueError("pmf must be a non-empty sequence of probabilities >= 0")
            if abs(float(arr.sum()) - 1.0) > 1e-9:
                raise ValueError(f"pmf must sum to 1, got {float(arr.sum())!r}")
            object.__setattr__(self, "pmf", tuple(float(x) for x in arr))

    def pgf(self, z: float) -> float:
        """``G(z) = E[z^m]`` for ``z`` in [0, 1]."""
        return 1.0 - self.pgf_complement(z)

    def pgf_complement(self, z: float) -> float:
        """``1 - G(z) = E[1 - z^m]``, computed without cancellation for ``z`` near 1."""
        if self.poisson_mean is not None:
            return float(-math.expm1(-self.poisson_mean * (1.0 - z)))
        assert self.pmf is not None
        p = np.asarray(self.pmf)
        m = np.arange(p.size, dtype=np.float64)
        terms = np.where(m > 0, 1.0, 0.0) if z <= 0.0 else -np.expm1(m * math.log(z))
        return float(np.sum(p * terms))

    def mean(self) -> float:
        """Mean photon number."""
        if self.poisson_mean is not None:
            return self.poisson_mean
        assert self.pmf is not None
        p = np.asarray(self.pmf)
        return float(np.sum(p * np.arange(p.size)))


def pair_number_pgf(z: float, mean_pairs: float, statistics: str) -> float:
    """PGF ``E[z^N]`` of the number ``N`` of pairs an SPDC source emits in one pulse.

    Parameters
    ----------
    z
        Argument in [0, 1].
    mean_pairs
        Mean pair number per pulse, >= 0.
    statistics
        ``"thermal"`` (single-mode, Bose-Einstein: ``1 / (1 + mu (1 - z))``) or
        ``"poisson"`` (many modes: ``exp(-mu (1 - z))``).

    Returns
    -------
    float
        ``E[z^N]``.

    Raises
    ------
    ValueError
        For unknown statistics.

    Example
    -------
    >>> round(pair_number_pgf(0.0, 0.1, "thermal"), 6)  # P(N = 0) = 1 / (1 + mu)
    0.909091

    References
    ----------
    Ma, Fung, Lo, "Quantum key distribution with entangled photon sources", PRA 76, 012307
    (2007), Eq. (1) (thermal pair-number distribution).
    """
    if statistics == "thermal":
        return 1.0 / (1.0 + mean_pairs * (1.0 - z))
    if statistics == "poisson":
        return math.exp(-mean_pairs * (1.0 - z))
    raise ValueError(f"statistics must be 'thermal' or 'poisson', got {statistics!r}")
