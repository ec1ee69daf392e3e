"""Analytic key-rate models against the published numbers they reproduce.

Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) for the GYS link (asymptotic GLLP with infinite
decoys) and Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014) for the finite key.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from quaykey.physics.keyrate import (
    MODELS,
    afterpulse_background,
    click_probabilities,
    cutoff_distance_km,
    expected_gains_and_qbers,
    key_rate,
    key_rate_curve,
    plob_bound,
    single_photon_yield_and_error,
    system_transmittance,
    tgw_bound,
)
from quaykey.physics.params import (
    DecoySource,
    Detector,
    FreeSpaceChannel,
    LinkParams,
    SPDCSource,
    load_preset,
)


def _h(x: float) -> float:
    return 0.0 if x <= 0 or x >= 1 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def _ma2005_gys_rate(distance_km: float) -> tuple[float, float]:
    """Ma et al. (2005) infinite-decoy rate for GYS, written from their Eqs. (1), (5)-(8).

    Their exact model and Table I constants: alpha = 0.21 dB/km, eta_Bob = 0.045,
    Y0 = 1.7e-6, e0 = 1/2, e_d = 0.033, f = 1.22, q = 1/2; mu optimised on a fine grid.
    Returns (best rate per pulse, optimal mu).
    """
    eta = 10 ** (-0.21 * distance_km / 10) * 0.045
    y0, e0, ed, f, q = 1.7e-6, 0.5, 0.033, 1.22, 0.5
    y1 = y0 + eta - y0 * eta
    e1 = (e0 * y0 + ed * eta) / y1
    best = (-1.0, 0.0)
    for mu in np.arange(0.30, 0.70, 0.0005):
        gain = y0 + 1 - math.exp(-eta * mu)
        qber = (e0 * y0 + ed * (1 - math.exp(-eta * mu))) / gain
        rate = q * (-gain * f * _h(qber) + y1 * mu * math.exp(-mu) * (1 - _h(e1)))
        best = max(best, (rate, float(mu)))
    return best


# ----------------------------------------------------------------------------- (a) GYS


@pytest.mark.parametrize("distance_km", [0.0, 50.0, 100.0])
def test_gys_asymptotic_matches_ma2005(distance_km: float) -> None:
    """Within 2 % of Ma et al.'s model (the differences are second order in the dark-count
    probability: our two-detector model versus their Y0 + 1 - exp(-eta mu))."""
    expected, mu_expected = _ma2005_gys_rate(distance_km)
    got = key_rate(load_preset("gys", distance_km=distance_km), "asymptotic")
    assert got.secret_key_rate_per_pulse == pytest.approx(expected, rel=0.02)
    assert got.optimal_signal_intensity == pytest.approx(mu_expected, abs=0.01)


def test_gys_asymptotic_pinned_numbers() -> None:
    """The numbers recorded in docs/validation.md (analytic key rates) (0.5 % tolerance)."""
    rates = [
        key_rate(load_preset("gys", distance_km=d), "asymptotic").secret_key_rate_per_pulse
        for d in (0.0, 50.0, 100.0)
    ]
    assert rates == pytest.approx([2.555e-3, 2.226e-4, 1.719e-5], rel=5e-3)


def test_gys_cutoff_and_optimal_mu_match_ma2005() -> None:
    """Ma et al. (2005): GYS infinite-decoy cutoff about 142 km, optimal mu about 0.48."""
    cutoff = cutoff_distance_km(load_preset("gys"), "asymptotic")
    assert cutoff == pytest.approx(142.0, abs=2.0)
    mu = key_rate(load_preset("gys", distance_km=50), "asymptotic").optimal_signal_intensity
    assert mu == pytest.approx(0.48, abs=0.02)


def test_gys_vacuum_weak_close_to_infinite_decoy() -> None:
    """Ma et al. (2005): vacuum + weak decoy (nu = 0.05) comes close to the infinite-decoy
    limit; its rate is lower and its cutoff a little shorter."""
    for d in (10.0, 80.0):
        p = load_preset("gys", distance_km=d)
        inf = key_rate(p, "asymptotic").secret_key_rate_per_pulse
        vw = key_rate(p, "vacuum-weak").secret_key_rate_per_pulse
        assert 0.85 * inf < vw < inf
    cut_vw = cutoff_distance_km(load_preset("gys"), "vacuum-weak")
    assert 138.0 < cut_vw < 142.2


# ----------------------------------------------------------------------------- (b) finite


def _lim2014_paper(distance_km: float = 50.0) -> LinkParams:
    """The lim2014 preset with the paper's own afterpulse approximation (D (1 + p_ap))."""
    p = load_preset("lim2014", distance_km=distance_km)
    return replace(p, detector=replace(p.detector, afterpulse_model="lim2014"))


def test_lim2014_ratio_at_100_km() -> None:
    """Lim et al. (2014), text under Fig. 1: at 100 km R(n_X=1e9) is about 1.75 R(n_X=1e7).
    Their afterpulse approximation; measured 1.780."""
    p = _lim2014_paper(100)
    r7 = key_rate(p, "finite", block_bits=1e7).secret_key_rate_per_pulse
    r9 = key_rate(p, "finite", block_bits=1e9).secret_key_rate_per_pulse
    assert r9 / r7 == pytest.approx(1.75, rel=0.10)


def test_lim2014_ratio_holds_with_next_gate_afterpulses() -> None:
    """The same claim with the sampler's afterpulse model (the preset's default): measured
    1.681 (6.203e-5 / 1.0424e-4), still inside the paper's 1.75 +- 10 %."""
    p = load_preset("lim2014", distance_km=100)
    assert p.detector.afterpulse_model == "next-gate"
    r7 = key_rate(p, "finite", block_bits=1e7).secret_key_rate_per_pulse
    r9 = key_rate(p, "finite", block_bits=1e9).secret_key_rate_per_pulse
    assert r9 / r7 == pytest.approx(1.75, rel=0.10)
    assert r9 / r7 == pytest.approx(1.681, rel=0.01)


def test_lim2014_small_block_reaches_135_km() -> None:
    """Lim et al. (2014): with n_X = 1e4 keys are still possible up to 135 km (+-3 km: the
    paper gives the number in its text only, and the optimum near the cutoff is flat).
    Their afterpulse approximation: measured 135.2 km. With next-gate afterpulses the
    cutoff is 144.9 km (recorded in docs/validation.md (analytic key rates))."""
    cutoff = cutoff_distance_km(_lim2014_paper(), "finite", block_bits=1e4)
    assert cutoff == pytest.approx(135.0, abs=3.0)


def test_finite_monotone_in_block_size_and_converges() -> None:
    p = load_preset("lim2014", distance_km=50)
    rates = [
        key_rate(p, "finite", block_bits=n).secret_key_rate_per_pulse
        for n in (1e4, 1e5, 1e6, 1e7, 1e9, 1e12, 1e16)
    ]
    assert all(a < b for a, b in itertools.pairwise(rates))
    limit = key_rate(p, "three-intensity").secret_key_rate_per_pulse
    assert rates[-1] < limit
    # The finite-size terms fall like 1/sqrt(n_X); at n_X = 1e16 we are within 10 %.
    assert rates[-1] > 0.9 * limit


def test_finite_monotone_in_distance() -> None:
    curve = key_rate_curve(
        load_preset("lim2014"), "finite", [0, 25, 50, 75, 100, 125], block_bits=1e6
    )
    rates = [r.secret_key_rate_per_pulse for r in curve]
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[-1] > 0


def test_finite_result_reports_parameters() -> None:
    r = key_rate(load_preset("lim2014", distance_km=50), "finite", block_bits=1e6)
    opt = r.optimal_parameters
    assert set(opt) == {"q_x", "p_mu1", "p_mu2", "p_mu3", "mu1", "mu2", "mu3"}
    assert opt["p_mu1"] + opt["p_mu2"] + opt["p_mu3"] == pytest.approx(1.0)
    assert opt["mu1"] > opt["mu2"] + opt["mu3"]
    assert opt["mu3"] == 2e-4
    assert r.optimal_signal_intensity == opt["mu1"]
    assert r.block_bits == 1e6
    assert r.secret_key_rate_bps == pytest.approx(r.secret_key_rate_per_pulse * 1e9)


# ----------------------------------------------------------------------------- other models


def test_bbm92_positive_and_below_bounds() -> None:
    r = key_rate(load_preset("gys", distance_km=50), "bbm92")
    assert 0 < r.secret_key_rate_per_pulse < r.plob_bound_per_pulse
    assert 0 < r.optimal_signal_intensity < 1
    assert r.qber < 0.11


def test_bbm92_accepts_spdc_source() -> None:
    p = replace(load_preset("gys", distance_km=20), source=SPDCSource(mean_pairs_per_pulse=0.1))
    r = key_rate(p, "bbm92", optimise=False)
    assert r.optimal_signal_intensity == 0.1
    assert r.secret_key_rate_per_pulse > 0
    assert set(expected_gains_and_qbers(p)) == {"pair"}


def test_free_space_channel() -> None:
    r = key_rate(load_preset("micius-2017", loss_db=30.0), "asymptotic")
    assert r.channel_transmittance == pytest.approx(1e-3)
    assert 0 < r.secret_key_rate_per_pulse < r.plob_bound_per_pulse


def test_without_optimisation_uses_source_settings() -> None:
    r = key_rate(load_preset("gys", distance_km=20), "asymptotic", optimise=False)
    assert r.optimal_signal_intensity == 0.48


# ----------------------------------------------------------------------------- detection model


def test_click_model_reduces_to_ma2005_first_order() -> None:
    """Exact two-detector model against Q = Y0 + 1 - e^{-eta mu} (Ma et al. Eq. 5): the
    difference is O(p_d * eta * mu), here < 1e-6 relative."""
    det = Detector(dark_count_probability=8.5e-7, misalignment_error=0.033, efficiency=0.045)
    eta = 1e-3
    gain, err = click_probabilities(eta, [0.5, 0.1, 0.0], det)
    y0 = 1.7e-6
    for k, g, e in zip((0.5, 0.1, 0.0), gain, err, strict=True):
        ma_gain = y0 + 1 - math.exp(-eta * k)
        ma_err = 0.5 * y0 + 0.033 * (1 - math.exp(-eta * k))
        assert g == pytest.approx(ma_gain, rel=1e-3)
        assert e == pytest.approx(ma_err, rel=1e-3)


def test_single_photon_model() -> None:
    det = Detector(dark_count_probability=1e-6, misalignment_error=0.02)
    y1, e1 = single_photon_yield_and_error(0.01, det)
    assert y1 == pytest.approx(2e-6 + 0.01, rel=1e-4)
    assert e1 == pytest.approx((1e-6 + 0.02 * 0.01) / y1, rel=1e-3)


def test_lim2014_afterpulse_model_scales_each_pulse() -> None:
    """Lim et al. (2014) approximation: gain D (1 + p_ap), errors + p_ap D / 2."""
    base = Detector(dark_count_probability=6e-7, misalignment_error=5e-3)
    with_ap = replace(base, afterpulse_probability=0.04, afterpulse_model="lim2014")
    g0, e0 = click_probabilities(0.01, [0.5], base)
    g1, e1 = click_probabilities(0.01, [0.5], with_ap)
    assert g1[0] == pytest.approx(1.04 * g0[0])
    assert e1[0] == pytest.approx(e0[0] + 0.02 * g0[0])
    y0, _ = single_photon_yield_and_error(0.01, base)
    y1, _ = single_photon_yield_and_error(0.01, with_ap)
    assert y1 == pytest.approx(1.04 * y0)


# p_ap = 4 %, two intensities: the afterpulse background of the mix, written out
_AP_DET = Detector(
    dark_count_probability=6e-7, misalignment_error=5e-3, afterpulse_probability=0.04
)


def _fires(eta: float, k: float, routing: float) -> float:
    return 1.0 - (1.0 - 6e-7) * math.exp(-eta * k * routing)


def test_afterpulse_background_written_out() -> None:
    """a1 = p_ap * P(a given detector fires for real), averaged over the mix and over
    matching (routing 1 - e_d / e_d) and non-matching (1/2) bases; a2 = p_ap^2 P(both)."""
    eta, ks, ps, m = 0.01, (0.5, 0.1), (0.7, 0.3), 0.82
    a1, a2 = afterpulse_background(eta, ks, ps, _AP_DET, basis_match_probability=m)
    one = both = 0.0
    for k, p in zip(ks, ps, strict=True):
        fc, fw, fh = _fires(eta, k, 1 - 5e-3), _fires(eta, k, 5e-3), _fires(eta, k, 0.5)
        one += p * (m * (fc + fw) / 2 + (1 - m) * fh)
        both += p * (m * fc * fw + (1 - m) * fh * fh)
    assert a1 == pytest.approx(0.04 * one, rel=1e-12)
    assert a2 == pytest.approx(0.04**2 * both, rel=1e-12)
    # first order: p_ap (p_d + eta mean(k) / 2)
    assert a1 == pytest.approx(0.04 * (6e-7 + eta * (0.7 * 0.5 + 0.3 * 0.1) / 2), rel=1e-2)
    assert afterpulse_background(eta, ks, ps, replace(_AP_DET, afterpulse_probability=0)) == (
        0.0,
        0.0,
    )


def test_next_gate_afterpulses_add_the_same_background_to_every_intensity() -> None:
    """Every gate, the vacuum included, gets a1 per detector with a random bit: to first
    order Q'_k = 1 - (1 - Q_k)(1 - 2 a1), errors E_k Q_k (1 - 2 a1) + a1 (exact to O(a1 Q_k))."""
    eta, ks, ps = 0.01, np.array([0.5, 0.1, 0.0]), np.array([0.7, 0.2, 0.1])
    base = replace(_AP_DET, afterpulse_probability=0.0)
    q, e = click_probabilities(eta, ks, base)
    g, err = click_probabilities(eta, ks, _AP_DET, probabilities=ps)
    a1, a2 = afterpulse_background(eta, ks, ps, _AP_DET)
    assert g == pytest.approx(1 - (1 - q) * (1 - 2 * a1 + a2), rel=1e-12)
    assert err == pytest.approx(e * (1 - 2 * a1) + a1, rel=2e-3)
    assert err[2] / g[2] == pytest.approx(0.5, abs=1e-9)  # vacuum: random bits only
    assert g[2] > 50 * q[2]  # the vacuum gain is mostly afterpulses here
    # a precomputed background gives the same numbers
    g2, err2 = click_probabilities(eta, ks, _AP_DET, background=(a1, a2))
    assert np.array_equal(g, g2) and np.array_equal(err, err2)


def test_single_photon_yield_is_consistent_with_the_gains() -> None:
    """Q_k = sum_n P_k(n) Y_n with the same background for every n: dQ/dk at k = 0 is
    Y1 - Y0, so Q(k) = Y0 + k (Y1 - Y0) + O(k^2) (checked at k = 1e-6, rel. 1e-5); the
    same for the error probabilities."""
    eta, k = 0.02, 1e-6
    bg = afterpulse_background(eta, [0.5, 0.0], [0.8, 0.2], _AP_DET)
    (q0, qk), (e0, ek) = click_probabilities(eta, [0.0, k], _AP_DET, background=bg)
    y1, e1 = single_photon_yield_and_error(eta, _AP_DET, background=bg)
    assert qk == pytest.approx(q0 + k * (y1 - q0), rel=1e-9)
    assert (qk - q0) / k == pytest.approx(y1 - q0, rel=1e-5)
    assert (ek - e0) / k == pytest.approx(e1 * y1 - e0, rel=1e-5)
    assert y1 > single_photon_yield_and_error(eta, replace(_AP_DET, afterpulse_probability=0))[0]


def test_next_gate_afterpulses_need_the_intensity_mix() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        click_probabilities(0.01, [0.5], _AP_DET)
    with pytest.raises(ValueError, match="background"):
        single_photon_yield_and_error(0.01, _AP_DET)
    with pytest.raises(ValueError, match="probabilities"):
        click_probabilities(0.01, [0.5, 0.1], _AP_DET, probabilities=[1.0])
    with pytest.raises(ValueError, match="probabilities"):
        afterpulse_background(0.01, [0.5, 0.1], [0.5, 0.6], _AP_DET)
    with pytest.raises(ValueError, match="basis_match_probability"):
        afterpulse_background(0.01, [0.5], [1.0], _AP_DET, basis_match_probability=1.5)
    with pytest.raises(ValueError, match="afterpulse_model"):
        Detector(afterpulse_model="same-gate")  # type: ignore[arg-type]
    # no afterpulses: no mix needed
    click_probabilities(0.01, [0.5], replace(_AP_DET, afterpulse_probability=0.0))


@pytest.mark.parametrize("model", ["asymptotic", "vacuum-weak", "three-intensity"])
def test_next_gate_afterpulses_cost_key(model: str) -> None:
    """The background adds errors to every intensity: the rate drops below the rate of the
    same link without afterpulses."""
    p = load_preset("backbone", distance_km=50)
    no_ap = replace(p, detector=replace(p.detector, afterpulse_probability=0.0))
    with_ap = key_rate(p, model).secret_key_rate_per_pulse
    assert 0 < with_ap < key_rate(no_ap, model).secret_key_rate_per_pulse


def test_expected_gains_and_qbers_keys_and_values() -> None:
    p = load_preset("gys", distance_km=50)
    out = expected_gains_and_qbers(p)
    assert list(out) == ["signal", "decoy", "vacuum"]
    eta = system_transmittance(p)
    gain_sig, qber_sig = out["signal"]
    assert gain_sig == pytest.approx(1 - (1 - 8.5e-7) ** 2 * math.exp(-eta * 0.48), rel=1e-12)
    assert 0.033 < qber_sig < 0.035
    assert out["vacuum"][1] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("preset", ["lim2014", "backbone"])
def test_expected_gains_use_the_source_mix_for_afterpulses(preset: str) -> None:
    """The vacuum (or weak vacuum) gain is dark counts plus the afterpulses that the
    source's own mix leaves (p_ap times the average light+dark click probability)."""
    p = load_preset(preset, distance_km=50)
    src = p.source
    assert isinstance(src, DecoySource)
    eta = system_transmittance(p)
    out = expected_gains_and_qbers(p)
    qx = src.basis_probability_x
    a1, a2 = afterpulse_background(
        eta,
        src.intensities,
        src.probabilities,
        p.detector,
        basis_match_probability=qx**2 + (1 - qx) ** 2,
    )
    q_vac = 1 - (1 - p.detector.dark_count_probability) ** 2 * math.exp(-eta * src.intensities[2])
    assert out[src.names[2]][0] == pytest.approx(1 - (1 - q_vac) * (1 - 2 * a1 + a2), rel=1e-12)
    mean_k = sum(k * q for k, q in zip(src.intensities, src.probabilities, strict=True))
    pd = p.detector.dark_count_probability
    assert a1 == pytest.approx(
        p.detector.afterpulse_probability * (pd + eta * mean_k / 2), rel=0.02
    )


def test_plob_and_tgw_reference_values() -> None:
    """Digest table at 0.2 dB/km: 100 km -> PLOB 1.45e-2, TGW 2.89e-2 bits per use."""
    eta = 10 ** (-0.2 * 100 / 10)
    assert plob_bound(eta) == pytest.approx(1.45e-2, rel=5e-3)
    assert tgw_bound(eta) == pytest.approx(2.89e-2, rel=5e-3)
    assert plob_bound(0.0) == 0.0
    assert math.isinf(plob_bound(1.0))
    assert tgw_bound(eta) > plob_bound(eta)


# ----------------------------------------------------------------------------- (d) bad input


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: key_rate(load_preset("gys"), "magic"), "model"),
        (lambda: key_rate(load_preset("gys"), "finite"), "block_bits"),
        (lambda: key_rate(load_preset("gys"), "finite", block_bits=-5), "block_bits"),
        (lambda: key_rate(load_preset("gys"), "finite", block_bits=math.nan), "block_bits"),
        (lambda: plob_bound(1.5), "transmittance"),
        (lambda: tgw_bound(-0.1), "transmittance"),
        (
            lambda: key_rate(replace(load_preset("gys"), source=SPDCSource()), "asymptotic"),
            "source",
        ),
        (
            lambda: key_rate(
                replace(load_preset("lim2014"), source=DecoySource(intensities=(0.5, 0.4, 0.2))),
                "finite",
                block_bits=1e6,
            ),
            "intensities",
        ),
        (
            lambda: cutoff_distance_km(
                replace(load_preset("gys"), channel=FreeSpaceChannel()), "asymptotic"
            ),
            "fibre",
        ),
        (lambda: key_rate_curve(load_preset("gys"), "asymptotic", [10, -1]), "distances_km"),
    ],
)
def test_bad_input_names_the_parameter(call: object, name: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=name):
        call()


def test_models_tuple() -> None:
    assert set(MODELS) == {"asymptotic", "vacuum-weak", "three-intensity", "finite", "bbm92"}


def test_physics_package_reexports_the_public_api() -> None:
    import quaykey.physics as physics
    from quaykey.physics import keyrate, sampler

    assert physics.__all__ == sorted(physics.__all__)
    for name in physics.__all__:
        assert getattr(physics, name) is not None, name
    assert physics.key_rate is keyrate.key_rate
    assert physics.simulate_link is sampler.simulate_link
    assert physics.load_preset("gys", 50).name == "gys"
    with pytest.raises(AttributeError):
        _ = physics.no_such_name  # type: ignore[attr-defined]
