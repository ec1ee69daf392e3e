"""Slow, obviously-correct twins of the LDPC kernels in
``quaykey.postproc.reconcile._ldpc_kernels``.

The twin computes every check-to-variable message straight from its definition (a sum or a
minimum over the *other* edges of the check, O(d^2) per check) instead of the kernel's
one-pass totals, and uses plain Python loops and lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray


def exact_phi(x: float) -> float:
    """``-log(tanh(x/2))`` with the kernel's floor on ``x``."""
    return -math.log(math.tanh(0.5 * max(x, 1e-12))) if x < 40.0 else 0.0


def layered_decode(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    post: NDArray[np.float64],
    msg: NDArray[np.float64],
    syndromes: NDArray[np.uint8],
    max_iter: int,
    min_sum: bool,
    alpha: float,
    stop_early: bool,
    stall: int = 0,
    phi: Callable[[float], float] = exact_phi,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.int64]]:
    """Layered BP with syndrome constraints; same contract as the kernel (in place)."""
    n_frames, n = post.shape
    m = len(check_ptr) - 1
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    converged = np.zeros(n_frames, dtype=bool)
    iterations = np.zeros(n_frames, dtype=np.int64)
    for f in range(n_frames):
        done = False
        it = 0
        history: list[int] = []
        while it < max_iter and not done:
            it += 1
            for c in range(m):
                edges = list(range(int(check_ptr[c]), int(check_ptr[c + 1])))
                # Variable-to-check messages: posterior minus this check's old message.
                q = {e: float(post[f, check_var[e]]) - float(msg[f, e]) for e in edges}
                for e in edges:
                    others = [q[o] for o in edges if o != e]
                    negatives = sum(1 for v in others if v < 0.0) + int(syndromes[f, c])
                    sign = -1.0 if negatives % 2 else 1.0
                    if min_sum:
                        mag = alpha * min(abs(v) for v in others)
                    else:
                        mag = phi(sum(phi(abs(v)) for v in others))
                    msg[f, e] = sign * mag
                for e in edges:
                    post[f, check_var[e]] = q[e] + msg[f, e]
            if stop_early or it == max_iter:
                hard = [1 if post[f, v] < 0.0 else 0 for v in range(n)]
                unsat = sum(
                    sum(hard[check_var[e]] for e in range(check_ptr[c], check_ptr[c + 1])) % 2
                    != syndromes[f, c]
                    for c in range(m)
                )
                done = unsat == 0
                history.append(unsat)
                # Give up when the last `stall` counts are all above the best before them.
                if (
                    stall > 0
                    and len(history) > stall
                    and min(history[-stall:]) >= min(history[:-stall])
                ):
                    break
        bits[f] = (post[f] < 0.0).astype(np.uint8)
        converged[f] = done
        iterations[f] = it
    return bits, converged, iterations
