"""Each numba kernel of physics/_kernels.py agrees with its slow twin in tests/reference.

Deterministic kernels are compared exactly; random ones by chi-square tests with fixed
seeds at alpha = 1e-3 (a correct kernel fails one with probability 0.001 over seeds).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from quaykey.physics._kernels import (
    detector_timeline,
    fill_bb84_events,
    sorted_random_subset,
    tally_bb84,
)
from reference import per_pulse_sampler as ref

ALPHA = 1e-3


@pytest.mark.parametrize(("n", "d"), [(8, 3), (9, 2), (40, 2)])
def test_sorted_random_subset_is_uniform_like_reference(n: int, d: int) -> None:
    # n = 8, 9 use the dense path (4 d >= n); n = 40 the sparse geometric-gap path
    subsets = {c: i for i, c in enumerate(combinations(range(n), d))}
    draws = 6 * len(subsets) * 20
    fast_rng, ref_rng = np.random.default_rng(1), np.random.default_rng(2)
    c_fast = np.zeros(len(subsets), np.int64)
    c_ref = np.zeros(len(subsets), np.int64)
    for _ in range(draws):
        c_fast[subsets[tuple(sorted_random_subset(fast_rng, n, d).tolist())]] += 1
        c_ref[subsets[tuple(ref.sorted_random_subset_reference(ref_rng, n, d).tolist())]] += 1
    assert stats.chisquare(c_fast).pvalue > ALPHA
    assert stats.chisquare(c_ref).pvalue > ALPHA
    assert stats.chi2_contingency(np.vstack([c_fast, c_ref])).pvalue > ALPHA


def test_sorted_random_subset_sparse_marginals_and_edges() -> None:
    rng = np.random.default_rng(3)
    n, d = 1000, 20
    hits = np.zeros(n, np.int64)
    for _ in range(2000):
        s = sorted_random_subset(rng, n, d)
        assert s.size == d and np.all(np.diff(s) > 0) and s[0] >= 0 and s[-1] < n
        hits[s] += 1
    # every index is included with probability d / n
    assert stats.chisquare(hits).pvalue > ALPHA
    assert sorted_random_subset(rng, 10, 10).tolist() == list(range(10))
    assert sorted_random_subset(rng, 10**15, 0).size == 0
    big = sorted_random_subset(rng, 10**15, 1000)
    assert big.size == 1000 and np.all(np.diff(big) > 0) and big[-1] < 10**15
    with pytest.raises(ValueError, match="d must be"):
        sorted_random_subset(rng, 5, 6)


def _random_fire(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.random((n, 2)) < p


@pytest.mark.parametrize(("dead", "p_ap"), [(0, 0.0), (3, 0.0), (0, 1.0), (2, 1.0), (5, 1.0)])
def test_detector_timeline_matches_reference_exactly_when_deterministic(
    dead: int, p_ap: float
) -> None:
    fire = _random_fire(np.random.default_rng(4), 5000, 0.15)
    slots_in = np.flatnonzero(fire.any(axis=1))
    s, f0, f1, src, ap = detector_timeline(
        np.random.default_rng(0),
        slots_in,
        fire[slots_in, 0].astype(np.uint8),
        fire[slots_in, 1].astype(np.uint8),
        fire.shape[0],
        dead,
        p_ap,
    )
    rs, rfired, rap = ref.detector_timeline_reference(np.random.default_rng(0), fire, dead, p_ap)
    assert s.tolist() == rs.tolist()
    assert f0.astype(bool).tolist() == rfired[:, 0].tolist()
    assert f1.astype(bool).tolist() == rfired[:, 1].tolist()
    assert ap.astype(bool).tolist() == rap.tolist()
    has_input = np.isin(s, slots_in)
    assert np.array_equal(src >= 0, has_input)
    assert np.array_equal(slots_in[src[src >= 0]], s[src >= 0])


def test_detector_timeline_random_afterpulses_match_reference_in_distribution() -> None:
    fire = _random_fire(np.random.default_rng(5), 20000, 0.05)
    slots_in = np.flatnonzero(fire.any(axis=1))
    fast, slow = [], []
    for seed in range(30):
        s, f0, f1, _, ap = detector_timeline(
            np.random.default_rng(100 + seed),
            slots_in,
            fire[slots_in, 0].astype(np.uint8),
            fire[slots_in, 1].astype(np.uint8),
            fire.shape[0],
            1,
            0.3,
        )
        rs, rf, rap = ref.detector_timeline_reference(
            np.random.default_rng(900 + seed), fire, 1, 0.3
        )
        fast.append([ap.sum(), (f0 & f1).sum(), s.size])
        slow.append([rap.sum(), (rf[:, 0] & rf[:, 1]).sum(), rs.size])
    f, r = np.array(fast), np.array(slow)
    for col in range(3):
        assert stats.ttest_ind(f[:, col], r[:, col]).pvalue > ALPHA


def test_detector_timeline_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    one = np.ones(2, np.uint8)
    with pytest.raises(ValueError, match="sorted"):
        detector_timeline(rng, np.array([3, 1]), one, one, 10, 0, 0.0)
    with pytest.raises(ValueError, match="afterpulse_probability"):
        detector_timeline(rng, np.array([1, 3]), one, one, 10, 0, 1.5)
    with pytest.raises(ValueError, match="dead_gates"):
        detector_timeline(rng, np.array([1, 3]), one, one, 10, -1, 0.0)


def _cell_tables() -> tuple[np.ndarray, ...]:
    k, a, b, o = (x.ravel().astype(np.uint8) for x in np.indices((2, 2, 2, 6)))
    return k, a, b, o


def test_fill_bb84_events_matches_reference_in_distribution() -> None:
    tables = _cell_tables()
    counts = np.zeros(48, np.int64)
    counts[[0, 1, 2, 4, 7, 13, 22, 40, 45]] = [500, 300, 60, 120, 40, 200, 90, 30, 10]
    counts[tables[3] == 5] = 0
    n = int(counts.sum())
    fast = fill_bb84_events(np.random.default_rng(6), counts, *tables)
    slow = ref.fill_bb84_events_reference(np.random.default_rng(7), counts, *tables)
    # exact: each class appears counts[c] times, whatever the order
    cell_fast = ((fast[0].astype(int) * 2 + fast[1]) * 2 + fast[2]) * 6
    assert np.bincount(cell_fast, minlength=48).sum() == n
    wrong = counts[(tables[3] == 1) | (tables[3] == 3)].sum()
    for _k, _a, _b, alice, bob, flags in (fast, slow):
        double = (flags & 1).astype(bool)
        dark = ((flags >> 1) & 1).astype(bool)
        assert double.sum() == counts[tables[3] == 4].sum()
        assert dark.sum() == counts[(tables[3] == 2) | (tables[3] == 3)].sum()
        # outside double clicks, Bob's bit differs from Alice's exactly on wrong-detector clicks
        assert int(((alice != bob) & ~double).sum()) == wrong
    # order: the class of the first and of the last quarter of the clicks is not biased
    for part in (slice(0, n // 4), slice(3 * n // 4, n)):
        kf = np.bincount(fast[0][part] * 4 + fast[1][part] * 2 + fast[2][part], minlength=8)
        ks = np.bincount(slow[0][part] * 4 + slow[1][part] * 2 + slow[2][part], minlength=8)
        keep = (kf + ks) > 0
        assert stats.chi2_contingency(np.vstack([kf[keep], ks[keep]])).pvalue > ALPHA
    # Alice's bits are fair; errors happen exactly on wrong-detector singles (+ half doubles)
    assert stats.binomtest(int(fast[3].sum()), n).pvalue > ALPHA


def test_fill_bb84_events_bits_follow_outcomes() -> None:
    tables = _cell_tables()
    counts = np.zeros(48, np.int64)
    counts[tables[3] == 0] = 50  # right detector: no error
    counts[tables[3] == 1] = 40  # wrong detector: error
    counts[tables[3] == 3] = 10  # dark on the wrong detector: error
    *_, alice, bob, flags = fill_bb84_events(np.random.default_rng(8), counts, *tables)
    assert int((alice != bob).sum()) == 8 * (40 + 10)
    assert int((flags >> 1 & 1).sum()) == 8 * 10 and int((flags & 1).sum()) == 0


def test_tally_matches_reference_exactly() -> None:
    rng = np.random.default_rng(9)
    n = 5000
    arrays = [rng.integers(0, m, n).astype(np.uint8) for m in (3, 2, 2, 2, 2, 8)]
    assert np.array_equal(tally_bb84(*arrays, 3), ref.tally_bb84_reference(*arrays, 3))
    with pytest.raises(ValueError, match="n_k"):
        tally_bb84(*arrays, 2)
