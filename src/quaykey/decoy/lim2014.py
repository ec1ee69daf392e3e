"""Finite-key decoy-state bounds of Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014).

Three intensities ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0`` (signal, decoy, vacuum or weak
vacuum); key basis X, test basis Z. :func:`lim2014_key_length` is the key length of one
block (Eqs. 1-5, Hoeffding-corrected counts); :func:`three_intensity_bounds` is the same
estimate without fluctuations (its asymptotic limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from quaykey.decoy.ma2005 import FloatSequence, SinglePhotonBounds
from quaykey.units import binary_entropy

__all__ = [
    "DecoyCounts",
    "FiniteKeyBound",
    "lim2014_gamma",
    "lim2014_key_length",
    "three_intensity_bounds",
]

_SPLIT = 21.0  # Lim et al. 2014 split epsilon_sec into 21 equal parts


def _as_counts(name: str, value: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of counts per intensity")
    low = float(arr.min()) if arr.size else 0.0
    if not (low >= 0.0 and math.isfinite(float(arr.sum()))):
        raise ValueError(f"{name} must hold finite counts >= 0, got {arr.tolist()}")
    return arr


@dataclass(frozen=True, eq=False)
class DecoyCounts:
    """Sifted detections and errors per intensity, in each basis.

    Counts may be observed integers or expected (real) values; both are accepted.

    Parameters
    ----------
    n_x, n_z
        Sifted detections in the key basis X and the test basis Z, one entry per intensity
        (same order as the intensities).
    m_x, m_z
        Bit errors among those detections (``m_x <= n_x``, ``m_z <= n_z``).

    Raises
    ------
    ValueError
        If the four arrays differ in length, hold negative or non-finite values, or an
        error count exceeds its detection count.
    """

    n_x: NDArray[np.float64]
    n_z: NDArray[np.float64]
    m_x: NDArray[np.float64]
    m_z: NDArray[np.float64]

    def __post_init__(self) -> None:
        for name in ("n_x", "n_z", "m_x", "m_z"):
            object.__setattr__(self, name, _as_counts(name, getattr(self, name)))
        sizes = {self.n_x.size, self.n_z.size, self.m_x.size, self.m_z.size}
        if len(sizes) != 1:
            raise ValueError(
                "n_x, n_z, m_x and m_z must have one entry per intensity each, got lengths "
                f"{self.n_x.size}, {self.n_z.size}, {self.m_x.size}, {self.m_z.size}"
            )
        if np.any(self.m_x > self.n_x):
            raise ValueError("m_x (X-basis errors) cannot exceed n_x (X-basis detections)")
        if np.any(self.m_z > self.n_z):
            raise ValueError("m_z (Z-basis errors) cannot exceed n_z (Z-basis detections)")

    @property
    def qber_x(self) -> float:
        """Observed error rate in the key basis X over all intensities (0 if no detection)."""
        total = float(self.n_x.sum())
        return float(self.m_x.sum()) / total if total > 0 else 0.0


@dataclass(frozen=True)
class FiniteKeyBound:
    """Every intermediate of the Lim et al. (2014) key-length bound.

    Attributes
    ----------
    s_x0, s_x1
        Lower bounds on vacuum and single-photon events in the X basis (Eqs. 2, 3).
    s_z0, s_z1
        The same bounds in the Z basis.
    v_z1
        Upper bound on bit errors of single-photon events in the Z basis (Eq. 4).
    phi_x
        Upper bound on the single-photon phase-error rate in the X basis (Eq. 5), <= 1/2.
    n_x
        Total sifted X detections (the post-processing block size).
    leak_ec_bits
        Information revealed by error correction.
    key_length_real
        The bracket of Eq. (1) before rounding down (may be negative; smooth, so
        optimisers use it).
    key_length_bits
        ``floor(key_length_real)`` when positive, else 0.
    positive
        Whether a key of at least one bit can be extracted.
    """

    s_x0: float
    s_x1: float
    s_z0: float
    s_z1: float
    v_z1: float
    phi_x: float
    n_x: float
    leak_ec_bits: float
    key_length_real: float
    key_length_bits: int
    positive: bool


def _check_intensities(
    intensities: FloatSequence, probabilities: FloatSequence
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    mu = tuple(float(x) for x in intensities)
    p = tuple(float(x) for x in probabilities)
    if len(mu) != 3:
        raise ValueError(
            f"intensities must hold exactly three values (mu1, mu2, mu3), got {list(mu)}"
        )
    if len(p) != 3:
        raise ValueError(f"probabilities must hold one value per intensity, got {list(p)}")
    mu1, mu2, mu3 = mu
    if not all(math.isfinite(x) for x in mu):
        raise ValueError(f"intensities must be finite, got {list(mu)}")
    if not (mu1 > mu2 + mu3 and mu2 > mu3 >= 0.0):
        raise ValueError(
            "intensities in an order the model cannot use: need mu1 > mu2 + mu3 and "
            f"mu2 > mu3 >= 0 (signal, decoy, vacuum), got {list(mu)}"
        )
    if not all(0.0 < x <= 1.0 for x in p):
        raise ValueError(f"probabilities must each be in (0, 1], got {list(p)}")
    if abs(sum(p) - 1.0) > 1e-9:
        raise ValueError(f"probabilities must sum to 1, got {sum(p)!r}")
    return (mu1, mu2, mu3), (p[0], p[1], p[2])


def lim2014_gamma(a: float, b: float, c: float, d: float) -> float:
    """Statistical correction of the phase-error rate, gamma(a, b, c, d) of Lim et al. 2014.

    ``gamma = sqrt((c+d)(1-b)b / (c d ln 2) * log2((c+d) / (c d (1-b) b) * 21**2 / a**2))``.

    Parameters
    ----------
    a
        Secrecy parameter epsilon_sec.
    b
        Observed single-photon error rate in the test basis (``v_z1 / s_z1``).
    c, d
        Single-photon events in the test (``s_z1``) and key (``s_x1``) bases, > 0.

    Returns
    -------
    float
        The correction, >= 0. At ``b = 0`` or ``b = 1`` it is the formula's limit, 0; a
        negative logarithm (tiny blocks with huge ``c``, ``d``) is clipped to 0.

    Example
    -------
    >>> round(lim2014_gamma(1e-10, 0.01, 1e6, 1e7), 6)
    0.000988

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eq. (5) and the definition of
    gamma below it.
    """
    if c <= 0 or d <= 0:
        raise ValueError(f"c and d (single-photon counts) must be > 0, got c={c!r}, d={d!r}")
    if not 0.0 < a < 1.0:
        raise ValueError(f"a (epsilon_sec) must be in (0, 1), got {a!r}")
    bb = (1.0 - b) * b
    if bb <= 0.0:
        return 0.0
    inner = (c + d) / (c * d * bb) * (_SPLIT**2) / (a**2)
    log_term = math.log2(inner)
    if log_term <= 0.0:
        return 0.0
    return math.sqrt((c + d) * bb / (c * d * math.log(2.0)) * log_term)


def _bounds_one_basis(
    n_k: list[float],
    mu: tuple[float, float, float],
    p: tuple[float, float, float],
    delta: float,
    tau0: float,
    tau1: float,
) -> tuple[float, float]:
    """Vacuum and single-photon lower bounds (Eqs. 2 and 3) for one basis."""
    mu1, mu2, mu3 = mu
    scale = [math.exp(m) / q for m, q in zip(mu, p, strict=True)]
    n1_plus = scale[0] * (n_k[0] + delta)
    n2_minus = scale[1] * (n_k[1] - delta)
    n2_plus = scale[1] * (n_k[1] + delta)
    n3_minus = scale[2] * (n_k[2] - delta)
    n3_plus = scale[2] * (n_k[2] + delta)
    s0 = max(tau0 * (mu2 * n3_minus - mu3 * n2_plus) / (mu2 - mu3), 0.0)
    s1 = (
        tau1
        * mu1
        * (n2_minus - n3_plus - (mu2**2 - mu3**2) / mu1**2 * (n1_plus - s0 / tau0))
        / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    )
    return s0, max(s1, 0.0)


def lim2014_key_length(
    counts: DecoyCounts,
    intensities: FloatSequence,
    probabilities: FloatSequence,
    *,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> FiniteKeyBound:
    """Secret-key length of one block of three-intensity decoy BB84 (Lim et al. 2014).

    ``l = floor(s_x0 + s_x1 - s_x1 h(phi_x) - leak_ec - 6 log2(21/eps_sec) - log2(2/eps_cor))``
    with Hoeffding-corrected counts ``n^±_k = exp(mu_k)/p_k (n_k ± sqrt(n/2 ln(21/eps_sec)))``
    (``n`` the basis total), ``tau_n = sum_k p_k exp(-mu_k) mu_k^n / n!``, and

    * ``s_0 >= tau0 (mu2 n^-_3 - mu3 n^+_2) / (mu2 - mu3)``
    * ``s_1 >= tau1 mu1 [n^-_2 - n^+_3 - (mu2^2 - mu3^2)/mu1^2 (n^+_1 - s_0/tau0)]
      / (mu1 (mu2 - mu3) - mu2^2 + mu3^2)``
    * ``v_z1 <= tau1 (m^+_z2 - m^-_z3) / (mu2 - mu3)``
    * ``phi_x <= v_z1/s_z1 + gamma(eps_sec, v_z1/s_z1, s_z1, s_x1)``

    Parameters
    ----------
    counts
        Detections and errors per intensity in both bases.
    intensities
        ``(mu1, mu2, mu3)``, with ``mu1 > mu2 + mu3`` and ``mu2 > mu3 >= 0``.
    probabilities
        Probability ``p_k`` with which each intensity was sent; each > 0, summing to 1.
    leak_ec_bits
        Bits revealed by error correction (the actual leakage, or ``f h(e) n_x`` in a model).
    epsilon_sec, epsilon_cor
        Secrecy and correctness parameters, each in (0, 1).

    Returns
    -------
    FiniteKeyBound
        Every intermediate bound and the key length (0 when no key can be extracted).

    Raises
    ------
    ValueError
        For intensities in an order the model cannot use, counts not matching three
        intensities, probabilities outside (0, 1] or not summing to 1, a negative
        ``leak_ec_bits`` or an epsilon outside (0, 1).

    Example
    -------
    >>> counts = DecoyCounts(n_x=[14669190, 1226840, 1470], n_z=[2694340, 225340, 270],
    ...                      m_x=[149570, 13470, 730], m_z=[27470, 2470, 140])
    >>> bound = lim2014_key_length(counts, (0.5, 0.1, 0.0), (0.6, 0.25, 0.15),
    ...                            leak_ec_bits=1.53e6, epsilon_sec=1e-10, epsilon_cor=1e-15)
    >>> bound.positive, round(bound.phi_x, 4), bound.key_length_bits
    (True, 0.0227, 6323942)

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for practical decoy-state
    quantum key distribution", PRA 89, 022307 (2014), Eqs. (1)-(5).
    """
    mu, p = _check_lim2014_inputs(
        counts, intensities, probabilities, leak_ec_bits, epsilon_sec, epsilon_cor
    )
    log_term = math.log(_SPLIT / epsilon_sec)
    tau0, tau1 = _photon_number_weights(mu, p)

    n_x = counts.n_x.tolist()
    n_z = counts.n_z.tolist()
    m_z = counts.m_z.tolist()
    n_x_total = sum(n_x)
    s_x0, s_x1 = _bounds_one_basis(n_x, mu, p, _hoeffding(n_x_total, log_term), tau0, tau1)
    s_z0, s_z1 = _bounds_one_basis(n_z, mu, p, _hoeffding(sum(n_z), log_term), tau0, tau1)
    v_z1 = _test_basis_errors_upper(m_z, mu, p, _hoeffding(sum(m_z), log_term), tau1)
    phi_x = _phase_error_upper(s_x1, s_z1, v_z1, epsilon_sec)

    length = _key_length_real(s_x0, s_x1, phi_x, leak_ec_bits, epsilon_sec, epsilon_cor)
    bits = math.floor(length) if length >= 1.0 else 0
    return FiniteKeyBound(
        s_x0=s_x0,
        s_x1=s_x1,
        s_z0=s_z0,
        s_z1=s_z1,
        v_z1=v_z1,
        phi_x=phi_x,
        n_x=n_x_total,
        leak_ec_bits=float(leak_ec_bits),
        key_length_real=float(length),
        key_length_bits=int(bits),
        positive=bits > 0,
    )


def _check_lim2014_inputs(
    counts: DecoyCounts,
    intensities: FloatSequence,
    probabilities: FloatSequence,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The checked ``(mu1, mu2, mu3)`` and ``(p1, p2, p3)`` of :func:`lim2014_key_length`."""
    mu, p = _check_intensities(intensities, probabilities)
    if counts.n_x.size != 3:
        raise ValueError(f"counts must hold three intensities, got {counts.n_x.size}")
    if not (math.isfinite(leak_ec_bits) and leak_ec_bits >= 0.0):
        raise ValueError(f"leak_ec_bits must be a finite number >= 0, got {leak_ec_bits!r}")
    for name, eps in (("epsilon_sec", epsilon_sec), ("epsilon_cor", epsilon_cor)):
        if not 0.0 < eps < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {eps!r}")
    return mu, p


def _photon_number_weights(
    mu: tuple[float, float, float], p: tuple[float, float, float]
) -> tuple[float, float]:
    """``tau_n = sum_k p_k exp(-mu_k) mu_k^n / n!`` for ``n = 0, 1`` (Lim et al. 2014)."""
    weights = [q * math.exp(-m) for m, q in zip(mu, p, strict=True)]
    tau0 = sum(weights)
    tau1 = sum(w * m for w, m in zip(weights, mu, strict=True))
    return tau0, tau1


def _hoeffding(total: float, log_term: float) -> float:
    """Hoeffding deviation ``sqrt(n / 2 ln(21 / eps_sec))`` of counts totalling ``n``."""
    return math.sqrt(total / 2.0 * log_term)


def _test_basis_errors_upper(
    m_z: list[float],
    mu: tuple[float, float, float],
    p: tuple[float, float, float],
    delta: float,
    tau1: float,
) -> float:
    """``v_z1 <= tau1 (m^+_z2 - m^-_z3) / (mu2 - mu3)`` (Eq. 4), clipped at 0."""
    mu2, mu3 = mu[1], mu[2]
    m2_plus = math.exp(mu2) / p[1] * (m_z[1] + delta)
    m3_minus = math.exp(mu3) / p[2] * (m_z[2] - delta)
    return max(tau1 * (m2_plus - m3_minus) / (mu2 - mu3), 0.0)


def _phase_error_upper(s_x1: float, s_z1: float, v_z1: float, epsilon_sec: float) -> float:
    """``phi_x <= v_z1/s_z1 + gamma(...)`` (Eq. 5), capped at 1/2; 1/2 without single photons."""
    if s_x1 > 0.0 and s_z1 > 0.0:
        ratio = min(v_z1 / s_z1, 0.5)
        return min(ratio + lim2014_gamma(epsilon_sec, ratio, s_z1, s_x1), 0.5)
    return 0.5


def _key_length_real(
    s_x0: float,
    s_x1: float,
    phi_x: float,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> float:
    """Eq. (1) before the floor: ``s_x0 + s_x1 (1 - h(phi_x)) - leak - 6 log2(21/eps_sec)
    - log2(2/eps_cor)``."""
    h_phi = float(binary_entropy(phi_x))
    return (
        s_x0
        + s_x1
        - s_x1 * h_phi
        - leak_ec_bits
        - 6.0 * math.log2(_SPLIT / epsilon_sec)
        - math.log2(2.0 / epsilon_cor)
    )


def three_intensity_bounds(
    gains: FloatSequence,
    qbers: FloatSequence,
    intensities: FloatSequence,
) -> SinglePhotonBounds:
    """Asymptotic three-intensity bounds: Lim et al. (2014) Eqs. (2)-(4) without fluctuations.

    The limit of :func:`lim2014_key_length` for infinitely many pulses, written per pulse
    with ``y_k = exp(mu_k) Q_k`` (the statistical terms vanish and the intensity
    probabilities cancel):

    * ``Y0 >= (mu2 y_3 - mu3 y_2) / (mu2 - mu3)``
    * ``Y1 >= mu1 [y_2 - y_3 - (mu2^2 - mu3^2)/mu1^2 (y_1 - Y0)]
      / (mu1 (mu2 - mu3) - mu2^2 + mu3^2)``
    * ``e1 Y1 <= (exp(mu2) E_2 Q_2 - exp(mu3) E_3 Q_3) / (mu2 - mu3)``

    Parameters
    ----------
    gains, qbers
        Gain ``Q_k`` and error rate ``E_k`` of each of the three intensities.
    intensities
        ``(mu1, mu2, mu3)`` with ``mu1 > mu2 + mu3`` and ``mu2 > mu3 >= 0``.

    Returns
    -------
    SinglePhotonBounds
        ``y0`` is the lower bound on the vacuum yield; ``q1_lower`` refers to ``mu1``.

    Raises
    ------
    ValueError
        For intensities in an order the model cannot use or gains/QBERs outside [0, 1].

    Example
    -------
    >>> q = [1 - math.exp(-0.01 * m) + 2e-6 for m in (0.5, 0.1, 0.0)]
    >>> e = [(1e-6 + 0.01 * (1 - math.exp(-0.01 * m))) / g for m, g in zip((0.5, 0.1, 0.0), q)]
    >>> round(three_intensity_bounds(q, e, (0.5, 0.1, 0.0)).y1_lower, 5)
    0.0097

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (2)-(4) with
    ``n^±_k -> n_k``.
    """
    mu = np.asarray(_check_intensities(intensities, (1 / 3, 1 / 3, 1 / 3))[0])
    q = np.asarray(gains, dtype=np.float64)
    e = np.asarray(qbers, dtype=np.float64)
    if q.shape != (3,) or e.shape != (3,):
        raise ValueError("gains and qbers must hold one value per intensity (three each)")
    if not (np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1))):
        raise ValueError(f"gains must hold values in [0, 1], got {q.tolist()}")
    if not (np.all(np.isfinite(e)) and np.all((e >= 0) & (e <= 1))):
        raise ValueError(f"qbers must hold values in [0, 1], got {e.tolist()}")
    mu1, mu2, mu3 = (float(x) for x in mu)
    y = np.exp(mu) * q
    y0 = max(float((mu2 * y[2] - mu3 * y[1]) / (mu2 - mu3)), 0.0)
    y1 = float(
        mu1
        * (y[1] - y[2] - (mu2**2 - mu3**2) / mu1**2 * (y[0] - y0))
        / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    )
    y1 = max(y1, 0.0)
    err = np.exp(mu) * q * e
    if y1 > 0.0:
        e1 = float((err[1] - err[2]) / (mu2 - mu3)) / y1
        e1 = min(max(e1, 0.0), 0.5)
    else:
        e1 = 0.5
    return SinglePhotonBounds(y0=y0, y1_lower=y1, q1_lower=y1 * mu1 * math.exp(-mu1), e1_upper=e1)
