"""numba kernels for LDPC syndrome decoding (private; use :mod:`.ldpc`).

One kernel: a layered (row-serial) belief-propagation decoder with syndrome constraints, in
either sum-product form (``phi(x) = -log tanh(x/2)`` domain) or normalised min-sum form.
Its slow twin is ``tests/reference/ldpc_reference.py::layered_decode``.

Conventions: the LLR of a bit is ``log P(bit = 0) / P(bit = 1)``; a check ``c`` with syndrome
bit ``s_c`` requires the XOR of its variables to equal ``s_c``, which flips the sign of its
outgoing messages when ``s_c = 1``.

References
----------
D. E. Hocevar, "A reduced complexity decoder architecture via layered decoding of LDPC
codes", IEEE SiPS 2004 (layered schedule). J. Chen, M. P. C. Fossorier, "Near optimum
universal belief propagation based decoding of LDPC codes", IEEE Trans. Commun. 50(3), 2002
(normalised min-sum).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["PHI_CEIL", "PHI_EXACT_BELOW", "PHI_FLOOR", "PHI_STEP", "layered_decode", "phi"]

#: Smallest magnitude fed to phi (phi(PHI_FLOOR) ~ 28.3 bounds every check message).
PHI_FLOOR = 1e-12
#: phi is taken as 0 at and above this magnitude (phi(40) ~ 8.5e-18).
PHI_CEIL = 40.0
#: Below this, phi is computed exactly (it is steep there); above, from a table.
PHI_EXACT_BELOW = 1.0 / 16.0
#: Grid step of the phi table (linear interpolation error < 5e-4 absolute for
#: x >= PHI_EXACT_BELOW, since phi''(x) <= 1/x**2 + 1/2).
PHI_STEP = 1.0 / 256.0
_PHI_TABLE = -np.log(
    np.tanh(0.5 * np.maximum(np.arange(round(PHI_CEIL / PHI_STEP) + 2) * PHI_STEP, PHI_FLOOR))
)
_PHI_TABLE[-2:] = 0.0


@njit(cache=True)
def phi(x: float) -> float:
    """``-log(tanh(x / 2))`` for ``x >= 0``: exact below 1/16, interpolated above, 0 past 40."""
    if x < PHI_EXACT_BELOW:
        if x < PHI_FLOOR:
            x = PHI_FLOOR
        return -math.log(math.tanh(0.5 * x))
    if x >= PHI_CEIL:
        return 0.0
    t = x * (1.0 / PHI_STEP)
    i = int(t)
    w = t - i
    return _PHI_TABLE[i] + w * (_PHI_TABLE[i + 1] - _PHI_TABLE[i])


@njit(cache=True)
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
    stall: int,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.int64]]:
    """Decode a batch of frames in place; return bits, converged flags and iterations.

    ``post`` ``(n_frames, n)`` holds the posterior LLRs (on a fresh start: the priors) and
    ``msg`` ``(n_frames, n_edges)`` the check-to-variable messages (fresh start: zeros);
    both are updated in place, so a later call continues where this one stopped (after
    the caller adds any change of prior to ``post``). ``syndromes`` is ``(n_frames, m)``.
    An iteration visits every check once, in index order (layered schedule). With
    ``stop_early`` a frame stops after the first iteration whose hard decision satisfies
    every check; otherwise it runs ``max_iter`` iterations. With ``stop_early`` and
    ``stall > 0`` a frame also gives up (not converged) once its number of unsatisfied
    checks has not reached a new minimum for ``stall`` iterations.
    """
    n_frames, n = post.shape
    m = check_ptr.size - 1
    max_deg = 0
    for c in range(m):
        d = check_ptr[c + 1] - check_ptr[c]
        if d > max_deg:
            max_deg = d
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    converged = np.zeros(n_frames, dtype=np.bool_)
    iterations = np.zeros(n_frames, dtype=np.int64)
    q = np.empty(max_deg, dtype=np.float64)
    pq = np.empty(max_deg, dtype=np.float64)
    for f in range(n_frames):
        L = post[f]
        r = msg[f]
        done = False
        it = 0
        best = m + 1
        best_it = 0
        while it < max_iter and not done:
            it += 1
            for c in range(m):
                start = check_ptr[c]
                deg = check_ptr[c + 1] - start
                sign = -1.0 if syndromes[f, c] else 1.0
                total = 0.0
                min1 = np.inf
                min2 = np.inf
                arg1 = -1
                for k in range(deg):
                    e = start + k
                    qk = L[check_var[e]] - r[e]
                    q[k] = qk
                    if qk < 0.0:
                        sign = -sign
                    a = abs(qk)
                    if min_sum:
                        if a < min1:
                            min2 = min1
                            min1 = a
                            arg1 = k
                        elif a < min2:
                            min2 = a
                    else:
                        p = phi(a)
                        pq[k] = p
                        total += p
                for k in range(deg):
                    e = start + k
                    qk = q[k]
                    s = -sign if qk < 0.0 else sign
                    mag = alpha * (min2 if k == arg1 else min1) if min_sum else phi(total - pq[k])
                    rk = s * mag
                    r[e] = rk
                    L[check_var[e]] = qk + rk
            if stop_early or it == max_iter:
                unsat = 0
                for c in range(m):
                    par = syndromes[f, c]
                    for e in range(check_ptr[c], check_ptr[c + 1]):
                        if L[check_var[e]] < 0.0:
                            par ^= 1
                    unsat += par
                done = unsat == 0
                if unsat < best:
                    best = unsat
                    best_it = it
                elif stall > 0 and it - best_it >= stall:
                    break
        for v in range(n):
            bits[f, v] = 1 if L[v] < 0.0 else 0
        converged[f] = done
        iterations[f] = it
    return bits, converged, iterations
