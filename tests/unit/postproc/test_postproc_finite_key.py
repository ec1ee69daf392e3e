"""Finite-key length of a block: one worked example pinned by hand, BBM92 bound, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from postproc_synth import make_protocol

from quaykey.postproc.estimate import ParameterEstimate, check_qber, estimate_counts
from quaykey.postproc.finite_key import bbm92_key_length, block_key_length

# Worked example (Lim et al. 2014, Eqs. 1-5), intensities (0.6, 0.2, 0.0) sent with
# probabilities (0.5, 0.3, 0.2), eps_sec = 1e-10, eps_cor = 1e-15, leak_EC = 30 000 bits.
N_X = (400_000, 60_000, 400)
N_Z = (200_000, 30_000, 200)
M_Z = (2_000, 350, 100)


def _by_hand() -> dict[str, float]:
    mu, p, eps_s, eps_c = (0.6, 0.2, 0.0), (0.5, 0.3, 0.2), 1e-10, 1e-15
    ln = math.log(21 / eps_s)
    tau0 = sum(pk * math.exp(-m) for pk, m in zip(p, mu, strict=True))
    tau1 = sum(pk * math.exp(-m) * m for pk, m in zip(p, mu, strict=True))

    def s01(n: tuple[int, ...]) -> tuple[float, float]:
        d = math.sqrt(sum(n) / 2 * ln)
        lo = [math.exp(m) / pk * (k - d) for m, pk, k in zip(mu, p, n, strict=True)]
        hi = [math.exp(m) / pk * (k + d) for m, pk, k in zip(mu, p, n, strict=True)]
        s0 = max(tau0 * (mu[1] * lo[2] - mu[2] * hi[1]) / (mu[1] - mu[2]), 0.0)
        s1 = (
            tau1
            * mu[0]
            * (lo[1] - hi[2] - (mu[1] ** 2 - mu[2] ** 2) / mu[0] ** 2 * (hi[0] - s0 / tau0))
            / (mu[0] * (mu[1] - mu[2]) - mu[1] ** 2 + mu[2] ** 2)
        )
        return s0, s1

    sx0, sx1 = s01(N_X)
    _, sz1 = s01(N_Z)
    d = math.sqrt(sum(M_Z) / 2 * ln)
    m_hi = [math.exp(m) / pk * (k + d) for m, pk, k in zip(mu, p, M_Z, strict=True)]
    m_lo = [math.exp(m) / pk * (k - d) for m, pk, k in zip(mu, p, M_Z, strict=True)]
    vz1 = tau1 * (m_hi[1] - m_lo[2]) / (mu[1] - mu[2])
    b = vz1 / sz1
    gamma = math.sqrt(
        (sz1 + sx1)
        * (1 - b)
        * b
        / (sz1 * sx1 * math.log(2))
        * math.log2((sz1 + sx1) / (sz1 * sx1 * (1 - b) * b) * 21**2 / eps_s**2)
    )
    phi = b + gamma
    h = -phi * math.log2(phi) - (1 - phi) * math.log2(1 - phi)
    ell = sx0 + sx1 - sx1 * h - 30_000 - 6 * math.log2(21 / eps_s) - math.log2(2 / eps_c)
    return {"s_x1": sx1, "s_z1": sz1, "v_z1": vz1, "phi_x": phi, "ell": ell}


def test_worked_example_pinned_by_hand() -> None:
    hand = _by_hand()
    # the numbers of the hand calculation, written down once
    assert hand["s_x1"] == pytest.approx(91545.43, abs=0.01)
    assert hand["s_z1"] == pytest.approx(38064.39, abs=0.01)
    assert hand["v_z1"] == pytest.approx(2721.35, abs=0.01)
    assert hand["phi_x"] == pytest.approx(0.086642, abs=1e-6)
    assert math.floor(hand["ell"]) == 22347

    est = ParameterEstimate(
        n_x=np.array(N_X), n_z=np.array(N_Z), m_z=np.array(M_Z), qber_z=sum(M_Z) / sum(N_Z)
    )
    bound = block_key_length(
        est,
        np.zeros(3, dtype=np.int64),
        make_protocol(),
        leak_ec_bits=30_000,
        epsilon_sec=1e-10,
        epsilon_cor=1e-15,
    )
    assert bound.key_length_bits == 22347
    assert bound.s_x1 == pytest.approx(hand["s_x1"], rel=1e-12)
    assert bound.phi_x == pytest.approx(hand["phi_x"], rel=1e-12)


def test_more_leakage_never_lengthens_the_key() -> None:
    est = ParameterEstimate(n_x=np.array(N_X), n_z=np.array(N_Z), m_z=np.array(M_Z), qber_z=0.01)
    lengths = [
        block_key_length(
            est,
            np.zeros(3),
            make_protocol(),
            leak_ec_bits=leak,
            epsilon_sec=1e-10,
            epsilon_cor=1e-15,
        ).key_length_bits
        for leak in (0, 10_000, 30_000, 60_000, 200_000)
    ]
    assert lengths == sorted(lengths, reverse=True) and lengths[-1] == 0


def test_bbm92_bound_by_hand() -> None:
    n, k, m, leak = 10**6, 10**5, 2000, 1.7e5
    mu = math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(2 / 1e-10))
    phi = 0.02 + mu
    h = -phi * math.log2(phi) - (1 - phi) * math.log2(1 - phi)
    ell = n * (1 - h) - leak - math.log2(2 / (1e-20 * 1e-15))
    b = bbm92_key_length(n, k, m, leak_ec_bits=leak, epsilon_sec=1e-10, epsilon_cor=1e-15)
    assert b.mu == pytest.approx(mu, rel=1e-12)
    assert b.key_length_bits == math.floor(ell) == 605517


def test_bad_counts_and_protocols() -> None:
    with pytest.raises(ValueError, match="m_z <= n_z"):
        bbm92_key_length(10, 5, 6, leak_ec_bits=0, epsilon_sec=1e-10, epsilon_cor=1e-15)
    with pytest.raises(ValueError, match="epsilon_cor"):
        bbm92_key_length(10, 5, 1, leak_ec_bits=0, epsilon_sec=1e-10, epsilon_cor=1.0)
    est = ParameterEstimate(
        n_x=np.array([5, 5]), n_z=np.array([5, 5]), m_z=np.array([0, 0]), qber_z=0
    )
    two = make_protocol(intensities=(0.5, 0.1), probabilities=(0.5, 0.5))
    with pytest.raises(ValueError, match="exactly three intensities"):
        block_key_length(
            est, np.zeros(2), two, leak_ec_bits=0, epsilon_sec=1e-10, epsilon_cor=1e-15
        )


def test_estimate_counts_and_qber_checks() -> None:
    own = np.array([0, 1, 1, 0], np.uint8)
    peer = np.array([0, 0, 1, 1], np.uint8)
    e = estimate_counts(own, peer, np.array([0, 0, 1, 2], np.uint8), np.array([1], np.uint8), 3)
    assert e.m_z.tolist() == [1, 0, 1] and e.n_z.tolist() == [2, 1, 1] and e.qber_z == 0.5
    with pytest.raises(ValueError, match="test-basis bits"):
        estimate_counts(own, peer[:3], np.zeros(4, np.uint8), np.zeros(0, np.uint8), 3)
    with pytest.raises(ValueError, match="qber_threshold must be in"):
        check_qber(0.01, 0.6)
    with pytest.raises(ValueError, match="qber must be in"):
        check_qber(-0.1, 0.11)
