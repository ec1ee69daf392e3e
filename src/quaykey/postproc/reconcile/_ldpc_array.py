"""Sum-product decoding written in whole-array operations, for a GPU through CuPy (private).

Used by :func:`quaykey.postproc.reconcile.ldpc.decode_syndrome` and
:class:`~quaykey.postproc.reconcile.ldpc.LdpcBob` with ``decoder="sum-product-gpu"``. The
same code runs on NumPy (``xp=numpy``), which is how the tests hold it to the CPU decoders
on machines without a GPU; with CuPy (an optional dependency: ``pip install
'quaykey[gpu]'``) every step is a GPU kernel over all frames at once.

Schedule and rule: *flooding* (every check, then every variable, per iteration; Gallager,
MacKay) rather than the CPU decoders' layered schedule, because a flooding iteration is a
handful of data-parallel array operations. It needs more iterations than layered decoding
(about twice as many, Hocevar 2004) for the same decisions. The check update is the tanh
rule in float64, ``msg[c, j] = s_c prod_{i != j} sign(x_i) * 2 atanh(prod_{i != j}
tanh(|x_i| / 2))`` with ``x_i = post[v_i] - msg[c, i]``; the products over the other edges
are prefix times suffix (cumulative products), so a zero factor is exact.

Layout: the checks are padded to the largest check degree ``D`` (the project's codes have
check degrees within one of each other, so the padding is small). A padding slot points at
an extra variable whose posterior is :data:`_PAD_LLR` (``tanh`` of it is exactly 1.0, sign
+), so it changes no product. The variable update groups the variables by degree: one
gather and one sum per distinct degree.

A frame stops when its hard decision satisfies its syndrome, after ``max_iter``
iterations, or (``stall > 0``) when its count of unsatisfied checks has not reached a new
minimum for ``stall`` iterations, as in :func:`._ldpc_lanes.decode_lanes`. Stopped frames
leave the batch, so later iterations only work on the frames still running.

References
----------
R. G. Gallager, *Low-density parity-check codes*, MIT Press, 1963; D. J. C. MacKay, IEEE
Trans. Inf. Theory 45(2), 1999 (sum-product, flooding); D. E. Hocevar, IEEE SiPS 2004
(layered versus flooding schedules).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import AcceleratorUnavailableError

__all__ = ["ArrayCode", "decode_frames_array", "gpu_module"]

#: Posterior of the padding variable: ``tanh(_PAD_LLR / 2)`` is exactly 1.0 in float64.
_PAD_LLR = 1.0e3
#: Cap on the extrinsic tanh product, so ``atanh`` stays finite (messages <= ~38).
_P_CAP = 1.0 - 1.0e-16


def gpu_module() -> ModuleType:
    """CuPy, when it is installed and sees a CUDA device.

    Raises
    ------
    AcceleratorUnavailableError
        If CuPy cannot be imported or no GPU answers; the message says how to install it.
    """
    try:
        cp = importlib.import_module("cupy")
        if int(cp.cuda.runtime.getDeviceCount()) < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # ImportError, or CUDA errors of any kind
        raise AcceleratorUnavailableError(
            "decoder 'sum-product-gpu' needs CuPy and a CUDA GPU "
            f"(pip install 'quaykey[gpu]'): {exc}"
        ) from exc
    return cp


@dataclass(frozen=True)
class ArrayCode:
    """A code's Tanner graph as padded index arrays on one array module.

    Attributes
    ----------
    idx
        ``(m, D)`` variable of each check slot; padding slots hold ``n`` (the pad variable).
    valid
        ``(m, D)`` bool: real edges.
    groups
        ``(variables, slots)`` per distinct variable degree ``d``: the variables (``n_d``)
        and, for each, the flat ``m * D`` slots of its ``d`` edges (``n_d x d``).
    """

    n: int
    m: int
    width: int
    idx: Any
    valid: Any
    groups: tuple[tuple[Any, Any], ...]

    @classmethod
    def build(
        cls, check_ptr: NDArray[np.int64], check_var: NDArray[np.int64], n: int, xp: ModuleType
    ) -> ArrayCode:
        """Lay out a CSR (check-major) code for ``xp`` (NumPy or CuPy)."""
        m = check_ptr.size - 1
        deg = np.diff(check_ptr)
        width = int(deg.max()) if m else 0
        k = np.arange(width)
        valid = k[None, :] < deg[:, None]
        idx = np.full((m, width), n, dtype=np.int64)
        idx[valid] = check_var
        slots = np.flatnonzero(valid.reshape(-1))  # edge e (check-major) -> flat slot
        order = np.argsort(check_var, kind="stable")  # edges grouped by variable
        var_deg = np.bincount(check_var, minlength=n)
        var_ptr = np.concatenate([[0], np.cumsum(var_deg)])
        groups = []
        for d in np.unique(var_deg[var_deg > 0]).tolist():
            vars_d = np.flatnonzero(var_deg == d)
            edges = order[var_ptr[vars_d][:, None] + np.arange(d)[None, :]]
            groups.append((xp.asarray(vars_d), xp.asarray(slots[edges])))
        return cls(n, m, width, xp.asarray(idx), xp.asarray(valid), tuple(groups))


def _host(a: Any) -> NDArray[Any]:
    """A NumPy copy of an ``xp`` array (CuPy arrays copy back with ``.get()``)."""
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _iterate(
    code: ArrayCode, prior: Any, post: Any, msg: Any, syn_sign: Any, xp: ModuleType
) -> tuple[Any, Any]:
    """One flooding iteration for every frame of the batch: new ``(post, msg)``."""
    f = post.shape[0]
    x = post[:, code.idx] - msg  # (F, m, D); padding: _PAD_LLR - 0
    neg = x < 0
    t = xp.tanh(0.5 * xp.abs(x))
    ones = xp.ones((f, code.m, 1), dtype=t.dtype)
    before = xp.concatenate([ones, xp.cumprod(t, axis=2)[:, :, :-1]], axis=2)
    after = xp.concatenate([xp.cumprod(t[:, :, ::-1], axis=2)[:, :, -2::-1], ones], axis=2)
    p = xp.minimum(before * after, _P_CAP)
    odd = (xp.sum(neg, axis=2, keepdims=True) % 2).astype(bool) ^ (syn_sign < 0)
    sign = xp.where(odd ^ neg, -1.0, 1.0)
    new_msg = xp.where(code.valid, sign * 2.0 * xp.arctanh(p), 0.0)
    flat = new_msg.reshape(f, -1)
    new_post = prior.copy()
    for vars_d, slots_d in code.groups:
        new_post[:, vars_d] += flat[:, slots_d].sum(axis=2)
    return new_post, new_msg


def _unsatisfied(code: ArrayCode, post: Any, syn_bit: Any, xp: ModuleType) -> Any:
    """Per frame: checks whose hard decision's parity differs from the syndrome."""
    hard = post[:, code.idx] < 0  # padding: never negative
    return xp.sum((xp.sum(hard, axis=2) % 2).astype(bool) ^ syn_bit, axis=1)


def decode_frames_array(
    check_ptr: NDArray[np.int64],
    check_var: NDArray[np.int64],
    priors: NDArray[np.floating[Any]],
    syndromes: NDArray[np.uint8],
    *,
    max_iter: int,
    stall: int = 0,
    xp: ModuleType = np,
    layout: ArrayCode | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.int64]]:
    """Decode every row of ``priors`` against its syndrome on array module ``xp``.

    Returns NumPy ``(bits, converged, iterations)`` as
    :func:`._ldpc_pools.decode_frames` does; the stopping rules are the same. ``layout``
    is the code's :class:`ArrayCode` on ``xp`` when the caller keeps one between calls
    (built here otherwise).
    """
    pri = np.ascontiguousarray(priors, dtype=np.float64)
    syn = np.ascontiguousarray(syndromes, dtype=np.uint8)
    n_frames, n = pri.shape
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    converged = np.zeros(n_frames, dtype=np.bool_)
    iterations = np.zeros(n_frames, dtype=np.int64)
    if n_frames == 0:
        return bits, converged, iterations
    code = ArrayCode.build(check_ptr, check_var, n, xp) if layout is None else layout
    prior = xp.asarray(np.concatenate([pri, np.full((n_frames, 1), _PAD_LLR)], axis=1))
    syn_bit = xp.asarray(syn.astype(bool))
    syn_sign = xp.where(syn_bit, -1.0, 1.0)[:, :, None]
    post = prior.copy()
    msg = xp.zeros((n_frames, code.m, code.width))
    rows = np.arange(n_frames)  # original frame of each batch row
    best = np.full(n_frames, code.m + 1, dtype=np.int64)
    best_it = np.zeros(n_frames, dtype=np.int64)
    for it in range(1, int(max_iter) + 1):
        post, msg = _iterate(code, prior, post, msg, syn_sign, xp)
        unsat = _host(_unsatisfied(code, post, syn_bit, xp)).astype(np.int64)
        better = unsat < best[rows]
        best[rows[better]] = unsat[better]
        best_it[rows[better]] = it
        ok = unsat == 0
        done = ok | (it >= max_iter)
        if stall > 0:
            done |= it - best_it[rows] >= stall
        if not done.any():
            continue
        sel = np.flatnonzero(done)
        hard = post[xp.asarray(sel), :n] < 0
        bits[rows[sel]] = _host(hard)
        converged[rows[sel]] = ok[sel]
        iterations[rows[sel]] = it
        keep = np.flatnonzero(~done)
        if keep.size == 0:
            break
        k = xp.asarray(keep)
        prior, post, msg = prior[k], post[k], msg[k]
        syn_bit, syn_sign = syn_bit[k], syn_sign[k]
        rows = rows[keep]
    return bits, converged, iterations
