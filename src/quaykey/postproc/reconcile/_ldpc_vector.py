"""Explicit vector code for one layered sum-product check update (private).

Used by :mod:`._ldpc_lanes`. Each row of the decoder's arrays holds one value for each of
:data:`W` = 16 frames (64 bytes of float32: one AVX-512 register, one cache line), or of 8
or 4 frames in a narrow pool. numba cannot be told that the decoder's arrays do not
overlap, so its loop vectoriser re-checks every pair of arrays each time it enters the
16-lane loop of an edge, which cost more than the arithmetic. This module writes the
update of one check directly as LLVM vector instructions (``<16 x float>``, ``<8 x
float>`` or ``<4 x float>``) through numba intrinsics: no overlap checks, no scalar
remainder, and the loop-carried sign and product stay in registers.

The update is the sum-product rule in the tanh domain (Gallager; MacKay), layered
(Hocevar): for a check ``c`` with syndrome sign ``s_c`` and edges ``e_1..e_d`` to variables
``v_j``,

* ``x_j = post[v_j] - msg[e_j]`` (the variable-to-check message),
* ``t_j = tanh(|x_j| / 2)``,
* ``msg[e_j] = s_c * prod_{i != j} sign(x_i) * 2 atanh(prod_{i != j} t_i)``, the products
  over the other edges taken as prefix times suffix (no division, so ``t_i = 0`` is exact),
* ``post[v_j] = x_j + msg[e_j]``.

``tanh(a / 2) = (1 - u) / (1 + u)`` with ``u = exp(-a)`` built from ``2**-floor(a log2 e)``
(written into the exponent field) times a degree-5 polynomial for the fraction (error
5e-8 relative), ``a`` capped at 41.6 (``u`` then below 1e-18). ``2 atanh(p) = ln((1 + p) /
(1 - p))`` reads the exponent field and a degree-7 polynomial for ``log2`` of the
significand (error 1.3e-6); ``p`` is capped at ``1 - 2**-24``, so every message is at most
``ln(2**25 - 1) ~ 17.3`` in magnitude. The scalar float64 twin of these two functions is
:func:`tanh_half_reference` / :func:`atanh2_reference` (numpy), and
``tests/unit/postproc/test_ldpc_lanes.py`` holds the vector code to them.

The two divisions are exact IEEE divisions, not fast-math ones: with fast-math, LLVM turns
a 16-lane division into a reciprocal estimate and an 8- or 4-lane one into a true
division, so pools of different widths rounded differently (a near-tie frame could end
differently in a narrower pool). Exact, every width gives the same bits (tested), and on
this machine it was also faster (5.0-5.5 against 5.9 ms per 16-lane iteration at 2**16).
numba caches the kernels of :mod:`._ldpc_lanes` by that file's time stamp, not this
one's: after changing this module, touch ``_ldpc_lanes.py`` (or clear ``__pycache__``).

References
----------
R. G. Gallager, *Low-density parity-check codes*, MIT Press, 1963 (the tanh rule);
D. E. Hocevar, IEEE SiPS 2004 (layered schedule).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = [
    "W",
    "atanh2_reference",
    "atanh2_rows",
    "check_update_4",
    "check_update_8",
    "check_update_16",
    "negative_lanes",
    "tanh_half_reference",
    "tanh_half_rows",
]

#: Widest pool: frames decoded side by side, one float32 each per row (pools of 8 and 4
#: lanes serve few frames).
W = 16

_F = ir.FloatType()
_I = ir.IntType(32)
_I64 = ir.IntType(64)
_FAST = ("fast",)

#: ``2**-f`` on ``[0, 1)``: least-squares fit on Chebyshev nodes, max error 5.5e-8.
_EXP2_NEG = (
    0.9999999452374334,
    -0.693143201642546,
    0.2401794894888122,
    -0.055299607117297866,
    0.00921087556066367,
    -0.0009475536454988219,
)
#: ``log2(1 + y) / y`` on ``[0, 1)``: least-squares fit, max error of ``log2`` 1.3e-6.
_LOG2_1P = (
    1.4426932570094126,
    -0.7211627343795292,
    0.47770593228508756,
    -0.3392477782109762,
    0.21558854099784375,
    -0.09606625603603128,
    0.02049034812451634,
)
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
#: Cap on ``a log2 e`` in tanh(a/2): 2**-60 is far below float32's resolution near 1.
_T_CAP = 60.0
#: Cap on the extrinsic product (the largest float32 below 1).
P_CAP = 1.0 - 2.0**-24


def _vf(w: int) -> ir.VectorType:
    return ir.VectorType(_F, w)


def _vi(w: int) -> ir.VectorType:
    return ir.VectorType(_I, w)


def _cf(x: float, w: int) -> ir.Constant:
    return ir.Constant(_vf(w), [float(np.float32(x))] * w)


def _ci(x: int, w: int) -> ir.Constant:
    return ir.Constant(_vi(w), [int(x)] * w)


def _poly(b: ir.IRBuilder, x: ir.Value, coeffs: tuple[float, ...]) -> ir.Value:
    w = x.type.count
    acc = _cf(coeffs[-1], w)
    for c in reversed(coeffs[:-1]):
        acc = b.fadd(b.fmul(acc, x, flags=_FAST), _cf(c, w), flags=_FAST)
    return acc


def _tanh_half(b: ir.IRBuilder, a: ir.Value) -> ir.Value:
    """``tanh(a / 2)`` for ``a >= 0``, lane by lane."""
    w = a.type.count
    t = b.fmul(a, _cf(_LOG2E, w), flags=_FAST)
    t = b.select(b.fcmp_ordered("<", t, _cf(_T_CAP, w)), t, _cf(_T_CAP, w))
    n = b.fptosi(t, _vi(w))
    frac = b.fsub(t, b.sitofp(n, _vf(w)), flags=_FAST)
    scale = b.bitcast(b.shl(b.sub(_ci(127, w), n), _ci(23, w)), _vf(w))  # 2**-n
    u = b.fmul(scale, _poly(b, frac, _EXP2_NEG), flags=_FAST)
    one = _cf(1.0, w)
    return b.fdiv(b.fsub(one, u, flags=_FAST), b.fadd(one, u, flags=_FAST))


def _atanh2(b: ir.IRBuilder, p: ir.Value) -> ir.Value:
    """``2 atanh(p) = ln((1 + p) / (1 - p))`` for ``0 <= p`` (capped at :data:`P_CAP`)."""
    w = p.type.count
    cap = _cf(P_CAP, w)
    p = b.select(b.fcmp_ordered("<", p, cap), p, cap)
    one = _cf(1.0, w)
    z = b.fdiv(b.fadd(one, p, flags=_FAST), b.fsub(one, p, flags=_FAST))
    bits = b.bitcast(z, _vi(w))
    expo = b.sitofp(b.sub(b.lshr(bits, _ci(23, w)), _ci(127, w)), _vf(w))
    sig = b.bitcast(b.or_(b.and_(bits, _ci(0x7FFFFF, w)), _ci(0x3F800000, w)), _vf(w))
    y = b.fsub(sig, one, flags=_FAST)
    log2 = b.fadd(expo, b.fmul(y, _poly(b, y, _LOG2_1P), flags=_FAST), flags=_FAST)
    return b.fmul(log2, _cf(_LN2, w), flags=_FAST)


def _row(b: ir.IRBuilder, data: ir.Value, row: ir.Value, w: int) -> ir.Value:
    """Pointer to row ``row`` of a C-contiguous float32 ``(rows, w)`` array."""
    return b.bitcast(b.gep(data, [b.mul(row, ir.Constant(row.type, w))]), _vf(w).as_pointer())


def _data(context: Any, b: ir.IRBuilder, ty: Any, value: ir.Value) -> ir.Value:
    return context.make_array(ty)(context, b, value=value).data


def _is_rows(ty: Any) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == types.float32 and ty.layout == "C"


def _check_update(w: int) -> Any:
    """The check update intrinsic for ``w`` lanes."""

    @intrinsic
    def check_update(  # type: ignore[no-untyped-def]
        typingctx, check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh, c
    ):
        """Layered sum-product update of check ``c`` for ``w`` lanes (see the module doc).

        ``post`` (variables x w), ``msg`` (edges x w), ``syn_sign`` (checks x w, +-1.0) and
        the scratch rows ``qbuf``, ``tbuf``, ``fbuf`` (at least the check's degree x w) are
        C-contiguous float32 arrays with ``w`` columns; the caller guarantees the shapes.
        ``fresh`` (int32, w) marks lanes whose stored messages are stale: they are read as
        0, so loading a frame does not have to clear its column of ``msg`` (every message
        is written once per iteration).
        """
        rows = (post, msg, syn_sign, qbuf, tbuf, fbuf)
        if not all(_is_rows(t) for t in rows) or not isinstance(c, types.Integer):
            return None
        if not (isinstance(fresh, types.Array) and fresh.dtype == types.int32 and fresh.ndim == 1):
            return None
        sig = types.void(
            check_ptr, check_var, post, msg, syn_sign, qbuf, tbuf, fbuf, fresh, types.int64
        )

        def codegen(context, b, signature, args):  # type: ignore[no-untyped-def]
            cp, cv, post_d, msg_d, syn_d, q_d, t_d, f_d, fr_d = (
                _data(context, b, t, v) for t, v in zip(signature.args[:9], args[:9], strict=True)
            )
            c = args[9]
            vf, vi = _vf(w), _vi(w)
            stale = b.icmp_signed(
                "!=", b.load(b.bitcast(fr_d, vi.as_pointer()), align=4), ir.Constant(vi, None)
            )
            start = b.load(b.gep(cp, [c]))
            deg = b.sub(b.load(b.gep(cp, [b.add(c, _I64(1))])), start)
            signbit = _ci(0x80000000, w)
            sgn_slot = cgutils.alloca_once(b, vi)
            acc_slot = cgutils.alloca_once(b, vf)
            b.store(b.and_(b.bitcast(b.load(_row(b, syn_d, c, w), align=4), vi), signbit), sgn_slot)
            b.store(_cf(1.0, w), acc_slot)
            with cgutils.for_range(b, deg) as loop:  # forward: x, t, prefix products, sign
                k = loop.index
                e = b.add(start, k)
                v = b.load(b.gep(cv, [e]))
                pv = b.load(_row(b, post_d, v, w), align=4)
                x = b.select(
                    stale, pv, b.fsub(pv, b.load(_row(b, msg_d, e, w), align=4), flags=_FAST)
                )
                b.store(x, _row(b, q_d, k, w), align=4)
                xb = b.bitcast(x, vi)
                b.store(b.xor(b.load(sgn_slot), b.and_(xb, signbit)), sgn_slot)
                t = _tanh_half(b, b.bitcast(b.and_(xb, _ci(0x7FFFFFFF, w)), vf))
                b.store(t, _row(b, t_d, k, w), align=4)
                acc = b.load(acc_slot)
                b.store(acc, _row(b, f_d, k, w), align=4)
                b.store(b.fmul(acc, t, flags=_FAST), acc_slot)
            b.store(_cf(1.0, w), acc_slot)
            with cgutils.for_range(b, deg) as loop:  # backward: suffix products, messages
                k = b.sub(b.sub(deg, _I64(1)), loop.index)
                e = b.add(start, k)
                v = b.load(b.gep(cv, [e]))
                acc = b.load(acc_slot)
                p = b.fmul(b.load(_row(b, f_d, k, w), align=4), acc, flags=_FAST)
                b.store(b.fmul(acc, b.load(_row(b, t_d, k, w), align=4), flags=_FAST), acc_slot)
                mag = _atanh2(b, p)
                x = b.load(_row(b, q_d, k, w), align=4)
                sign = b.and_(b.xor(b.load(sgn_slot), b.bitcast(x, vi)), signbit)
                r = b.bitcast(b.or_(b.bitcast(mag, vi), sign), vf)
                b.store(r, _row(b, msg_d, e, w), align=4)
                b.store(b.fadd(x, r, flags=_FAST), _row(b, post_d, v, w), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return check_update


def _rowwise(fn: Any) -> Any:
    @intrinsic
    def apply(typingctx, src, dst, i):  # type: ignore[no-untyped-def]
        if not (_is_rows(src) and _is_rows(dst)):
            return None

        def codegen(context, b, signature, args):  # type: ignore[no-untyped-def]
            s = _data(context, b, signature.args[0], args[0])
            d = _data(context, b, signature.args[1], args[1])
            row = b.load(_row(b, s, args[2], W), align=4)
            b.store(fn(b, row), _row(b, d, args[2], W), align=4)
            return context.get_dummy_value()

        return types.void(src, dst, types.int64), codegen

    return apply


@intrinsic
def negative_lanes(typingctx, post, v):  # type: ignore[no-untyped-def]
    """Bit ``lane`` set where ``post[v, lane] < 0`` (a hard decision of 1), as a uint64.

    One vector compare and a mask move for a row of 16, 8 or 4 lanes (``post`` C-contiguous
    float32 with that many columns; NaN compares as not negative, as in numpy).
    """
    if not _is_rows(post) or not isinstance(v, types.Integer):
        return None

    def codegen(context, b, signature, args):  # type: ignore[no-untyped-def]
        data = _data(context, b, signature.args[0], args[0])
        shape = cgutils.unpack_tuple(
            b, context.make_array(signature.args[0])(context, b, value=args[0]).shape, 2
        )
        vi = context.cast(b, args[1], signature.args[1], types.int64)
        out = cgutils.alloca_once_value(b, _I64(0))
        for w in (16, 8, 4):
            with b.if_then(b.icmp_signed("==", shape[1], _I64(w))):
                row = b.load(_row(b, data, vi, w), align=4)
                neg = b.fcmp_ordered("<", row, _cf(0.0, w))
                b.store(b.zext(b.bitcast(neg, ir.IntType(w)), _I64), out)
        return b.load(out)

    return types.uint64(post, v), codegen


#: The check update for 16, 8 and 4 lanes: a pool of few frames runs on a narrow vector.
check_update_16 = _check_update(16)
check_update_8 = _check_update(8)
check_update_4 = _check_update(4)
_tanh_half_row = _rowwise(_tanh_half)
_atanh2_row = _rowwise(_atanh2)


@njit(cache=True)
def _apply_rows(x: NDArray[np.float32], atanh: bool) -> NDArray[np.float32]:  # pragma: no cover
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        if atanh:
            _atanh2_row(x, out, i)
        else:
            _tanh_half_row(x, out, i)
    return out


def tanh_half_rows(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """The vector ``tanh(a / 2)`` applied to a ``(rows, W)`` float32 array ``a >= 0``."""
    return _apply_rows(a, False)  # type: ignore[no-any-return]


def atanh2_rows(p: NDArray[np.float32]) -> NDArray[np.float32]:
    """The vector ``2 atanh(p)`` applied to a ``(rows, W)`` float32 array ``p >= 0``."""
    return _apply_rows(p, True)  # type: ignore[no-any-return]


def tanh_half_reference(a: NDArray[Any]) -> NDArray[np.float64]:
    """float64 twin of the vector ``tanh(a / 2)``, with the same cap on ``a``."""
    return np.tanh(0.5 * np.minimum(np.asarray(a, dtype=np.float64), _T_CAP / _LOG2E))


def atanh2_reference(p: NDArray[Any]) -> NDArray[np.float64]:
    """float64 twin of the vector ``2 atanh(p)``, with the same cap on ``p``."""
    q = np.minimum(np.asarray(p, dtype=np.float64), P_CAP)
    return 2.0 * np.arctanh(q)
