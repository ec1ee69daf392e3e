"""Asymptotic decoy-state bounds and the GLLP key rate (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)).

:func:`vacuum_weak_bounds` bounds the single-photon yield and error rate from a vacuum and
one weak decoy; :func:`gllp_key_rate` is the GLLP rate from those bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.units import binary_entropy

__all__ = ["FloatSequence", "SinglePhotonBounds", "gllp_key_rate", "vacuum_weak_bounds"]

FloatSequence = Sequence[float] | NDArray[np.float64]
"""Gains, error rates, intensities or probabilities, one per intensity."""


@dataclass(frozen=True)
class SinglePhotonBounds:
    """Asymptotic decoy-state estimates of the single-photon contribution.

    Attributes
    ----------
    y0
        Background (vacuum) yield used.
    y1_lower
        Lower bound on the single-photon yield ``Y1``.
    q1_lower
        Lower bound on the single-photon gain of the signal, ``Y1 mu exp(-mu)``.
    e1_upper
        Upper bound on the single-photon error rate (capped at 1/2).
    """

    y0: float
    y1_lower: float
    q1_lower: float
    e1_upper: float


def vacuum_weak_bounds(
    gains: FloatSequence,
    qbers: FloatSequence,
    mu: float,
    nu: float,
    y0: float,
    *,
    e0: float = 0.5,
) -> SinglePhotonBounds:
    """Asymptotic vacuum + weak decoy bounds on ``Y1``, ``Q1`` and ``e1`` (Ma et al. 2005).

    * ``Y1 >= Y1^L = mu / (mu nu - nu^2) [Q_nu e^nu - Q_mu e^mu nu^2/mu^2
      - (mu^2 - nu^2)/mu^2 Y0]``
    * ``Q1 >= Y1^L mu e^{-mu}``
    * ``e1 <= (E_nu Q_nu e^nu - e0 Y0) / (Y1^L nu)``

    Works on expected values (a model) or observed gains and QBERs (a measurement); with
    a vacuum decoy, ``y0`` is its observed gain.

    Parameters
    ----------
    gains
        ``(Q_mu, Q_nu)``: gains (detections per pulse) of the signal and the weak decoy.
    qbers
        ``(E_mu, E_nu)``: their error rates.
    mu, nu
        Signal and weak-decoy intensities, ``0 < nu < mu``.
    y0
        Background yield (vacuum gain), >= 0.
    e0
        Error rate of background counts (1/2 for random dark counts).

    Returns
    -------
    SinglePhotonBounds
        ``y1_lower`` and ``q1_lower`` clipped at 0; ``e1_upper`` capped at 1/2 (1/2 when
        ``Y1^L = 0``).

    Raises
    ------
    ValueError
        If ``nu >= mu``, ``nu <= 0``, a gain is outside [0, 1], a QBER outside [0, 1] or
        ``y0`` negative.

    Example
    -------
    >>> b = vacuum_weak_bounds((1.0e-2, 1.1e-3), (0.03, 0.04), mu=0.5, nu=0.05, y0=1e-5)
    >>> round(b.y1_lower, 4), round(b.e1_upper, 4)
    (0.0218, 0.0378)

    References
    ----------
    Ma, Qi, Zhao, Lo, "Practical decoy state for quantum key distribution",
    PRA 72, 012326 (2005), vacuum + weak decoy bounds on Y1 and e1.
    """
    if len(gains) != 2 or len(qbers) != 2:
        raise ValueError("gains and qbers must each hold two values: (signal, weak decoy)")
    q_mu, q_nu = (float(x) for x in gains)
    e_mu, e_nu = (float(x) for x in qbers)
    for name, value in (("gains", q_mu), ("gains", q_nu), ("qbers", e_mu), ("qbers", e_nu)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"{name} must hold values in [0, 1], got {value!r}")
    if not (math.isfinite(mu) and math.isfinite(nu) and 0.0 < nu < mu):
        raise ValueError(f"need 0 < nu < mu (weak decoy below the signal), got mu={mu}, nu={nu}")
    if not (math.isfinite(y0) and y0 >= 0.0):
        raise ValueError(f"y0 must be a finite number >= 0, got {y0!r}")
    y1 = (
        mu
        / (mu * nu - nu**2)
        * (q_nu * math.exp(nu) - q_mu * math.exp(mu) * nu**2 / mu**2 - (mu**2 - nu**2) / mu**2 * y0)
    )
    y1 = max(y1, 0.0)
    q1 = y1 * mu * math.exp(-mu)
    if y1 > 0.0:
        e1 = (e_nu * q_nu * math.exp(nu) - e0 * y0) / (y1 * nu)
        e1 = min(max(e1, 0.0), 0.5)
    else:
        e1 = 0.5
    return SinglePhotonBounds(y0=float(y0), y1_lower=y1, q1_lower=q1, e1_upper=e1)


def gllp_key_rate(
    gain: float,
    qber: float,
    single_photon_gain: float,
    single_photon_error: float,
    *,
    error_correction_efficiency: float,
    sifting_factor: float = 0.5,
) -> float:
    """GLLP secret-key rate per pulse, ``q {-Q f h(E) + Q1 [1 - h(e1)]}``.

    Parameters
    ----------
    gain, qber
        Gain ``Q_mu`` and error rate ``E_mu`` of the signal.
    single_photon_gain, single_photon_error
        ``Q1`` (lower bound) and ``e1`` (upper bound) of the signal.
    error_correction_efficiency
        ``f(E) >= 1``.
    sifting_factor
        ``q``: 1/2 for BB84 with equal bases, ``q_x^2`` for efficient BB84.

    Returns
    -------
    float
        The rate in bits per pulse. Negative means that no key can be extracted; callers
        clip at zero (optimisers use the sign).

    Raises
    ------
    ValueError
        For an efficiency below 1 or a sifting factor outside (0, 1].

    Example
    -------
    >>> round(gllp_key_rate(1e-2, 0.03, 5e-3, 0.035, error_correction_efficiency=1.22), 7)
    0.000767

    References
    ----------
    Gottesman, Lo, Lütkenhaus, Preskill, QIC 4, 325 (2004); in the form of Ma, Qi, Zhao,
    Lo, PRA 72, 012326 (2005) (the GLLP rate they optimise).
    """
    if not (math.isfinite(error_correction_efficiency) and error_correction_efficiency >= 1.0):
        raise ValueError(
            f"error_correction_efficiency must be >= 1, got {error_correction_efficiency!r}"
        )
    if not 0.0 < sifting_factor <= 1.0:
        raise ValueError(f"sifting_factor must be in (0, 1], got {sifting_factor!r}")
    h_e = float(binary_entropy(qber))
    h_e1 = float(binary_entropy(min(single_photon_error, 0.5)))
    return sifting_factor * (
        -gain * error_correction_efficiency * h_e + single_photon_gain * (1.0 - h_e1)
    )
