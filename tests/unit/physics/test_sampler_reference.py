"""The fast sampler and the per-pulse reference sampler draw from the same distribution.

Each test simulates a small block (10^5 - 4x10^5 pulses) at high transmittance with both
samplers (different fixed seeds), sorts every click into a category (intensity, bases,
error, double click, dark-only, afterpulse-only; plus non-clicking pulses per intensity),
and runs a chi-square test of homogeneity on the two count vectors. Dark counts are set
very high (1-3 %) so that dark-only and double clicks are plentiful. Each test also checks
the reference against the exact class probabilities (chi-square goodness of fit), which
tests the analytic click model against photon-by-photon simulation.

alpha = 1e-3 per test: with fixed seeds the outcome is deterministic; a correct sampler
fails a given test with probability 0.001 over the choice of seeds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting
from quaykey.physics.detectors import N_OUTCOMES
from quaykey.physics.params import (
    DecoySource,
    Detector,
    FibreChannel,
    LinkParams,
    SPDCSource,
)
from quaykey.physics.pulse_classes import bb84_class_probabilities, bbm92_pattern_probabilities
from quaykey.physics.sampler import LinkSample, simulate_link
from reference import per_pulse_sampler as ref

ALPHA = 1e-3


def _bb84_params(**detector: float) -> LinkParams:
    det = dict(
        efficiency=0.6,
        dark_count_probability=0.02,
        misalignment_error=0.05,
        afterpulse_probability=0.0,
        dead_time_s=0.0,
    )
    det.update(detector)
    return LinkParams(
        source=DecoySource(
            intensities=(0.8, 0.2, 0.0),
            probabilities=(0.5, 0.3, 0.2),
            basis_probability_x=0.7,
            repetition_rate_hz=1e9,
        ),
        channel=FibreChannel(length_km=5.0, attenuation_db_per_km=0.2),  # 1 dB
        detector=Detector(**det),
    )


def _categories(
    k: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    err: np.ndarray,
    double: np.ndarray,
    dark: np.ndarray,
    ap: np.ndarray,
    pulses_per_k: np.ndarray,
) -> np.ndarray:
    """Counts per (k, a, b, err, double, dark, ap) for clicks, then no-click per k."""
    code = (((((k * 2 + a) * 2 + b) * 2 + err) * 2 + double) * 2 + dark) * 2 + ap
    n_k = pulses_per_k.size
    clicks = np.bincount(code.astype(np.int64), minlength=n_k * 64)
    quiet = pulses_per_k - np.bincount(k.astype(np.int64), minlength=n_k)
    return np.concatenate([clicks, quiet])


def _homogeneity(c1: np.ndarray, c2: np.ndarray) -> float:
    keep = (c1 + c2) > 0
    table = np.vstack([c1[keep], c2[keep]])
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _gof(observed: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square goodness of fit, pooling cells with expected count < 5 into one."""
    n = observed.sum()
    expected = probs / probs.sum() * n
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    return float(stats.chisquare(obs, exp).pvalue)


def _ref_outcome_cells(ev: ref.PulseEvents, n_k: int) -> np.ndarray:
    """Reference clicks as (k, a, b, outcome) cells, matching bb84_class_probabilities."""
    err = ev.alice_bit != ev.bob_bit
    o = np.where(
        ev.double,
        4,
        np.where(ev.dark_only, np.where(err, 3, 2), np.where(err, 1, 0)),
    )
    cell = ((ev.k * 2 + ev.a) * 2 + ev.b) * N_OUTCOMES + o
    counts = np.bincount(cell, minlength=n_k * 4 * N_OUTCOMES)
    # no-click pulses per (k): put them in the outcome-5 cells, split by bases below
    return counts


@pytest.mark.parametrize(
    ("attack", "length_km"),
    [
        (None, 5.0),
        (InterceptResend(1.0), 5.0),
        (InterceptResend(0.4), 5.0),
        (PhotonNumberSplitting(1.0), 15.0),  # Eve forwards some single photons (0 < s_1 < 1)
        (PhotonNumberSplitting(0.7), 50.0),  # Eve blocks singles and some multi (s_m < 1)
    ],
    ids=["honest", "ir-1", "ir-0.4", "pns-1-15km", "pns-0.7-50km"],
)
def test_bb84_fast_matches_per_pulse(attack: object, length_km: float) -> None:
    params = replace(
        _bb84_params(), channel=FibreChannel(length_km=length_km, attenuation_db_per_km=0.2)
    )
    if isinstance(attack, PhotonNumberSplitting):
        st = attack.strategy(params, params.channel.transmittance())
        if length_km < 20:
            assert 0.0 < st.single_forward_probability < 1.0
        else:
            assert st.single_forward_probability == 0.0
            assert 0.0 < st.multi_forward_probability < 1.0
    n = 300_000
    fast = simulate_link(params, n, np.random.default_rng(11), attack=attack)  # type: ignore[arg-type]
    slow = ref.simulate_bb84_per_pulse(params, n, np.random.default_rng(12), attack=attack)  # type: ignore[arg-type]
    c_fast = _categories_fast(fast)
    c_slow = _categories(
        slow.k,
        slow.a,
        slow.b,
        (slow.alice_bit != slow.bob_bit).astype(np.int64),
        slow.double.astype(np.int64),
        slow.dark_only.astype(np.int64),
        slow.afterpulse_only.astype(np.int64),
        slow.pulses_per_intensity,
    )
    assert c_fast.sum() == c_slow.sum() == n
    assert _homogeneity(c_fast, c_slow) > ALPHA
    # plenty of every kind of click, so the test has power for each class
    assert slow.dark_only.sum() > 300 and slow.double.sum() > 300
    assert fast.stats.dark_only_detections["vacuum"] > 500
    # the reference against the exact class probabilities (no-click pulses pooled per k)
    probs = bb84_class_probabilities(params, params.channel.transmittance(), attack)  # type: ignore[arg-type]
    observed = _ref_outcome_cells(slow, 3).reshape(3, 2, 2, N_OUTCOMES)
    quiet_obs = slow.pulses_per_intensity - observed.sum(axis=(1, 2, 3))
    obs = np.concatenate([observed[..., :5].ravel(), quiet_obs])
    exp = np.concatenate([probs[..., :5].ravel(), probs[..., 5].sum(axis=(1, 2))])
    assert _gof(obs, exp) > ALPHA


def _categories_fast(s: LinkSample) -> np.ndarray:
    al, bo = s.alice, s.bob
    flags = _truth_flags(s)
    return _categories(
        al.intensity.astype(np.int64),
        al.bases.astype(np.int64),
        bo.bases.astype(np.int64),
        (al.bits != bo.bits).astype(np.int64),
        flags[0],
        flags[1],
        flags[2],
        al.pulses_per_intensity,
    )


def _truth_flags(s: LinkSample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = s.bob_flags
    return (
        (t & 1).astype(np.int64),
        ((t >> 1) & 1).astype(np.int64),
        ((t >> 2) & 1).astype(np.int64),
    )


def test_bb84_dead_time_and_afterpulses_match_per_pulse() -> None:
    # 3 blind gates after each click and 15 % afterpulses, at a high click rate, so both
    # effects change the statistics a lot
    params = _bb84_params(dead_time_s=3e-9, afterpulse_probability=0.15, efficiency=0.5)
    n = 50_000
    fast = simulate_link(params, n, np.random.default_rng(21))
    slow = ref.simulate_bb84_per_pulse(params, n, np.random.default_rng(22))
    c_fast = _categories_fast(fast)
    c_slow = _categories(
        slow.k,
        slow.a,
        slow.b,
        (slow.alice_bit != slow.bob_bit).astype(np.int64),
        slow.double.astype(np.int64),
        slow.dark_only.astype(np.int64),
        slow.afterpulse_only.astype(np.int64),
        slow.pulses_per_intensity,
    )
    assert _homogeneity(c_fast, c_slow) > ALPHA
    assert slow.afterpulse_only.sum() > 500
    # timing: gaps between consecutive clicks of the bit-0 detector alone (single clicks
    # on 0 and double clicks): dead time forbids gaps 1..3, an afterpulse lands at gap 4
    bins = np.array([1, 4, 5, 6, 7, 8, 10, 14, 20, 40, 10**9])

    def det0_gaps(slots: np.ndarray, bits: np.ndarray, double: np.ndarray) -> np.ndarray:
        return np.histogram(np.diff(slots[(bits == 0) | double]), bins=bins)[0]

    h_fast = det0_gaps(fast.bob.slots, fast.bob.bits, (fast.bob_flags & 1).astype(bool))
    h_slow = det0_gaps(slow.slots, slow.bob_bit, slow.double)
    assert _homogeneity(h_fast, h_slow) > ALPHA


def test_slots_are_uniform_over_the_block() -> None:
    params = _bb84_params()
    n = 400_000
    fast = simulate_link(params, n, np.random.default_rng(31))
    slow = ref.simulate_bb84_per_pulse(params, n, np.random.default_rng(32))
    assert stats.kstest(fast.bob.slots / n, "uniform").pvalue > ALPHA
    assert stats.ks_2samp(fast.bob.slots, slow.slots).pvalue > ALPHA
    assert np.all(np.diff(fast.bob.slots) > 0)


@pytest.mark.parametrize("statistics", ["thermal", "poisson"])
def test_bbm92_fast_matches_per_pulse(statistics: str) -> None:
    params = LinkParams(
        source=SPDCSource(
            mean_pairs_per_pulse=0.3,
            basis_probability_x=0.6,
            repetition_rate_hz=1e8,
            statistics=statistics,  # type: ignore[arg-type]
        ),
        channel=FibreChannel(length_km=5.0, attenuation_db_per_km=0.2),
        detector=Detector(efficiency=0.6, dark_count_probability=0.02, misalignment_error=0.05),
    )
    n = 200_000
    fast = simulate_link(params, n, np.random.default_rng(41))
    ra, rb = ref.simulate_bbm92_per_pulse(params, n, np.random.default_rng(42))

    def joint(sa, ba, xa, da, sb, bb, xb, db) -> np.ndarray:  # type: ignore[no-untyped-def]
        # every slot in which anyone clicked: (Alice pattern, Bob pattern, bases if known)
        union = np.union1d(sa, sb)
        pa = np.zeros(union.size, np.int64)  # 0 none, 1 bit0, 2 bit1, 3 double(+bit)
        pb = np.zeros(union.size, np.int64)
        ia = np.searchsorted(union, sa)
        ib = np.searchsorted(union, sb)
        pa[ia] = 1 + xa + 2 * da
        pb[ib] = 1 + xb + 2 * db
        basis_a = np.full(union.size, 2)
        basis_b = np.full(union.size, 2)
        basis_a[ia] = ba
        basis_b[ib] = bb
        code = ((pa * 5 + pb) * 3 + basis_a) * 3 + basis_b
        out = np.bincount(code, minlength=5 * 5 * 9)
        return np.append(out, n - union.size)

    c_fast = joint(
        fast.alice.slots,
        fast.alice.bases.astype(np.int64),
        fast.alice.bits.astype(np.int64),
        (fast.alice_flags & 1).astype(np.int64),
        fast.bob.slots,
        fast.bob.bases.astype(np.int64),
        fast.bob.bits.astype(np.int64),
        (fast.bob_flags & 1).astype(np.int64),
    )
    c_slow = joint(
        ra.slots,
        ra.a,
        ra.alice_bit,
        ra.double.astype(np.int64),
        rb.slots,
        rb.b,
        rb.bob_bit,
        rb.double.astype(np.int64),
    )
    assert _homogeneity(c_fast, c_slow) > ALPHA
    assert fast.stats.detections["pair"] > 2000
    # the reference against the exact pattern probabilities of every (a, b, pattern)
    union = np.union1d(ra.slots, rb.slots)
    mask = np.zeros(union.size, np.int64)
    basis = np.zeros(union.size, np.int64)
    for ev, shift in ((ra, 0), (rb, 2)):
        pos = np.searchsorted(union, ev.slots)
        own = np.where(ev.double, 3, 1 << ev.alice_bit)
        mask[pos] |= own << shift
        basis[pos] = ev.a * 2 + ev.b
    observed = np.bincount(basis * 16 + mask, minlength=64)
    observed[[0, 16, 32, 48]] = 0
    probs = bbm92_pattern_probabilities(params, params.channel.transmittance()).reshape(64)
    quiet = probs[[0, 16, 32, 48]].sum()
    probs[[0, 16, 32, 48]] = 0.0
    obs = np.append(observed, n - union.size)
    exp = np.append(probs, quiet)
    keep = exp > 0
    assert _gof(obs[keep], exp[keep]) > ALPHA
