"""Irregular LDPC mother codes for reconciliation over the binary symmetric channel.

The degree distributions are those of Elkouss, Leverrier, Alléaume and Boutros (ISIT 2009,
arXiv:0901.2140, Table I), optimised by differential evolution and density evolution for
the BSC. Codes are built deterministically from ``(length, rate, seed)`` at first use and
cached in memory; nothing is read from disk.

Construction (see :func:`build_code`):

1. The edge-perspective distribution ``lambda(x)`` of Table I is turned into node counts
   ``n_i = round(n * (lambda_i / i) / sum_j(lambda_j / j))``; ``m = round((1 - R) n)`` check
   nodes share the edges as evenly as possible (concentrated check degrees, each within one
   of the mean; Table I's ``rho(x)`` is concentrated on two neighbouring degrees for most rates).
2. The degree-2 variable nodes are placed first. Up to ``m - 1`` of them form a zig-zag chain
   over a random permutation of the checks (no cycle among them). Table I asks for more
   degree-2 nodes than checks at rates 0.75, 0.8 and 0.9; each surplus one joins a
   least-loaded check to a random check outside its ball of radius 12 in the degree-2 graph
   (or outside a ball holding half the checks), so cycles made only of degree-2 columns --
   codewords of that weight -- are long.
3. The other sockets are matched at random
   (configuration model); repeated edges are removed by random swaps; 4-cycles through a
   variable of degree 3 are then broken by swaps where a swap is found quickly. The result
   is therefore not 4-cycle free (see ``docs/validation.md, LDPC``).
4. A puncturing order is fixed by *untainted* puncturing (Elkouss, Martinez-Mateo, Martin,
   IEEE WCL 1(6) 2012): a variable may be punctured only if none of its checks already has a
   punctured neighbour; among those, low-degree variables first. Every check then has at most
   one punctured neighbour, so the punctured columns have disjoint supports and are linearly
   independent; this is what makes the leak accounting ``m - p`` exact (see
   :mod:`quaykey.postproc.reconcile.ldpc`).

References
----------
D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, "Efficient reconciliation protocol for
discrete-variable quantum key distribution", ISIT 2009, arXiv:0901.2140, Table I.
D. Elkouss, J. Martinez-Mateo, V. Martin, "Untainted puncturing for irregular low-density
parity-check codes", IEEE Wireless Communications Letters 1(6):585-588, 2012.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["RATES", "LdpcCode", "build_code", "edge_distribution"]

#: Edge-perspective variable-node distributions ``{degree: lambda_i}`` of Elkouss et al.
#: 2009, Table I (the coefficient of ``x**(i-1)`` is ``lambda_i``), with the BSC threshold
#: p* found by density evolution.
_TABLE_I: dict[float, tuple[float, dict[int, float]]] = {
    0.90: (
        0.0109,
        {2: 0.07689, 3: 0.28096, 5: 0.08933, 9: 0.19620, 12: 0.30631, 21: 0.05031},
    ),
    0.85: (
        0.0199,
        {
            2: 0.04528,
            3: 0.20537,
            4: 0.05878,
            5: 0.094274,
            6: 0.08454,
            7: 0.01176,
            9: 0.05137,
            21: 0.50015,
        },
    ),
    0.80: (
        0.0298,
        {2: 0.09420, 3: 0.18088, 6: 0.11972, 7: 0.08550, 8: 0.09816, 17: 0.07194, 26: 0.34960},
    ),
    0.75: (
        0.0392,
        {
            2: 0.10805,
            3: 0.09511,
            4: 0.01449,
            5: 0.13764,
            6: 0.10667,
            7: 0.05288,
            28: 0.01107,
            31: 0.47408,
        },
    ),
    0.70: (
        0.0504,
        {
            2: 0.05343,
            3: 0.29406,
            6: 0.00896,
            9: 0.15571,
            12: 0.12189,
            25: 0.19872,
            46: 0.09572,
            62: 0.02741,
            65: 0.04056,
            73: 0.00354,
        },
    ),
    0.65: (
        0.0633,
        {
            2: 0.10451,
            3: 0.15652,
            4: 0.08057,
            5: 0.00056,
            9: 0.12151,
            13: 0.10485,
            15: 0.10719,
            21: 0.00771,
            51: 0.31656,
        },
    ),
    0.60: (
        0.0766,
        {
            2: 0.11040,
            3: 0.20804,
            8: 0.14163,
            9: 0.14858,
            26: 0.14438,
            27: 0.08909,
            46: 0.00748,
            71: 0.15038,
        },
    ),
    0.55: (
        0.0904,
        {
            2: 0.16880,
            3: 0.20994,
            6: 0.18095,
            15: 0.03846,
            16: 0.02635,
            18: 0.23454,
            19: 0.05815,
            31: 0.08280,
        },
    ),
    0.50: (
        0.1071,
        {
            2: 0.14438,
            3: 0.19026,
            4: 0.01836,
            5: 0.00233,
            6: 0.04697,
            8: 0.053943,
            9: 0.05590,
            10: 0.01290,
            11: 0.00162,
            14: 0.06159,
            15: 0.13115,
            17: 0.01481,
            47: 0.00879,
            49: 0.00650,
            55: 0.00210,
            56: 0.00099,
            57: 0.11178,
            58: 0.06238,
            59: 0.05094,
            66: 0.02230,
        },
    ),
}

#: Mother-code rates available, ascending.
RATES: tuple[float, ...] = tuple(sorted(_TABLE_I))


def edge_distribution(rate: float) -> tuple[float, dict[int, float]]:
    """Return the BSC threshold and edge-perspective ``lambda`` of a Table I rate.

    Parameters
    ----------
    rate
        One of :data:`RATES`.

    Returns
    -------
    tuple
        ``(threshold, {degree: lambda_i})``.

    Raises
    ------
    ValueError
        If ``rate`` is not one of :data:`RATES`.

    Example
    -------
    >>> edge_distribution(0.5)[0]
    0.1071

    References
    ----------
    Elkouss et al., arXiv:0901.2140, Table I.
    """
    key = round(float(rate), 2)
    if key not in _TABLE_I:
        raise ValueError(f"rate must be one of {RATES}, got {rate!r}")
    return _TABLE_I[key]


@dataclass(frozen=True, eq=False)
class LdpcCode:
    """A binary LDPC code stored by checks (CSR), with a puncturing order.

    Attributes
    ----------
    length
        Number of variable nodes ``n``.
    n_checks
        Number of check nodes ``m`` (the syndrome length).
    rate
        Design rate ``1 - m/n``.
    seed
        Construction seed.
    check_ptr
        int64, ``m + 1``: edges of check ``c`` are ``check_ptr[c]:check_ptr[c+1]``.
    check_var
        int64, the variable at each edge.
    var_degree
        int64 degree of each variable.
    puncture_order
        int64 variables in the order in which they may be punctured (untainted first).
    n_untainted
        How many leading entries of ``puncture_order`` are untainted (each check has at most
        one of them as a neighbour).
    """

    length: int
    n_checks: int
    rate: float
    seed: int
    check_ptr: NDArray[np.int64]
    check_var: NDArray[np.int64]
    var_degree: NDArray[np.int64]
    puncture_order: NDArray[np.int64]
    n_untainted: int

    @property
    def n_edges(self) -> int:
        """Number of edges (ones in the parity-check matrix)."""
        return int(self.check_var.size)

    def syndrome(self, words: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Syndromes ``H x`` (mod 2) of a batch of words.

        Parameters
        ----------
        words
            uint8 array of shape ``(n_words, length)`` (or ``(length,)``).

        Returns
        -------
        NDArray[np.uint8]
            Shape ``(n_words, n_checks)`` (or ``(n_checks,)``).

        Raises
        ------
        ValueError
            If the last axis is not ``length`` long.
        """
        w = np.asarray(words, dtype=np.uint8)
        if w.shape[-1] != self.length:
            raise ValueError(f"words must have {self.length} columns, got {w.shape[-1]}")
        starts = self.check_ptr[:-1]
        if w.ndim == 1:
            return np.bitwise_xor.reduceat(w[self.check_var] & 1, starts)
        # Row by row: one word's gathered bits stay in cache (a batch gather does not).
        rows = w.reshape(-1, self.length)
        out = np.empty((rows.shape[0], self.n_checks), dtype=np.uint8)
        for i, row in enumerate(rows):
            out[i] = np.bitwise_xor.reduceat(row[self.check_var] & 1, starts)
        return out.reshape((*w.shape[:-1], self.n_checks))

    def dense(self) -> NDArray[np.uint8]:
        """The parity-check matrix as a dense uint8 array (for tests and small codes)."""
        h = np.zeros((self.n_checks, self.length), dtype=np.uint8)
        rows = np.repeat(np.arange(self.n_checks), np.diff(self.check_ptr))
        h[rows, self.check_var] = 1
        return h

    def __repr__(self) -> str:
        return (
            f"LdpcCode(length={self.length}, n_checks={self.n_checks}, rate={self.rate:.3f}, "
            f"edges={self.n_edges}, seed={self.seed})"
        )


def _variable_degrees(rate: float, length: int) -> NDArray[np.int64]:
    _, lam = edge_distribution(rate)
    degrees = np.array(sorted(lam), dtype=np.int64)
    weights = np.array([lam[int(d)] / d for d in degrees])
    frac = weights / weights.sum()
    counts = np.floor(frac * length).astype(np.int64)
    # Largest-remainder rounding keeps the node fractions as close as possible.
    short = length - int(counts.sum())
    order = np.argsort(-(frac * length - counts), kind="stable")
    counts[order[:short]] += 1
    return np.repeat(degrees, counts)


def _check_degrees(n_edges: int, n_checks: int) -> NDArray[np.int64]:
    base, extra = divmod(n_edges, n_checks)
    deg = np.full(n_checks, base, dtype=np.int64)
    deg[:extra] += 1
    return deg


def _degree_two_edges(n_two: int, n_checks: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Check pairs for ``n_two`` degree-2 variables: a chain, then far-apart chords."""
    perm = rng.permutation(n_checks).astype(np.int64)
    n_chain = min(n_two, n_checks - 1)
    pairs = np.empty((n_two, 2), dtype=np.int64)
    pairs[:n_chain, 0] = perm[:n_chain]
    pairs[:n_chain, 1] = perm[1 : n_chain + 1]
    if n_two == n_chain:
        return pairs.reshape(-1)
    nbrs: list[list[int]] = [[] for _ in range(n_checks)]
    for a, b in pairs[:n_chain].tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    load = np.array([len(x) for x in nbrs], dtype=np.int64)
    max_radius = 12
    for i in range(n_chain, n_two):
        # Start from a least-loaded check; ties broken at random.
        low = np.flatnonzero(load == load.min())
        a = int(low[int(rng.integers(0, low.size))])
        seen = {a}
        frontier = [a]
        for _ in range(max_radius):
            nxt = [w for u in frontier for w in nbrs[u] if w not in seen]
            if len(seen) + len(nxt) > n_checks // 2:
                break
            seen.update(nxt)
            frontier = nxt
            if not frontier:
                break
        while True:
            b = int(rng.integers(0, n_checks))
            if b not in seen:
                break
        pairs[i] = (a, b)
        nbrs[a].append(b)
        nbrs[b].append(a)
        load[a] += 1
        load[b] += 1
    return pairs.reshape(-1)


def _remove_repeats(
    var_of_edge: NDArray[np.int64], chk_of_edge: NDArray[np.int64], rng: np.random.Generator
) -> None:
    """Swap check endpoints until no (variable, check) pair repeats (in place)."""
    n_checks = int(chk_of_edge.max()) + 1
    for _ in range(200):
        key = var_of_edge * n_checks + chk_of_edge
        order = np.argsort(key, kind="stable")
        dup = np.zeros(key.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        bad = np.flatnonzero(dup)
        if bad.size == 0:
            return
        partners = rng.integers(0, key.size, size=bad.size)
        for a, b in zip(bad.tolist(), partners.tolist(), strict=True):
            chk_of_edge[a], chk_of_edge[b] = chk_of_edge[b], chk_of_edge[a]
    raise RuntimeError("could not remove repeated edges")  # pragma: no cover


def _break_short_cycles(
    adj: list[list[int]],
    chk_adj: list[set[int]],
    var_deg: NDArray[np.int64],
    rng: np.random.Generator,
    max_deg: int = 3,
) -> None:
    """Break 4-cycles through low-degree variables by swapping edges (in place).

    Variables whose ``var_deg`` entry exceeds 10**8 are frozen (never swapped).
    """
    n = len(adj)
    low = np.flatnonzero(var_deg <= max_deg)
    for v in low.tolist():
        for _attempt in range(4):
            checks = adj[v]
            clash = None
            for i, c in enumerate(checks):
                others = chk_adj[c]
                for j in range(i + 1, len(checks)):
                    common = others & chk_adj[checks[j]]
                    if len(common) > 1:
                        clash = c
                        break
                if clash is not None:
                    break
            if clash is None:
                break
            # Swap v's edge to `clash` with a random edge (w, c2) elsewhere.
            for _try in range(20):
                w = int(rng.integers(0, n))
                if w == v or not adj[w] or var_deg[w] > 10**8:
                    continue
                c2 = adj[w][int(rng.integers(0, len(adj[w])))]
                if c2 in adj[v] or clash in adj[w] or c2 == clash:
                    continue
                adj[v][adj[v].index(clash)] = c2
                adj[w][adj[w].index(c2)] = clash
                chk_adj[clash].discard(v)
                chk_adj[clash].add(w)
                chk_adj[c2].discard(w)
                chk_adj[c2].add(v)
                break


@lru_cache(maxsize=16)
def build_code(length: int, rate: float, seed: int = 0) -> LdpcCode:
    """Build (or fetch from the in-memory cache) an irregular LDPC mother code.

    Parameters
    ----------
    length
        Number of variable nodes, ``64 <= length <= 2**20``.
    rate
        Design rate, one of :data:`RATES`.
    seed
        Construction seed; the same ``(length, rate, seed)`` always gives the same code.

    Returns
    -------
    LdpcCode
        The code, with its untainted puncturing order.

    Raises
    ------
    ValueError
        If ``length`` is out of range or ``rate`` is not tabulated.

    Example
    -------
    >>> code = build_code(1024, 0.7, seed=1)
    >>> code.length, code.n_checks
    (1024, 307)

    References
    ----------
    Elkouss et al., arXiv:0901.2140, Table I (degree distributions); Elkouss, Martinez-Mateo,
    Martin, IEEE WCL 1(6) 2012 (untainted puncturing).
    """
    if not (64 <= int(length) <= 2**20):
        raise ValueError(f"length must be between 64 and 2**20, got {length!r}")
    length = int(length)
    rate = round(float(rate), 2)
    edge_distribution(rate)  # validates
    rng = np.random.default_rng([int(seed), length, int(rate * 100)])
    n_checks = round((1.0 - rate) * length)

    var_deg = _variable_degrees(rate, length)
    # A check degree may not exceed the number of variables; clip the largest degrees.
    var_deg = np.minimum(var_deg, max(2, n_checks // 2))
    chk_deg = _check_degrees(int(var_deg.sum()), n_checks)
    adj = _connect(var_deg, chk_deg, n_checks, rng)
    check_ptr, check_var = _check_major(adj, n_checks)

    puncture_order, n_untainted = _untainted_order(adj, var_deg, n_checks, rng)
    return LdpcCode(
        length=length,
        n_checks=n_checks,
        rate=1.0 - n_checks / length,
        seed=int(seed),
        check_ptr=check_ptr,
        check_var=check_var,
        var_degree=var_deg.astype(np.int64),
        puncture_order=puncture_order,
        n_untainted=n_untainted,
    )


def _connect(
    var_deg: NDArray[np.int64],
    chk_deg: NDArray[np.int64],
    n_checks: int,
    rng: np.random.Generator,
) -> list[list[int]]:
    """The Tanner graph as each variable's list of checks, for the given degrees."""
    length = var_deg.size
    # Degree-2 variables: each is an edge between two checks. The first m - 1 form a chain
    # over a random check permutation (no cycle); any surplus (rates 0.75, 0.8, 0.9 of
    # Table I have more degree-2 variables than checks) joins checks that are far apart in
    # the degree-2 graph, so that every cycle of degree-2 variables -- a codeword of that
    # weight -- is long.
    two = np.flatnonzero(var_deg == 2)
    chain_chk = _degree_two_edges(two.size, n_checks, rng)
    chain_var = np.repeat(two, 2)
    used = np.bincount(chain_chk, minlength=n_checks)
    if np.any(used > chk_deg):  # pragma: no cover - check degrees exceed the degree-2 load
        raise RuntimeError("check degrees too small for the degree-2 variables")

    in_chain = np.zeros(length, dtype=bool)
    in_chain[two] = True
    rest = np.flatnonzero(~in_chain)
    rest_var = np.repeat(rest, var_deg[rest])
    rest_chk = np.repeat(np.arange(n_checks, dtype=np.int64), chk_deg - used)
    rest_chk = rng.permutation(rest_chk)
    _remove_repeats(rest_var, rest_chk, rng)
    # The chain edges may collide with random edges only through distinct variables, so
    # no repeats are possible between the two groups.

    adj: list[list[int]] = [[] for _ in range(length)]
    chk_adj: list[set[int]] = [set() for _ in range(n_checks)]
    for v, c in zip(
        np.concatenate([chain_var, rest_var]).tolist(),
        np.concatenate([chain_chk, rest_chk]).tolist(),
        strict=True,
    ):
        adj[v].append(c)
        chk_adj[c].add(v)
    # Only variables outside the chain are swapped, so the chain stays intact.
    deg_for_breaking = np.where(in_chain, 10**9, var_deg)
    _break_short_cycles(adj, chk_adj, deg_for_breaking, rng, max_deg=3)

    return adj


def _check_major(
    adj: list[list[int]], n_checks: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(check_ptr, check_var)``: the variables of each check, in compressed rows."""
    rows = np.concatenate([np.full(len(a), v, dtype=np.int64) for v, a in enumerate(adj)])
    cols = np.concatenate([np.asarray(a, dtype=np.int64) for a in adj])
    order = np.lexsort((rows, cols))
    check_var = rows[order]
    counts = np.bincount(cols, minlength=n_checks)
    check_ptr = np.zeros(n_checks + 1, dtype=np.int64)
    np.cumsum(counts, out=check_ptr[1:])

    return check_ptr, check_var


def _untainted_order(
    adj: list[list[int]], var_deg: NDArray[np.int64], n_checks: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], int]:
    """Greedy untainted puncturing: low degree first, random ties; then the rest."""
    n = var_deg.size
    tiebreak = rng.random(n)
    candidates = np.lexsort((tiebreak, var_deg))
    tainted = np.zeros(n_checks, dtype=bool)
    chosen: list[int] = []
    for v in candidates.tolist():
        checks = adj[v]
        if not any(tainted[c] for c in checks):
            chosen.append(v)
            tainted[checks] = True
    mask = np.ones(n, dtype=bool)
    mask[chosen] = False
    tail = candidates[mask[candidates]]
    order = np.concatenate([np.asarray(chosen, dtype=np.int64), tail.astype(np.int64)])
    return order, len(chosen)
