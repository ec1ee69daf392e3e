"""Decoy-state bounds: Lim et al. 2014 finite key, Ma et al. 2005 vacuum + weak, GLLP."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from quaykey.decoy import (
    DecoyCounts,
    gllp_key_rate,
    lim2014_gamma,
    lim2014_key_length,
    three_intensity_bounds,
    vacuum_weak_bounds,
)


def _h(x: float) -> float:
    return -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def test_lim2014_hand_worked_example() -> None:
    """Every step of Eqs. (1)-(5) written out with scalar arithmetic, then compared.

    Numbers: mu = (0.6, 0.2, 0), p = (0.5, 0.3, 0.2), eps_sec = 1e-9, eps_cor = 1e-12.
    The tolerance is 1e-9 relative: both sides are the same formula in double precision.
    """
    mu1, mu2, mu3 = 0.6, 0.2, 0.0
    p1, p2, p3 = 0.5, 0.3, 0.2
    eps_sec, eps_cor = 1e-9, 1e-12
    n_x = (4.0e6, 8.0e5, 2.0e4)
    n_z = (1.0e6, 2.0e5, 5.0e3)
    m_x = (4.0e4, 1.0e4, 1.0e4)
    m_z = (1.0e4, 2.5e3, 2.5e3)
    leak = 3.0e5

    # tau_0 = sum p_k e^{-mu_k}, tau_1 = sum p_k e^{-mu_k} mu_k
    tau0 = p1 * math.exp(-mu1) + p2 * math.exp(-mu2) + p3 * math.exp(-mu3)
    tau1 = p1 * math.exp(-mu1) * mu1 + p2 * math.exp(-mu2) * mu2
    assert tau0 == pytest.approx(0.2744058 + 0.2456192 + 0.2, rel=1e-6)

    ln_term = math.log(21 / eps_sec)  # ln(2.1e10) = 23.76779...
    assert ln_term == pytest.approx(23.76779, rel=1e-6)

    def bounds(n: tuple[float, float, float]) -> tuple[float, float]:
        d = math.sqrt(sum(n) / 2 * ln_term)
        n1p = math.exp(mu1) / p1 * (n[0] + d)
        n2m = math.exp(mu2) / p2 * (n[1] - d)
        n2p = math.exp(mu2) / p2 * (n[1] + d)
        n3m = math.exp(mu3) / p3 * (n[2] - d)
        n3p = math.exp(mu3) / p3 * (n[2] + d)
        s0 = max(tau0 * (mu2 * n3m - mu3 * n2p) / (mu2 - mu3), 0.0)
        s1 = (
            tau1
            * mu1
            * (n2m - n3p - (mu2**2 - mu3**2) / mu1**2 * (n1p - s0 / tau0))
            / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
        )
        return s0, s1

    s_x0, s_x1 = bounds(n_x)
    s_z0, s_z1 = bounds(n_z)
    dm = math.sqrt(sum(m_z) / 2 * ln_term)
    m2p = math.exp(mu2) / p2 * (m_z[1] + dm)
    m3m = math.exp(mu3) / p3 * (m_z[2] - dm)
    v_z1 = tau1 * (m2p - m3m) / (mu2 - mu3)
    b = v_z1 / s_z1
    c, d = s_z1, s_x1
    gamma = math.sqrt(
        (c + d)
        * (1 - b)
        * b
        / (c * d * math.log(2))
        * math.log2((c + d) / (c * d * (1 - b) * b) * 21**2 / eps_sec**2)
    )
    phi = b + gamma
    length = (
        s_x0 + s_x1 - s_x1 * _h(phi) - leak - 6 * math.log2(21 / eps_sec) - math.log2(2 / eps_cor)
    )

    # Pinned values of this example (a change to the formula shows here first).
    assert s_x0 == pytest.approx(44755.4, rel=1e-5)  # 0.720025 * (2e4 - 7568.4) / 0.2
    assert 0.0 < phi < 0.5

    got = lim2014_key_length(
        DecoyCounts(n_x=n_x, n_z=n_z, m_x=m_x, m_z=m_z),
        (mu1, mu2, mu3),
        (p1, p2, p3),
        leak_ec_bits=leak,
        epsilon_sec=eps_sec,
        epsilon_cor=eps_cor,
    )
    assert got.s_x0 == pytest.approx(s_x0, rel=1e-9)
    assert got.s_x1 == pytest.approx(s_x1, rel=1e-9)
    assert got.s_z0 == pytest.approx(s_z0, rel=1e-9)
    assert got.s_z1 == pytest.approx(s_z1, rel=1e-9)
    assert got.v_z1 == pytest.approx(v_z1, rel=1e-9)
    assert got.phi_x == pytest.approx(phi, rel=1e-9)
    assert got.key_length_real == pytest.approx(length, rel=1e-9)
    assert got.key_length_bits == math.floor(length) == 2_024_032
    assert got.positive
    assert got.n_x == pytest.approx(sum(n_x))


def _model_counts(
    n_pulses: float, eta: float, *, qx: float = 0.7, y0: float = 2e-6, e_d: float = 0.01
) -> tuple[DecoyCounts, np.ndarray, np.ndarray, float, float]:
    """Expected counts of Ma's channel model, and the true single-photon X count and e1."""
    mu = np.array([0.5, 0.1, 0.0])
    p = np.array([0.6, 0.25, 0.15])
    gain = y0 + 1 - np.exp(-eta * mu)
    err = 0.5 * y0 + e_d * (1 - np.exp(-eta * mu))
    px, pz = qx * qx, (1 - qx) ** 2
    counts = DecoyCounts(
        n_x=n_pulses * p * px * gain,
        n_z=n_pulses * p * pz * gain,
        m_x=n_pulses * p * px * err,
        m_z=n_pulses * p * pz * err,
    )
    y1 = y0 + eta - y0 * eta
    e1 = (0.5 * y0 + e_d * eta) / y1
    true_s_x1 = n_pulses * px * float(np.sum(p * mu * np.exp(-mu))) * y1
    return counts, mu, p, true_s_x1, e1


def test_lim2014_bounds_are_valid_and_tighten_with_block_size() -> None:
    """On expected counts the bounds hold (s_x1 <= truth, phi_x >= e1) and tighten with N."""
    rel_gap = []
    for n_pulses in (1e9, 1e10, 1e11, 1e12):
        counts, mu, p, true_s1, e1 = _model_counts(n_pulses, 1e-2)
        bound = lim2014_key_length(
            counts, mu, p, leak_ec_bits=0.0, epsilon_sec=1e-10, epsilon_cor=1e-15
        )
        assert bound.s_x1 <= true_s1
        assert bound.phi_x >= e1
        rel_gap.append(1 - bound.s_x1 / true_s1)
    assert all(a > b for a, b in itertools.pairwise(rel_gap))
    # The finite-size part vanishes; what is left is the three-decoy asymptotic gap
    # (a few per cent for mu2 = 0.1), so 10 % is a loose ceiling at N = 1e12.
    assert rel_gap[-1] < 0.10


def test_lim2014_key_per_pulse_grows_with_block_size() -> None:
    rates = []
    for n_pulses in (1e8, 1e9, 1e10, 1e11):
        counts, mu, p, _, _ = _model_counts(n_pulses, 1e-2)
        leak = 1.16 * _h(counts.qber_x) * float(counts.n_x.sum())
        bound = lim2014_key_length(
            counts, mu, p, leak_ec_bits=leak, epsilon_sec=1e-10, epsilon_cor=1e-15
        )
        rates.append(bound.key_length_real / n_pulses)
    assert all(a < b for a, b in itertools.pairwise(rates))
    assert rates[-1] > 0


def test_lim2014_no_key_when_errors_are_high() -> None:
    counts, mu, p, _, _ = _model_counts(1e10, 1e-2, e_d=0.2)
    leak = 1.16 * _h(counts.qber_x) * float(counts.n_x.sum())
    bound = lim2014_key_length(
        counts, mu, p, leak_ec_bits=leak, epsilon_sec=1e-10, epsilon_cor=1e-15
    )
    assert not bound.positive
    assert bound.key_length_bits == 0


@pytest.mark.parametrize(
    "intensities",
    [(0.5, 0.4, 0.2), (0.1, 0.5, 0.0), (0.5, 0.1, 0.1), (0.5, 0.1, -0.01), (0.5, 0.1)],
)
def test_lim2014_rejects_unusable_intensities(intensities: tuple[float, ...]) -> None:
    counts = DecoyCounts(n_x=[10, 10, 10], n_z=[10, 10, 10], m_x=[1, 1, 1], m_z=[1, 1, 1])
    with pytest.raises(ValueError, match="intensities"):
        lim2014_key_length(
            counts,
            intensities,
            (0.5, 0.3, 0.2),
            leak_ec_bits=0,
            epsilon_sec=1e-10,
            epsilon_cor=1e-15,
        )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"leak_ec_bits": -1.0}, "leak_ec_bits"),
        ({"epsilon_sec": 0.0}, "epsilon_sec"),
        ({"epsilon_cor": 1.5}, "epsilon_cor"),
    ],
)
def test_lim2014_rejects_bad_parameters(kwargs: dict[str, float], name: str) -> None:
    counts = DecoyCounts(n_x=[10, 10, 10], n_z=[10, 10, 10], m_x=[1, 1, 1], m_z=[1, 1, 1])
    args: dict[str, float] = {"leak_ec_bits": 0.0, "epsilon_sec": 1e-10, "epsilon_cor": 1e-15}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        lim2014_key_length(counts, (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), **args)


def test_lim2014_rejects_bad_probabilities() -> None:
    counts = DecoyCounts(n_x=[10, 10, 10], n_z=[10, 10, 10], m_x=[1, 1, 1], m_z=[1, 1, 1])
    with pytest.raises(ValueError, match="probabilities"):
        lim2014_key_length(
            counts,
            (0.5, 0.1, 0.0),
            (0.5, 0.5, 0.0),
            leak_ec_bits=0,
            epsilon_sec=1e-10,
            epsilon_cor=1e-15,
        )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_x": [1, 2]}, "one entry per intensity"),
        ({"m_x": [20, 1, 1]}, "m_x"),
        ({"n_z": [-1, 1, 1]}, "n_z"),
    ],
)
def test_decoy_counts_validate(kwargs: dict[str, list[float]], name: str) -> None:
    args: dict[str, list[float]] = {
        "n_x": [10, 10, 10],
        "n_z": [10, 10, 10],
        "m_x": [1, 1, 1],
        "m_z": [1, 1, 1],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        DecoyCounts(**args)  # type: ignore[arg-type]


def test_gamma_limits() -> None:
    assert lim2014_gamma(1e-10, 0.0, 1e6, 1e6) == 0.0
    small = lim2014_gamma(1e-10, 0.02, 1e8, 1e8)
    large = lim2014_gamma(1e-10, 0.02, 1e4, 1e4)
    assert 0 < small < large
    with pytest.raises(ValueError, match="c and d"):
        lim2014_gamma(1e-10, 0.02, 0.0, 1e4)


def test_vacuum_weak_hand_worked() -> None:
    """Ma et al. 2005 Eq. (34)/(37) evaluated by hand for round numbers.

    Q_mu = 1e-2, Q_nu = 1.1e-3, E_mu = 3 %, E_nu = 4 %, mu = 0.5, nu = 0.05, Y0 = 1e-5:
    Y1^L = 0.5/(0.025 - 0.0025) [1.1e-3 e^0.05 - 1e-2 e^0.5 (0.01) - (0.2475/0.25) 1e-5].
    """
    y1 = (
        0.5
        / (0.5 * 0.05 - 0.05**2)
        * (1.1e-3 * math.exp(0.05) - 1e-2 * math.exp(0.5) * 0.01 - 0.99 * 1e-5)
    )
    e1 = (0.04 * 1.1e-3 * math.exp(0.05) - 0.5 * 1e-5) / (y1 * 0.05)
    got = vacuum_weak_bounds((1e-2, 1.1e-3), (0.03, 0.04), mu=0.5, nu=0.05, y0=1e-5)
    assert got.y1_lower == pytest.approx(y1, rel=1e-12)
    assert got.e1_upper == pytest.approx(e1, rel=1e-12)
    assert got.q1_lower == pytest.approx(y1 * 0.5 * math.exp(-0.5), rel=1e-12)
    assert got.y1_lower == pytest.approx(0.021814, rel=1e-4)


def test_vacuum_weak_bounds_tight_for_small_decoy() -> None:
    """For nu -> 0, Ma's bounds approach the true Y1 and e1 of the channel model."""
    eta, y0, e_d, mu = 1e-2, 1.7e-6, 0.033, 0.48
    y1_true = y0 + eta - y0 * eta
    e1_true = (0.5 * y0 + e_d * eta) / y1_true
    previous = 0.0
    for nu in (0.2, 0.1, 0.05, 0.01):
        gains = [y0 + 1 - math.exp(-eta * k) for k in (mu, nu)]
        qbers = [
            (0.5 * y0 + e_d * (1 - math.exp(-eta * k))) / g
            for k, g in zip((mu, nu), gains, strict=True)
        ]
        b = vacuum_weak_bounds(gains, qbers, mu=mu, nu=nu, y0=y0)
        assert b.y1_lower <= y1_true
        assert b.e1_upper >= e1_true
        assert b.y1_lower > previous
        previous = b.y1_lower
    # Ma et al. (2005) Sec. VI: at nu -> 0 the bound is tight; at nu = 0.01 the gap is the
    # second-order term of their expansion, well under 1 %.
    assert previous == pytest.approx(y1_true, rel=1e-2)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"nu": 0.6}, "nu"), ({"nu": 0.0}, "nu"), ({"y0": -1e-6}, "y0")],
)
def test_vacuum_weak_rejects_bad_input(kwargs: dict[str, float], name: str) -> None:
    args = {"mu": 0.5, "nu": 0.1, "y0": 1e-6}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        vacuum_weak_bounds((1e-2, 1e-3), (0.03, 0.03), **args)


def test_gllp_hand_worked() -> None:
    # 0.5 * (-1e-2 * 1.22 * h(0.03) + 5e-3 * (1 - h(0.035)))
    expected = 0.5 * (-1e-2 * 1.22 * _h(0.03) + 5e-3 * (1 - _h(0.035)))
    got = gllp_key_rate(1e-2, 0.03, 5e-3, 0.035, error_correction_efficiency=1.22)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(7.67e-4, rel=1e-3)
    with pytest.raises(ValueError, match="error_correction_efficiency"):
        gllp_key_rate(1e-2, 0.03, 5e-3, 0.035, error_correction_efficiency=0.9)
    with pytest.raises(ValueError, match="sifting_factor"):
        gllp_key_rate(1e-2, 0.03, 5e-3, 0.035, error_correction_efficiency=1.1, sifting_factor=0)


def test_three_intensity_bounds_are_the_limit_of_lim2014() -> None:
    """For N -> infinity the finite bounds per pulse approach the asymptotic ones:
    s_x1 / (N q_x^2 tau_1) -> Y1^L and s_x0 / (N q_x^2 tau_0) -> Y0^L. At N = 1e18 the
    Hoeffding term sqrt(n_X) is ~1e-7 of the signal counts (hence 1e-4) but ~1e-3 of the
    few vacuum-intensity counts (hence 5e-3 for Y0)."""
    n_pulses = 1e18
    counts, mu, p, _, _ = _model_counts(n_pulses, 1e-2)
    bound = lim2014_key_length(
        counts, mu, p, leak_ec_bits=0.0, epsilon_sec=1e-10, epsilon_cor=1e-15
    )
    gains = counts.n_x / (n_pulses * p * 0.49)
    qbers = counts.m_x / counts.n_x
    asym = three_intensity_bounds(gains, qbers, mu)
    tau0 = float(np.sum(p * np.exp(-mu)))
    tau1 = float(np.sum(p * np.exp(-mu) * mu))
    assert bound.s_x1 / (n_pulses * 0.49 * tau1) == pytest.approx(asym.y1_lower, rel=1e-4)
    assert bound.s_x0 / (n_pulses * 0.49 * tau0) == pytest.approx(asym.y0, rel=5e-3)
    # e1 from the Z-basis errors (same channel, so the same rate)
    assert bound.v_z1 / bound.s_z1 == pytest.approx(asym.e1_upper, rel=1e-4)
    with pytest.raises(ValueError, match="intensities"):
        three_intensity_bounds(gains, qbers, (0.1, 0.5, 0.0))
