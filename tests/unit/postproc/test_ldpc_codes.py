"""Mother-code construction: determinism, degree distributions, structure, puncturing order."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from quaykey.postproc.reconcile.codes import RATES, build_code, edge_distribution


def test_construction_is_deterministic_and_seeded() -> None:
    a = build_code(2048, 0.7, seed=3)
    build_code.cache_clear()
    b = build_code(2048, 0.7, seed=3)
    c = build_code(2048, 0.7, seed=4)
    np.testing.assert_array_equal(a.check_var, b.check_var)
    np.testing.assert_array_equal(a.puncture_order, b.puncture_order)
    assert not np.array_equal(a.check_var, c.check_var)


@pytest.mark.parametrize("rate", RATES)
def test_degree_distribution_follows_table_one(rate: float) -> None:
    n = 4096
    code = build_code(n, rate, seed=1)
    assert code.n_checks == round((1 - rate) * n)
    _, lam = edge_distribution(rate)
    weights = {d: lam[d] / d for d in lam}
    total = sum(weights.values())
    counts = np.bincount(code.var_degree)
    cap = max(2, code.n_checks // 2)  # degrees are clipped to half the checks at small n
    for d, w in weights.items():
        assert abs(counts[min(d, cap)] - w / total * n) <= 1 + (d > cap) * n
    # Column weights in H equal the declared degrees; check degrees within one of the mean.
    np.testing.assert_array_equal(np.bincount(code.check_var, minlength=n), code.var_degree)
    chk = np.diff(code.check_ptr)
    assert chk.max() - chk.min() <= 1
    # No repeated (check, variable) pair.
    rows = np.repeat(np.arange(code.n_checks), chk)
    assert np.unique(rows * n + code.check_var).size == code.n_edges


@pytest.mark.parametrize("rate", [0.5, 0.75, 0.9])
def test_untainted_prefix_touches_each_check_at_most_once(rate: float) -> None:
    code = build_code(4096, rate, seed=2)
    punct = np.zeros(code.length, dtype=bool)
    punct[code.puncture_order[: code.n_untainted]] = True
    per_check = np.add.reduceat(punct[code.check_var].astype(int), code.check_ptr[:-1])
    assert per_check.max() <= 1
    assert code.n_untainted > 0.3 * code.n_checks  # at most ~m/2 when degree-2 first
    assert np.unique(code.puncture_order).size == code.length


def _degree_two_girth(code) -> int:  # type: ignore[no-untyped-def]
    """Shortest cycle made only of degree-2 columns (the weight of a codeword)."""
    rows = np.repeat(np.arange(code.n_checks), np.diff(code.check_ptr))
    two = code.var_degree[code.check_var] == 2
    order = np.argsort(code.check_var[two], kind="stable")
    pairs = rows[two][order].reshape(-1, 2)
    nbrs: list[list[tuple[int, int]]] = [[] for _ in range(code.n_checks)]
    for i, (a, b) in enumerate(pairs.tolist()):
        nbrs[a].append((b, i))
        nbrs[b].append((a, i))
    best = 10**9
    for s in range(code.n_checks):
        dist, via, queue = {s: 0}, {s: -1}, deque([s])
        while queue:
            u = queue.popleft()
            if 2 * dist[u] >= best:
                break
            for w, e in nbrs[u]:
                if e == via[u]:
                    continue
                if w in dist:
                    best = min(best, dist[u] + dist[w] + 1)
                else:
                    dist[w], via[w] = dist[u] + 1, e
                    queue.append(w)
    return best


@pytest.mark.parametrize("rate", [0.5, 0.8, 0.9])
def test_degree_two_columns_form_no_short_cycle(rate: float) -> None:
    # Rate 0.5 has fewer degree-2 columns than checks: a chain, no cycle at all. Rates 0.8
    # and 0.9 have more; their cycles must still be long (>= 6 at this small length).
    girth = _degree_two_girth(build_code(4096, rate, seed=1))
    assert girth >= (10**9 if rate == 0.5 else 6)


def test_syndrome_matches_dense_matrix() -> None:
    code = build_code(512, 0.6, seed=7)
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2, size=(5, 512), dtype=np.uint8)
    expected = (words.astype(np.int64) @ code.dense().T.astype(np.int64)) % 2
    np.testing.assert_array_equal(code.syndrome(words), expected)
    np.testing.assert_array_equal(code.syndrome(words[0]), expected[0])


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="rate"):
        build_code(1024, 0.42)
    with pytest.raises(ValueError, match="length"):
        build_code(10, 0.5)
    with pytest.raises(ValueError, match="columns"):
        build_code(256, 0.5).syndrome(np.zeros(255, dtype=np.uint8))
    assert "edges" in repr(build_code(256, 0.5))
