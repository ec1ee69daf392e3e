"""numba kernel: layered sum-product decoding of many frames at once, one frame per SIMD lane.

Private; use :func:`quaykey.postproc.reconcile.ldpc.decode_syndrome` or
:class:`~quaykey.postproc.reconcile.ldpc.LdpcBob` with ``decoder="sum-product-lanes"``. The
scalar twin is ``_ldpc_kernels.layered_decode`` (same layered schedule, same sum-product
rule, float64, phi interpolated): on the same frames both reach the same decisions wherever
both converge (``tests/unit/postproc/test_ldpc_lanes.py``).

Layout: a *pool* of :data:`LANES` (16) frames is decoded together (8 or 4 when there are
only that few, :func:`pool_width`). Posteriors are stored as ``post[v, lane]`` and
check-to-variable messages as ``msg[e, lane]`` (float32), so one row of 16 lanes is one
64-byte vector; the update of a check is written as explicit vector instructions in
:mod:`._ldpc_vector` (tanh-domain sum-product, polynomial exp and log, no table lookups).
Each lane stops on its own: after every iteration the lanes whose hard decision satisfies
their syndrome (or that ran out of iterations, or stalled) write out their result and the
next waiting frame takes the lane. Once no frame waits and at most half the lanes are
busy, their state moves to an 8- or 4-lane pool (:func:`_narrow`): every width computes
the same bits, so a frame ends exactly as it would alone. The kernel releases the GIL, so
:func:`decode_frames` runs one pool per thread. A :class:`LanePool` is the same pool kept
between calls: it hands back the frames that stopped while the others keep their state,
and takes new ones while it runs (blind reconciliation frame by frame,
``LdpcBob(schedule="frames")``).

Why sum-product and not min-sum: on the project's codes (check degrees 11-42) normalised
min-sum (alpha 0.4-0.85) failed to converge at Q = 2 % on the rate-0.8 code at f = 1.41,
where sum-product converges in 8 iterations; it would cost far more in f than it saves.

References
----------
D. E. Hocevar, IEEE SiPS 2004 (layered schedule); R. G. Gallager, *Low-density
parity-check codes*, 1963 (the tanh rule).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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

__all__ = [
    "LANES",
    "LanePool",
    "decode_frames",
    "decode_lanes",
    "default_threads",
    "pool_width",
    "split_frames",
]

#: Lanes per pool: frames decoded together by one thread (one 64-byte vector of float32).
LANES = W


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
) -> tuple[
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.float32],
    NDArray[np.uint64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
]:  # pragma: no cover - compiled
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
def _new_pool(
    lanes: int, n: int, m: int, n_edges: int
) -> tuple[
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.float32],
    NDArray[np.uint64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
]:  # pragma: no cover - compiled
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


def pool_width(n_frames: int) -> int:
    """Lanes of a pool for ``n_frames`` frames: 4, 8 or :data:`LANES` (16).

    A pool costs its width whether its lanes are busy or not, so few frames take a narrow
    vector: at 2**16 one iteration of a 4-lane pool costs about half that of a 16-lane one.

    Example
    -------
    >>> pool_width(3), pool_width(7), pool_width(40)
    (4, 8, 16)
    """
    return 4 if n_frames <= 4 else 8 if n_frames <= 8 else LANES


def default_threads() -> int:
    """Threads for decoding: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def split_frames(n_frames: int, threads: int | None = None) -> list[NDArray[np.int64]]:
    """The frames of each pool: frame ``i`` goes to pool ``i % t`` (one pool per thread).

    ``t`` is the smaller of ``threads`` (default: :func:`default_threads`) and the number
    of pools the frames fill: pools of :data:`LANES` lanes, or of 8 for 9 to 16 frames (a
    pool costs the same whether its lanes are busy or not; an 8-lane one costs about 0.6
    of a 16-lane one, so two of them cut the wall time by 40 % for 18 % more CPU, while 8
    frames or fewer stay on one thread: two 4-lane pools would cost 1.7 times the CPU of
    one 8-lane pool for 15 % less wall time).

    Example
    -------
    >>> [c.tolist() for c in split_frames(5, threads=2)], len(split_frames(12, threads=2))
    ([[0, 1, 2, 3, 4]], 2)
    """
    cap = default_threads() if threads is None else int(threads)
    per_pool = W if n_frames > W else W // 2
    t = max(1, min(cap, -(-n_frames // per_pool)))  # no pool left idle
    return [np.arange(i, n_frames, t, dtype=np.int64) for i in range(t)]


class LanePool:
    """One pool of lanes that frames may join while it runs (the frame-by-frame schedule).

    Blind reconciliation decoded round by round leaves lanes idle: a round lasts as long
    as its slowest frame, and a frame whose attempt failed waits for the whole round
    before its next reveal. A ``LanePool`` instead hands back the frames that stopped
    (:meth:`run`) as soon as a quarter of its lanes are idle with no frame waiting; the
    caller asks for the failed ones' reveals, updates their rows of ``priors`` and
    :meth:`push` es them back, while the other lanes keep their state. Each attempt is
    the same fresh decoding as in :func:`decode_frames` (same stopping rules, and every
    pool width computes the same bits), so a frame's result does not depend on the
    schedule. Once no frame waits and at most half the lanes are busy, the busy lanes move
    to a narrower pool (exactly, see :func:`_narrow`).

    ``priors`` (float32, C-contiguous, a row per frame) and ``syndromes`` are read when a
    frame is loaded; ``bits``, ``converged`` and ``iterations`` receive each attempt's
    outcome in the frame's row (pools sharing these arrays own disjoint rows).
    """

    def __init__(
        self,
        check_ptr: NDArray[np.int64],
        check_var: NDArray[np.int64],
        priors: NDArray[np.float32],
        syndromes: NDArray[np.uint8],
        lanes: int,
        *,
        max_iter: int,
        stall: int,
        bits: NDArray[np.uint8],
        converged: NDArray[np.bool_],
        iterations: NDArray[np.int64],
    ) -> None:
        if lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {lanes!r}")
        if priors.dtype != np.float32 or not priors.flags.c_contiguous:
            raise ValueError("priors must be a C-contiguous float32 array")
        self._code = (check_ptr, check_var)
        self._priors, self._syndromes = priors, syndromes
        self._out = (bits, converged, iterations)
        self._limits = (int(max_iter), int(stall))
        self._state = _new_pool(lanes, priors.shape[1], check_ptr.size - 1, check_var.size)
        self._no_warm = np.zeros((0, check_var.size), dtype=np.float32)
        self.waiting: list[int] = []

    @property
    def lanes(self) -> int:
        """Current width of the pool (16, 8 or 4)."""
        return int(self._state[0].shape[1])

    @property
    def busy(self) -> int:
        """Lanes decoding a frame."""
        return int((self._state[5] >= 0).sum())

    def push(self, frames: list[int]) -> None:
        """Queue frames (rows of ``priors``) for a fresh attempt."""
        self.waiting.extend(int(f) for f in frames)

    def run(self) -> list[int]:
        """Decode until every lane is idle with no frame waiting, or a quarter of the lanes
        are; return the frames that stopped meanwhile (their outputs are written)."""
        queue = np.array(self.waiting, dtype=np.int64)
        q_pos = np.array([0, queue.size], dtype=np.int64)
        lanes = self.lanes
        done = np.empty(queue.size + lanes, dtype=np.int64)
        n_done = np.zeros(1, dtype=np.int64)
        args: list[Any] = [*self._code, self._priors, self._syndromes, queue, q_pos]
        args += [*self._state, *self._limits, *self._out, self._no_warm, done, n_done]
        _run_pool(*args, max(1, lanes // 4))  # type: ignore[call-arg]
        self.waiting = self.waiting[int(q_pos[0]) :]
        busy = self.busy
        if not self.waiting and lanes > 4 and 0 < busy <= lanes // 2:
            self._state = _narrow(4 if busy <= 4 else 8, *self._state)
        return done[: int(n_done[0])].tolist()  # type: ignore[no-any-return]


def decode_frames(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    priors: NDArray[np.floating[Any]],
    syndromes: NDArray[np.uint8],
    *,
    max_iter: int,
    stall: int = 0,
    threads: int | None = None,
    warm_msg: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.int64]]:
    """Decode every row of ``priors`` against its syndrome; frames spread over threads.

    Frames are split between pools, one per thread, by :func:`split_frames`; each pool is
    :func:`pool_width` lanes wide. Returns ``(bits, converged, iterations)`` as
    :func:`_ldpc_kernels.layered_decode` does. The result does not depend on ``threads``:
    lanes never interact.

    With ``warm_msg`` (float32, one row of messages per frame, C-contiguous), each frame
    continues from the posteriors in ``priors`` and these messages, and both arrays are
    updated in place with the state where its attempt stopped; ``priors`` must then be a
    C-contiguous float32 array too.
    """
    if warm_msg is not None:
        ok = warm_msg.dtype == np.float32 and warm_msg.flags.c_contiguous
        if not ok or priors.dtype != np.float32 or not priors.flags.c_contiguous:
            raise ValueError("warm decoding needs C-contiguous float32 priors and warm_msg")
        if warm_msg.shape != (priors.shape[0], check_var.size):
            raise ValueError("warm_msg must have one row of n_edges messages per frame")
    pri = np.ascontiguousarray(priors, dtype=np.float32)
    warm = np.zeros((0, check_var.size), dtype=np.float32) if warm_msg is None else warm_msg
    syn = np.ascontiguousarray(syndromes, dtype=np.uint8)
    n_frames, n = pri.shape
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    converged = np.zeros(n_frames, dtype=np.bool_)
    iterations = np.zeros(n_frames, dtype=np.int64)
    if n_frames == 0:
        return bits, converged, iterations
    chunks = split_frames(n_frames, threads)
    t = len(chunks)

    def work(frames: NDArray[np.int64]) -> None:
        decode_lanes(
            check_ptr,
            check_var,
            pri,
            syn,
            frames,
            pool_width(frames.size),
            int(max_iter),
            int(stall),
            bits,
            converged,
            iterations,
            warm,
        )

    if t == 1:
        work(chunks[0])
    else:
        with ThreadPoolExecutor(max_workers=t) as ex:
            list(ex.map(work, chunks))
    return bits, converged, iterations
