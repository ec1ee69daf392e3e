"""numba kernels: layered sum-product decoding of many frames at once, one frame per SIMD lane.

Private; the threads and pools that run them are in :mod:`._ldpc_pools`. Use
:func:`quaykey.postproc.reconcile.ldpc.decode_syndrome` or
:class:`~quaykey.postproc.reconcile.ldpc.LdpcBob` with ``decoder="sum-product-lanes"``. The
scalar twin is ``_ldpc_kernels.layered_decode`` (same layered schedule, same sum-product
rule, float64, phi interpolated): on the same frames both reach the same decisions wherever
both converge (``tests/unit/postproc/test_ldpc_lanes.py``).

Layout: a *pool* of :data:`LANES` (16) frames is decoded together (8 or 4 when there are
only that few, :func:`._ldpc_pools.pool_width`). Posteriors are stored as ``post[v, lane]`` and
check-to-variable messages as ``msg[e, lane]`` (float32), so one row of 16 lanes is one
64-byte vector; the update of a check is written as explicit vector instructions in
:mod:`._ldpc_vector` (tanh-domain sum-product, polynomial exp and log, no table lookups).
Each lane stops on its own: after every iteration the lanes whose hard decision satisfies
their syndrome (or that ran out of iterations, or stalled) write out their result and the
next waiting frame takes the lane. Once no frame waits and at most half the lanes are
busy, their state moves to an 8- or 4-lane pool (:func:`_narrow`): every width computes
the same bits, so a frame ends exactly as it would alone. The kernels release the GIL, so
:func:`._ldpc_pools.decode_frames` runs one pool per thread; :func:`_run_pool` runs a pool
until some lanes are idle, so that a :class:`._ldpc_pools.LanePool` can hand back the
frames that stopped while the others keep their state, and take new ones while it runs
(blind reconciliation frame by frame, ``LdpcBob(schedule="frames")``).

Why sum-product and not min-sum: on the project's codes (check degrees 11-42) normalised
min-sum (alpha 0.4-0.85) failed to converge at Q = 2 % on the rate-0.8 code at f = 1.41,
where sum-product converges in 8 iterations; it would cost far more in f than it saves.

References
----------
D. E. Hocevar, IEEE SiPS 2004 (layered schedule); R. G. Gallager, *Low-density
parity-check codes*, 1963 (the tanh rule).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from quaykey.postproc.reconcile._ldpc_vector import (
    W,
    check_update_4,
    check_update_8,
    check_update_16,
    negative_lanes,
)

__all__ = ["LANES", "decode_lanes"]

#: Lanes per pool: frames decoded together by one thread (one 64-byte vector of float32).
LANES = W

#: A pool's state: ``post, msg, fresh, syn_sign, syn_word, frame_of, it, best, best_it``.
PoolState = tuple[
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.float32],
    NDArray[np.uint64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
]


@njit(cache=True, nogil=True)
def _iteration(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    post: NDArray[np.float32],
    msg: NDArray[np.float32],
    syn_sign: NDArray[np.float32],
    qbuf: NDArray[np.float32],
    tbuf: NDArray[np.float32],
    fbuf: NDArray[np.float32],
    fresh: NDArray[np.int32],
) -> None:  # pragma: no cover - compiled
    """One layered sum-product iteration over every check, for all lanes at once.

    The arrays have 16, 8 or 4 lanes (columns). Lanes marked in ``fresh`` start from zero
    messages; afterwards no lane is fresh.
    """
    m = check_ptr.size - 1
    lanes = post.shape[1]
    if lanes == 16:
        for c in range(m):
            check_update_16(check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh, c)  # type: ignore[call-arg]
    elif lanes == 8:
        for c in range(m):
            check_update_8(check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh, c)  # type: ignore[call-arg]
    else:
        for c in range(m):
            check_update_4(check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh, c)  # type: ignore[call-arg]
    fresh[:] = 0


@njit(cache=True, nogil=True)
def _unsatisfied(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    post: NDArray[np.float32],
    syn_word: NDArray[np.uint64],
    hard: NDArray[np.uint64],
    unsat: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """Number of checks each lane's hard decision leaves unsatisfied.

    The hard decisions of all lanes of a variable are packed into one word (bit ``lane``)
    by one vector compare (:func:`._ldpc_vector.negative_lanes`; a lane-by-lane loop cost
    half as much again), so a check's parities for every lane are the XOR of its
    variables' words.
    """
    n, lanes = post.shape
    for v in range(n):
        hard[v] = negative_lanes(post, v)  # type: ignore[call-arg]
    unsat[:] = 0
    for c in range(check_ptr.size - 1):
        w = syn_word[c]
        for e in range(check_ptr[c], check_ptr[c + 1]):
            w ^= hard[check_var[e]]
        if w:
            for ln in range(lanes):
                unsat[ln] += (w >> np.uint64(ln)) & np.uint64(1)


@njit(cache=True, nogil=True)
def _load(
    lane: int,
    f: int,
    priors: NDArray[np.float32],
    syndromes: NDArray[np.uint8],
    post: NDArray[np.float32],
    msg: NDArray[np.float32],
    syn_sign: NDArray[np.float32],
    syn_word: NDArray[np.uint64],
    warm_msg: NDArray[np.float32],
    fresh: NDArray[np.int32],
) -> None:  # pragma: no cover - compiled
    """Put frame ``f`` into ``lane``: its priors and zero messages (``fresh``: the lane's
    stored messages are read as 0 until its next iteration has rewritten them all), or
    (when ``warm_msg`` has a row per frame) the posteriors and messages where its last
    attempt stopped."""
    post[:, lane] = priors[f]
    if warm_msg.shape[0]:
        msg[:, lane] = warm_msg[f]
        fresh[lane] = 0
    else:
        fresh[lane] = 1
    bit = np.uint64(1) << np.uint64(lane)
    for c in range(syndromes.shape[1]):
        if syndromes[f, c]:
            syn_sign[c, lane] = -1.0
            syn_word[c] |= bit
        else:
            syn_sign[c, lane] = 1.0
            syn_word[c] &= ~bit


@njit(cache=True, nogil=True)
def _narrow(
    width: int,
    post: NDArray[np.float32],
    msg: NDArray[np.float32],
    fresh: NDArray[np.int32],
    syn_sign: NDArray[np.float32],
    syn_word: NDArray[np.uint64],
    frame_of: NDArray[np.int64],
    it: NDArray[np.int64],
    best: NDArray[np.int64],
    best_it: NDArray[np.int64],
) -> PoolState:  # pragma: no cover - compiled
    """The busy lanes' state, moved into a pool of ``width`` lanes (at least as many).

    The state is copied exactly, so a frame's decoding does not change; the lanes left
    over start idle (zero posteriors, fresh).
    """
    n, m, n_edges = post.shape[0], syn_sign.shape[0], msg.shape[0]
    src = np.empty(width, dtype=np.int64)
    busy = 0
    for ln in range(frame_of.size):
        if frame_of[ln] >= 0:
            src[busy] = ln
            busy += 1
    post2 = np.zeros((n, width), dtype=np.float32)
    msg2 = np.empty((n_edges, width), dtype=np.float32)
    fresh2 = np.ones(width, dtype=np.int32)
    syn2 = np.ones((m, width), dtype=np.float32)
    word2 = np.zeros(m, dtype=np.uint64)
    frame2 = np.full(width, -1, dtype=np.int64)
    it2 = np.zeros(width, dtype=np.int64)
    best2 = np.full(width, m + 1, dtype=np.int64)
    best_it2 = np.zeros(width, dtype=np.int64)
    for v in range(n):
        for j in range(busy):
            post2[v, j] = post[v, src[j]]
    for e in range(n_edges):
        for j in range(busy):
            msg2[e, j] = msg[e, src[j]]
    for c in range(m):
        for j in range(busy):
            syn2[c, j] = syn_sign[c, src[j]]
            if (syn_word[c] >> np.uint64(src[j])) & np.uint64(1):
                word2[c] |= np.uint64(1) << np.uint64(j)
    for j in range(busy):
        o = src[j]
        fresh2[j] = fresh[o]
        frame2[j] = frame_of[o]
        it2[j] = it[o]
        best2[j] = best[o]
        best_it2[j] = best_it[o]
    return post2, msg2, fresh2, syn2, word2, frame2, it2, best2, best_it2


@njit(cache=True, nogil=True)
def _new_pool(lanes: int, n: int, m: int, n_edges: int) -> PoolState:  # pragma: no cover - compiled
    """An idle pool of ``lanes`` lanes: the state arrays :func:`_narrow` also returns."""
    return (
        np.zeros((n, lanes), dtype=np.float32),
        np.empty((n_edges, lanes), dtype=np.float32),  # read only where written
        np.ones(lanes, dtype=np.int32),
        np.ones((m, lanes), dtype=np.float32),
        np.zeros(m, dtype=np.uint64),
        np.full(lanes, -1, dtype=np.int64),
        np.zeros(lanes, dtype=np.int64),
        np.full(lanes, m + 1, dtype=np.int64),
        np.zeros(lanes, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _run_pool(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    priors: NDArray[np.float32],
    syndromes: NDArray[np.uint8],
    queue: NDArray[np.int64],
    q_pos: NDArray[np.int64],
    post: NDArray[np.float32],
    msg: NDArray[np.float32],
    fresh: NDArray[np.int32],
    syn_sign: NDArray[np.float32],
    syn_word: NDArray[np.uint64],
    frame_of: NDArray[np.int64],
    it: NDArray[np.int64],
    best: NDArray[np.int64],
    best_it: NDArray[np.int64],
    max_iter: int,
    stall: int,
    bits: NDArray[np.uint8],
    converged: NDArray[np.bool_],
    iterations: NDArray[np.int64],
    warm_msg: NDArray[np.float32],
    done: NDArray[np.int64],
    n_done: NDArray[np.int64],
    yield_idle: int,
) -> None:  # pragma: no cover - compiled
    """Run a pool (its state arrays, 16, 8 or 4 lanes) on the frames ``queue[q_pos[0]:]``.

    Idle lanes take waiting frames; each iteration updates every lane; a frame that stops
    (see :func:`decode_lanes`) writes its outputs, is appended to ``done`` (``n_done[0]``
    counts them) and its lane takes the next waiting frame. Returns once every lane is
    idle and no frame waits, or, after an iteration in which a frame stopped, once no
    frame waits and at least ``yield_idle`` lanes are idle. ``q_pos[0]`` is left at the
    first frame not taken.
    """
    n = priors.shape[1]
    m = check_ptr.size - 1
    lanes = post.shape[1]
    max_deg = 0
    for c in range(m):
        max_deg = max(max_deg, check_ptr[c + 1] - check_ptr[c])
    qbuf = np.empty((max_deg, lanes), dtype=np.float32)
    tbuf = np.empty((max_deg, lanes), dtype=np.float32)
    fbuf = np.empty((max_deg, lanes), dtype=np.float32)
    hard = np.empty(n, dtype=np.uint64)
    unsat = np.zeros(lanes, dtype=np.int64)
    busy = 0
    for ln in range(lanes):
        if frame_of[ln] < 0 and q_pos[0] < q_pos[1]:
            frame_of[ln] = queue[q_pos[0]]
            _load(
                ln, frame_of[ln], priors, syndromes, post, msg, syn_sign, syn_word, warm_msg, fresh
            )
            q_pos[0] += 1
        if frame_of[ln] >= 0:
            busy += 1
    while busy > 0:
        _iteration(check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh)
        _unsatisfied(check_ptr, check_var, post, syn_word, hard, unsat)
        stopped = False
        for ln in range(lanes):
            f = frame_of[ln]
            if f < 0:
                continue
            it[ln] += 1
            if unsat[ln] < best[ln]:
                best[ln] = unsat[ln]
                best_it[ln] = it[ln]
            ok = unsat[ln] == 0
            stalled = stall > 0 and it[ln] - best_it[ln] >= stall
            if not (ok or stalled or it[ln] >= max_iter):
                continue
            for v in range(n):
                bits[f, v] = 1 if post[v, ln] < 0 else 0
            converged[f] = ok
            iterations[f] = it[ln]
            if warm_msg.shape[0]:
                priors[f] = post[:, ln]
                warm_msg[f] = msg[:, ln]
            done[n_done[0]] = f
            n_done[0] += 1
            stopped = True
            it[ln] = 0
            best[ln] = m + 1
            best_it[ln] = 0
            frame_of[ln] = -1
            if q_pos[0] < q_pos[1]:
                frame_of[ln] = queue[q_pos[0]]
                _load(
                    ln,
                    frame_of[ln],
                    priors,
                    syndromes,
                    post,
                    msg,
                    syn_sign,
                    syn_word,
                    warm_msg,
                    fresh,
                )
                q_pos[0] += 1
            else:
                busy -= 1  # the idle lane keeps computing on finite values, never read
        if stopped and q_pos[0] >= q_pos[1] and lanes - busy >= yield_idle:
            return


@njit(cache=True, nogil=True)
def decode_lanes(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    priors: NDArray[np.float32],
    syndromes: NDArray[np.uint8],
    frames: NDArray[np.int64],
    lanes: int,
    max_iter: int,
    stall: int,
    bits: NDArray[np.uint8],
    converged: NDArray[np.bool_],
    iterations: NDArray[np.int64],
    warm_msg: NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """Decode ``priors[frames]`` against ``syndromes[frames]`` in one pool of ``lanes`` lanes.

    ``lanes`` is 16, 8 or 4 (the width of the vector code).
    Writes ``bits[f]``, ``converged[f]`` and ``iterations[f]`` for each ``f`` in ``frames``
    (other rows untouched, so threads may share the output arrays). A frame stops after the
    first iteration whose hard decision satisfies every check, after ``max_iter``
    iterations, or (``stall > 0``) once its count of unsatisfied checks has not reached a
    new minimum for ``stall`` iterations.

    Warm attempts: when ``warm_msg`` has one row of messages per frame (otherwise it has no
    rows), a frame starts from ``priors[f]`` as its posteriors and ``warm_msg[f]`` as its
    messages, and both rows are overwritten with the state where the attempt stopped.
    """
    if lanes != 4 and lanes != 8 and lanes != 16:
        raise ValueError("lanes must be 4, 8 or 16")
    n = priors.shape[1]
    m = check_ptr.size - 1
    post, msg, fresh, syn_sign, syn_word, frame_of, it, best, best_it = _new_pool(
        lanes, n, m, check_var.size
    )
    q_pos = np.array([0, frames.size], dtype=np.int64)
    done = np.empty(frames.size, dtype=np.int64)
    n_done = np.zeros(1, dtype=np.int64)
    while True:
        # Stop when at most half the lanes are busy and no frame waits: the busy lanes then
        # move to a narrower pool (an 8-lane iteration costs 0.6 of a 16-lane one), so the
        # last frames do not pay for idle lanes.
        _run_pool(
            check_ptr,
            check_var,
            priors,
            syndromes,
            frames,
            q_pos,
            post,
            msg,
            fresh,
            syn_sign,
            syn_word,
            frame_of,
            it,
            best,
            best_it,
            max_iter,
            stall,
            bits,
            converged,
            iterations,
            warm_msg,
            done,
            n_done,
            lanes // 2 if lanes > 4 else lanes + 1,
        )
        busy = 0
        for ln in range(lanes):
            if frame_of[ln] >= 0:
                busy += 1
        if busy == 0:
            return
        lanes = 4 if busy <= 4 else 8
        post, msg, fresh, syn_sign, syn_word, frame_of, it, best, best_it = _narrow(
            lanes, post, msg, fresh, syn_sign, syn_word, frame_of, it, best, best_it
        )
