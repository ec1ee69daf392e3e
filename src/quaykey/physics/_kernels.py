"""numba kernels of the link sampler (private; the public wrappers validate their inputs).

Each kernel has a slow, obviously-correct twin in ``tests/reference/per_pulse_sampler.py``
and a test that the two agree.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["detector_timeline", "fill_bb84_events", "sorted_random_subset", "tally_bb84"]


@njit(cache=True)
def _dense_subset(rng: np.random.Generator, n: int, d: int) -> NDArray[np.int64]:
    # selection sampling (Knuth, TAOCP vol. 2, Algorithm S): O(n), exact
    out = np.empty(d, dtype=np.int64)
    chosen = 0
    for i in range(n):
        if chosen == d:
            break
        if (n - i) * rng.random() < d - chosen:
            out[chosen] = i
            chosen += 1
    return out


@njit(cache=True)
def _sparse_subset(rng: np.random.Generator, n: int, d: int) -> NDArray[np.int64]:
    # A Bernoulli(p) subset of [0, n), via geometric gaps, has a uniformly random position
    # set given its size M. With p a little above d/n, M >= d almost always; dropping M - d
    # uniformly chosen members leaves a uniformly random d-subset. If M < d (or the buffer
    # overflows) we draw again: conditioning on M alone keeps the positions uniform.
    p = min(1.0, (d + 8.0 * math.sqrt(d) + 16.0) / n)
    log_q = math.log1p(-p) if p < 1.0 else -math.inf
    cap = int(p * n + 10.0 * math.sqrt(p * n + 1.0) + 64.0)
    buf = np.empty(cap, dtype=np.int64)
    while True:
        m = 0
        pos = -1
        ok = True
        while True:
            if p >= 1.0:
                gap = 1
            else:
                u = rng.random()
                # 1 - u is in (0, 1]; geometric number of trials to the next success
                gap = int(math.log1p(-u) / log_q) + 1 if u > 0.0 else 1
            pos += gap
            if pos >= n:
                break
            if m == cap:
                ok = False
                break
            buf[m] = pos
            m += 1
        if ok and m >= d:
            break
    extra = m - d
    if extra == 0:
        return buf[:m]
    drop = np.zeros(m, dtype=np.bool_)
    removed = 0
    while removed < extra:
        j = rng.integers(0, m)
        if not drop[j]:
            drop[j] = True
            removed += 1
    k = 0
    for i in range(m):
        if not drop[i]:
            buf[k] = buf[i]
            k += 1
    return buf[:d]


@njit(cache=True)
def _sorted_random_subset(rng: np.random.Generator, n: int, d: int) -> NDArray[np.int64]:
    if d == 0:
        return np.empty(0, dtype=np.int64)
    if 4 * d >= n:
        return _dense_subset(rng, n, d)
    return _sparse_subset(rng, n, d)


def sorted_random_subset(rng: np.random.Generator, n: int, d: int) -> NDArray[np.int64]:
    """A uniformly random ``d``-subset of ``[0, n)``, sorted (int64), in O(d) for ``d << n``.

    Parameters
    ----------
    rng
        Random generator.
    n
        Size of the range, >= 0 (may be 10**12 or more).
    d
        Subset size, ``0 <= d <= n``.

    Returns
    -------
    numpy.ndarray
        Sorted unique int64 indices.

    Raises
    ------
    ValueError
        If ``d`` is not in ``[0, n]``.

    Example
    -------
    >>> s = sorted_random_subset(np.random.default_rng(1), 10**12, 5)
    >>> s.size, bool(np.all(np.diff(s) > 0))
    (5, True)
    """
    n = int(n)
    d = int(d)
    if not 0 <= d <= n:
        raise ValueError(f"d must be in [0, n], got d={d}, n={n}")
    return _sorted_random_subset(rng, n, d)


@njit(cache=True)
def _detector_timeline(
    rng: np.random.Generator,
    slots: NDArray[np.int64],
    fire0: NDArray[np.uint8],
    fire1: NDArray[np.uint8],
    n_pulses: int,
    dead_gates: int,
    afterpulse_probability: float,
) -> tuple[
    NDArray[np.int64], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8]
]:
    n_in = slots.size
    cap = n_in + n_in // 8 + 16
    out_slot = np.empty(cap, dtype=np.int64)
    out_f0 = np.empty(cap, dtype=np.uint8)
    out_f1 = np.empty(cap, dtype=np.uint8)
    out_src = np.empty(cap, dtype=np.int64)
    out_ap = np.empty(cap, dtype=np.uint8)
    dead_until = np.full(2, -1, dtype=np.int64)
    pending = np.full(2, -1, dtype=np.int64)  # slot of a scheduled afterpulse per detector
    fired = np.zeros(2, dtype=np.bool_)
    ap_only = np.zeros(2, dtype=np.bool_)
    i = 0
    m = 0
    while True:
        # next gate to look at: the next input click or the earliest pending afterpulse
        s = n_pulses
        if i < n_in:
            s = slots[i]
        for c in range(2):
            if pending[c] >= 0 and pending[c] < s:
                s = pending[c]
        if s >= n_pulses:
            break
        src = -1
        fired[0] = False
        fired[1] = False
        if i < n_in and slots[i] == s:
            src = i
            fired[0] = fire0[i] != 0
            fired[1] = fire1[i] != 0
            i += 1
        ap_only[0] = False
        ap_only[1] = False
        for c in range(2):
            if pending[c] == s:
                if not fired[c]:
                    ap_only[c] = True
                fired[c] = True
                pending[c] = -1
            if fired[c] and s <= dead_until[c]:
                fired[c] = False
        any_fired = False
        for c in range(2):
            if fired[c]:
                any_fired = True
                dead_until[c] = s + dead_gates
                # afterpulses are first order: an afterpulse click triggers none
                if (
                    not ap_only[c]
                    and afterpulse_probability > 0.0
                    and rng.random() < afterpulse_probability
                ):
                    nxt = s + dead_gates + 1
                    if nxt < n_pulses:
                        pending[c] = nxt
        if any_fired:
            if m == cap:
                cap = 2 * cap
                tmp_s = np.empty(cap, dtype=np.int64)
                tmp_0 = np.empty(cap, dtype=np.uint8)
                tmp_1 = np.empty(cap, dtype=np.uint8)
                tmp_r = np.empty(cap, dtype=np.int64)
                tmp_a = np.empty(cap, dtype=np.uint8)
                tmp_a[:m] = out_ap[:m]
                out_ap = tmp_a
                tmp_s[:m] = out_slot[:m]
                tmp_0[:m] = out_f0[:m]
                tmp_1[:m] = out_f1[:m]
                tmp_r[:m] = out_src[:m]
                out_slot, out_f0, out_f1, out_src = tmp_s, tmp_0, tmp_1, tmp_r
            out_slot[m] = s
            out_f0[m] = 1 if fired[0] else 0
            out_f1[m] = 1 if fired[1] else 0
            out_src[m] = src
            # 1 when every detector that clicked in this gate clicked only by afterpulse
            all_ap = True
            for c in range(2):
                if fired[c] and not ap_only[c]:
                    all_ap = False
            out_ap[m] = 1 if all_ap else 0
            m += 1
    return (
        out_slot[:m].copy(),
        out_f0[:m].copy(),
        out_f1[:m].copy(),
        out_src[:m].copy(),
        out_ap[:m].copy(),
    )


def detector_timeline(
    rng: np.random.Generator,
    slots: NDArray[np.int64],
    fire0: NDArray[np.uint8],
    fire1: NDArray[np.uint8],
    n_pulses: int,
    dead_gates: int,
    afterpulse_probability: float,
) -> tuple[
    NDArray[np.int64], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8]
]:
    """Apply per-detector dead time and afterpulsing to a sorted list of gates with clicks.

    The model is in :mod:`quaykey.physics.detectors`: after a click a detector is blind for
    ``dead_gates`` gates; each click not itself an afterpulse schedules, with probability
    ``afterpulse_probability``, a click of the same detector in the first gate after the
    dead time (dropped past ``n_pulses``).

    Parameters
    ----------
    rng
        Random generator (afterpulse draws).
    slots
        Sorted unique gates in which at least one detector would fire without these
        effects (int64).
    fire0, fire1
        Whether the bit-0 / bit-1 detector would fire in each of those gates (uint8).
    n_pulses
        Gates in the block.
    dead_gates
        Blind gates after each click, >= 0.
    afterpulse_probability
        In [0, 1].

    Returns
    -------
    slots, fire0, fire1, source, afterpulse_only
        The gates with at least one click after the effects, which detectors clicked, the
        index of the input gate each comes from (-1 for a gate that had no input click), and
        whether every click in the gate is an afterpulse.

    Raises
    ------
    ValueError
        For arrays of different lengths, unsorted slots or parameters out of range.

    Example
    -------
    >>> s, f0, f1, src, ap = detector_timeline(np.random.default_rng(0), np.array([3, 4]),
    ...     np.array([1, 1], np.uint8), np.array([0, 0], np.uint8), 10, 1, 0.0)
    >>> s.tolist(), src.tolist()  # gate 4 is blind after the click in gate 3
    ([3], [0])
    """
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    fire0 = np.ascontiguousarray(fire0, dtype=np.uint8)
    fire1 = np.ascontiguousarray(fire1, dtype=np.uint8)
    if not (slots.shape == fire0.shape == fire1.shape and slots.ndim == 1):
        raise ValueError("slots, fire0 and fire1 must be one-dimensional and of equal length")
    if slots.size > 1 and np.any(np.diff(slots) <= 0):
        raise ValueError("slots must be sorted and unique")
    if dead_gates < 0:
        raise ValueError(f"dead_gates must be >= 0, got {dead_gates!r}")
    if not 0.0 <= afterpulse_probability <= 1.0:
        raise ValueError(
            f"afterpulse_probability must be in [0, 1], got {afterpulse_probability!r}"
        )
    return _detector_timeline(
        rng, slots, fire0, fire1, int(n_pulses), int(dead_gates), float(afterpulse_probability)
    )


@njit(cache=True)
def _fill_bb84_events(
    rng: np.random.Generator,
    counts: NDArray[np.int64],
    cell_k: NDArray[np.uint8],
    cell_a: NDArray[np.uint8],
    cell_b: NDArray[np.uint8],
    cell_outcome: NDArray[np.uint8],
) -> tuple[
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
]:
    n_cells = counts.size
    size = 1
    while size < n_cells:
        size *= 2
    # complete binary tree of remaining counts: leaves at [size, 2 size)
    tree = np.zeros(2 * size, dtype=np.int64)
    for c in range(n_cells):
        tree[size + c] = counts[c]
    for j in range(size - 1, 0, -1):
        tree[j] = tree[2 * j] + tree[2 * j + 1]
    n = tree[1]
    k = np.empty(n, dtype=np.uint8)
    a = np.empty(n, dtype=np.uint8)
    b = np.empty(n, dtype=np.uint8)
    alice_bit = np.empty(n, dtype=np.uint8)
    bob_bit = np.empty(n, dtype=np.uint8)
    flags = np.empty(n, dtype=np.uint8)
    word = np.uint64(0)
    left = 0
    for i in range(n):
        # draw one of the remaining labelled items uniformly (sampling without replacement:
        # the click classes end up in a uniformly random order)
        r = rng.integers(0, tree[1])
        j = 1
        while j < size:
            j *= 2
            if r >= tree[j]:
                r -= tree[j]
                j += 1
        c = j - size
        while j >= 1:
            tree[j] -= 1
            j //= 2
        k[i] = cell_k[c]
        a[i] = cell_a[c]
        b[i] = cell_b[c]
        o = cell_outcome[c]
        if left < 2:
            word = np.uint64(rng.integers(0, 1 << 62))
            left = 62
        bit = np.uint8(word & np.uint64(1))
        alice_bit[i] = bit
        if o == 0 or o == 2:  # only the detector of Alice's bit fired
            bob_bit[i] = bit
        elif o == 1 or o == 3:  # only the other detector fired
            bob_bit[i] = 1 - bit
        else:  # double click, squashed to a random bit
            bob_bit[i] = np.uint8((word >> np.uint64(1)) & np.uint64(1))
        word = word >> np.uint64(2)
        left -= 2
        f = 0
        if o == 4:
            f |= 1
        if o == 2 or o == 3:
            f |= 2
        flags[i] = f
    return k, a, b, alice_bit, bob_bit, flags


def fill_bb84_events(
    rng: np.random.Generator,
    counts: NDArray[np.int64],
    cell_k: NDArray[np.uint8],
    cell_a: NDArray[np.uint8],
    cell_b: NDArray[np.uint8],
    cell_outcome: NDArray[np.uint8],
) -> tuple[
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
    NDArray[np.uint8],
]:
    """Put the clicks of each class in a uniformly random order and fill their records.

    Equivalent to repeating each cell index ``counts[c]`` times, shuffling, and looking up
    each click's class, but in one pass without the label array: each click draws its class
    from the remaining counts (sampling without replacement through a binary tree, O(log C)).

    Parameters
    ----------
    rng
        Random generator.
    counts
        Clicks per class (cell), int64 >= 0 (cells that cannot click have 0).
    cell_k, cell_a, cell_b, cell_outcome
        Per-cell intensity, Alice's basis, Bob's basis and outcome (``OUTCOME_*`` of
        :mod:`quaykey.physics.detectors`; uint8 tables).

    Returns
    -------
    k, a, b, alice_bit, bob_bit, flags
        uint8 arrays, one entry per click in time order. Alice's bit is uniform; Bob's
        equals it for a click on the detector of her bit, differs for the other detector and
        is uniform for a double click. ``flags``: bit 0 double click, bit 1 dark-only click.

    Raises
    ------
    ValueError
        For negative counts or tables shorter than ``counts``.

    Example
    -------
    >>> t = np.array([0, 1], np.uint8)  # cell 0: right detector, cell 1: wrong detector
    >>> k, a, b, alice, bob, flags = fill_bb84_events(
    ...     np.random.default_rng(0), np.array([1, 2]), t, t, t, t)
    >>> sorted(k.tolist()), bool(np.all((alice != bob) == (k == 1)))
    ([0, 1, 1], True)
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    tables = [
        np.ascontiguousarray(t, dtype=np.uint8) for t in (cell_k, cell_a, cell_b, cell_outcome)
    ]
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise ValueError("counts must be a one-dimensional array of counts >= 0")
    if any(t.size < counts.size for t in tables):
        raise ValueError("the cell tables must have an entry per count")
    return _fill_bb84_events(rng, counts, *tables)


@njit(cache=True)
def _tally_bb84(
    k: NDArray[np.uint8],
    a: NDArray[np.uint8],
    b: NDArray[np.uint8],
    alice_bit: NDArray[np.uint8],
    bob_bit: NDArray[np.uint8],
    flags: NDArray[np.uint8],
    n_k: int,
) -> NDArray[np.int64]:
    out = np.zeros((n_k, 8), dtype=np.int64)
    for i in range(k.size):
        row = k[i]
        out[row, 0] += 1
        if a[i] == b[i]:
            err = 1 if alice_bit[i] != bob_bit[i] else 0
            if a[i] == 0:
                out[row, 1] += 1
                out[row, 2] += err
            else:
                out[row, 3] += 1
                out[row, 4] += err
        f = flags[i]
        out[row, 5] += f & 1
        out[row, 6] += (f >> 1) & 1
        out[row, 7] += (f >> 2) & 1
    return out


def tally_bb84(
    k: NDArray[np.uint8],
    a: NDArray[np.uint8],
    b: NDArray[np.uint8],
    alice_bit: NDArray[np.uint8],
    bob_bit: NDArray[np.uint8],
    flags: NDArray[np.uint8],
    n_k: int,
) -> NDArray[np.int64]:
    """Per-intensity counts of a BB84 sample in one pass.

    Parameters
    ----------
    k, a, b, alice_bit, bob_bit
        Intensity index, bases and bits of each click (uint8).
    flags
        Bit 0: double click; bit 1: dark-only click; bit 2: afterpulse-only click.
    n_k
        Number of intensities.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_k, 8)``: detections, sifted X, errors X, sifted Z, errors Z, double,
        dark-only, afterpulse-only.

    Raises
    ------
    ValueError
        For arrays of different lengths or an intensity index >= ``n_k``.

    Example
    -------
    >>> z = np.zeros(2, np.uint8)
    >>> tally_bb84(z, z, z, z, np.array([0, 1], np.uint8), z, 1).tolist()
    [[2, 2, 1, 0, 0, 0, 0, 0]]
    """
    k_, a_, b_, x_, y_, f_ = (
        np.ascontiguousarray(x, dtype=np.uint8) for x in (k, a, b, alice_bit, bob_bit, flags)
    )
    if len({x.shape for x in (k_, a_, b_, x_, y_, f_)}) != 1:
        raise ValueError("k, a, b, alice_bit, bob_bit and flags must have equal lengths")
    if k_.size and int(k_.max()) >= n_k:
        raise ValueError(f"intensity index out of range for n_k={n_k}")
    out: NDArray[np.int64] = _tally_bb84(k_, a_, b_, x_, y_, f_, int(n_k))
    return out
