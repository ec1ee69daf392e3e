"""Threads and pools for the many-frames LDPC decoder (private).

The numba kernels of :mod:`._ldpc_lanes` decode one *pool* of 16, 8 or 4 frames side by
side. This module decides how many pools and of what width (:func:`split_frames`,
:func:`pool_width`), runs one per thread (:func:`decode_frames`, the batch API used by
:func:`quaykey.postproc.reconcile.ldpc.decode_syndrome` and round-by-round blind
reconciliation), and keeps a pool alive between calls (:class:`LanePool`) for blind
reconciliation frame by frame. Lanes never interact, so no choice made here changes a
frame's result (``tests/unit/postproc/test_ldpc_lanes.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc.reconcile._ldpc_lanes import (
    LANES,
    _narrow,
    _new_pool,
    _run_pool,
    decode_lanes,
)
from quaykey.postproc.reconcile._ldpc_vector import W

__all__ = ["LanePool", "decode_frames", "default_threads", "pool_width", "split_frames"]


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
