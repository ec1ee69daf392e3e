"""Secret-key rate per pulse of each model at *given* source settings (no optimisation).

Each function returns ``(rate, gain, qber)`` (the finite model also its key length in bits);
:mod:`quaykey.physics.keyrate.optimise` searches the settings and
:mod:`quaykey.physics.keyrate.models` wraps both into the model objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import (
    DecoyCounts,
    gllp_key_rate,
    lim2014_key_length,
    three_intensity_bounds,
    vacuum_weak_bounds,
)
from quaykey.physics.detectors import (
    afterpulse_background,
    click_probabilities,
    single_photon_yield_and_error,
)
from quaykey.physics.keyrate.gains import (
    bbm92_gain_qber,
    decoy_source,
    intensity_mix,
    qber_per_intensity,
    sifting_factor,
    system_transmittance,
)
from quaykey.physics.params import LinkParams
from quaykey.units import binary_entropy

__all__ = [
    "asymptotic_rate",
    "bbm92_rate",
    "finite_rate",
    "three_intensity_rate",
    "vacuum_weak_gllp_rate",
    "vacuum_weak_rate",
]


def asymptotic_rate(params: LinkParams, mu: float) -> tuple[float, float, float]:
    """GLLP rate with exact single-photon quantities; returns (rate, gain, qber).

    Infinitely many decoys sent with a vanishing probability: the afterpulse background is
    that of signal pulses alone.
    """
    eta = system_transmittance(params)
    match = sifting_factor(decoy_source(params).basis_probability_x)
    bg = afterpulse_background(eta, [mu], [1.0], params.detector, basis_match_probability=match)
    gain, err = click_probabilities(eta, [mu], params.detector, background=bg)
    g, qber = float(gain[0]), float(qber_per_intensity(gain, err)[0])
    y1, e1 = single_photon_yield_and_error(eta, params.detector, background=bg)
    rate = gllp_key_rate(
        g,
        qber,
        y1 * mu * math.exp(-mu),
        e1,
        error_correction_efficiency=params.security.error_correction_efficiency,
        sifting_factor=sifting_factor(decoy_source(params).basis_probability_x),
    )
    return rate, g, qber


def vacuum_weak_rate(params: LinkParams, mu: float, nu: float) -> tuple[float, float, float]:
    """GLLP rate with ``Y1``, ``e1`` bounded from the vacuum and a weak decoy ``nu`` (Ma 2005)."""
    eta = system_transmittance(params)
    source = decoy_source(params)
    ks, ps = intensity_mix(source, [mu, nu])
    bg = afterpulse_background(
        eta,
        ks,
        ps,
        params.detector,
        basis_match_probability=sifting_factor(source.basis_probability_x),
    )
    gain, err = click_probabilities(eta, [mu, nu, 0.0], params.detector, background=bg)
    qber = qber_per_intensity(gain, err)
    rate = vacuum_weak_gllp_rate(
        params,
        (float(gain[0]), float(gain[1])),
        (float(qber[0]), float(qber[1])),
        mu=mu,
        nu=nu,
        y0=float(gain[2]),
    )
    return rate, float(gain[0]), float(qber[0])


def vacuum_weak_gllp_rate(
    params: LinkParams,
    gains: tuple[float, float],
    qbers: tuple[float, float],
    *,
    mu: float,
    nu: float,
    y0: float,
) -> float:
    """GLLP rate per signal pulse from the signal's and weak decoy's gains and QBERs.

    ``Y1`` and ``e1`` are bounded with the vacuum + weak decoy bounds of Ma et al. (2005),
    Eqs. (34) and (37), then fed to the GLLP rate, Eq. (1), with the link's ``f`` and
    sifting factor ``q_x^2 + (1 - q_x)^2``. The one implementation behind the
    ``vacuum-weak`` model (expected gains) and the estimates from observed gains.
    """
    bounds = vacuum_weak_bounds(gains, qbers, mu=mu, nu=nu, y0=y0)
    return gllp_key_rate(
        gains[0],
        qbers[0],
        bounds.q1_lower,
        bounds.e1_upper,
        error_correction_efficiency=params.security.error_correction_efficiency,
        sifting_factor=sifting_factor(decoy_source(params).basis_probability_x),
    )


def three_intensity_rate(params: LinkParams, mu: Sequence[float]) -> tuple[float, float, float]:
    """Asymptotic Lim et al. rate per pulse with q_x -> 1 and p_mu1 -> 1.

    Every pulse is a signal pulse in the matching basis, so the afterpulse background is
    that of ``mu1`` alone.
    """
    eta = system_transmittance(params)
    bg = afterpulse_background(eta, [float(mu[0])], [1.0], params.detector)
    gain, err = click_probabilities(eta, mu, params.detector, background=bg)
    qber = qber_per_intensity(gain, err)
    b = three_intensity_bounds(gain, qber, mu)
    mu1 = float(mu[0])
    f = params.security.error_correction_efficiency
    rate = (
        math.exp(-mu1) * b.y0
        + b.q1_lower * (1.0 - float(binary_entropy(b.e1_upper)))
        - f * float(gain[0]) * float(binary_entropy(float(qber[0])))
    )
    return rate, float(gain[0]), float(qber[0])


def finite_rate(
    params: LinkParams,
    block_bits: float,
    qx: float,
    p: NDArray[np.float64],
    mu: NDArray[np.float64],
) -> tuple[float, float, float, int]:
    """Lim et al. key per pulse from expected counts; returns (rate, gain, qber, bits).

    With ``params.security.key_from_both_bases`` the Z-basis sifted bits are a key too
    (its phase error bounded from the X-basis decoy statistics, each key at
    ``epsilon_sec``), as :func:`quaykey.network.links.statistical.block_key_bits` counts
    it; ``block_bits`` is still the X-basis block ``n_X`` and the QBER the X basis's. The
    basis choice is then the source's own (``basis_probability_x``, the passive 50:50
    choice of symmetric BB84), not a setting: ``qx`` is ignored.
    """
    if params.security.key_from_both_bases:
        qx = decoy_source(params).basis_probability_x
    eta = system_transmittance(params)
    gain, err = click_probabilities(
        eta, mu, params.detector, probabilities=p, basis_match_probability=sifting_factor(qx)
    )
    detect_x = qx * qx * p * gain
    n_pulses = block_bits / float(detect_x.sum())
    qz2 = (1.0 - qx) ** 2
    counts = DecoyCounts(
        n_x=n_pulses * detect_x,
        n_z=n_pulses * qz2 * p * gain,
        m_x=n_pulses * qx * qx * p * err,
        m_z=n_pulses * qz2 * p * err,
    )
    real, bits = _lim2014_key(params, counts, mu, p)
    if params.security.key_from_both_bases:
        swapped = DecoyCounts(n_x=counts.n_z, n_z=counts.n_x, m_x=counts.m_z, m_z=counts.m_x)
        real_z, bits_z = _lim2014_key(params, swapped, mu, p)
        real, bits = real + real_z, bits + bits_z
    return real / n_pulses, float(gain[0]), counts.qber_x, bits


def _lim2014_key(
    params: LinkParams, counts: DecoyCounts, mu: NDArray[np.float64], p: NDArray[np.float64]
) -> tuple[float, int]:
    """Lim et al. (2014) key of the X basis of ``counts`` (Z the test basis): (real, bits)."""
    n_x = float(counts.n_x.sum())
    leak = params.security.error_correction_efficiency * float(binary_entropy(counts.qber_x)) * n_x
    bound = lim2014_key_length(
        counts,
        mu,
        p,
        leak_ec_bits=leak,
        epsilon_sec=params.security.epsilon_sec,
        epsilon_cor=params.security.epsilon_cor,
    )
    return float(bound.key_length_real), int(bound.key_length_bits)


def bbm92_rate(params: LinkParams, mean_pairs: float) -> tuple[float, float, float]:
    """BBM92 rate ``q Q (1 - f h(E) - h(E))`` of Ma, Fung, Lo (2007), Eq. (6)."""
    gain, qber = bbm92_gain_qber(params, mean_pairs)
    f = params.security.error_correction_efficiency
    qx = params.source.basis_probability_x
    h = float(binary_entropy(qber))
    return sifting_factor(qx) * gain * (1.0 - f * h - h), gain, qber
