"""Compiled GF(2^128) kernels (numba) of the one-time MAC, :mod:`quaykey.mac`.

Field convention: an element is the integer ``hi * 2**64 + lo`` whose bit ``t`` is the
coefficient of ``x**t``; the field is GF(2)[x] / (x^128 + x^7 + x^2 + x + 1). Message blocks
are 16 bytes read big-endian (the first byte holds the most significant bits).

Multiplication by a fixed key ``k`` uses byte tables (Shoup's method): ``T[j, b] = (b * x**(8j))
* k``, so ``y * k`` is the XOR of 16 table entries, one per byte of ``y``. The slow twins
(bitwise carry-less multiply and reduce on Python integers) are in
``tests/reference/postproc_gf128.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["gf128_mul_table", "gf128_polyhash_words"]

_REDUCTION = np.uint64(0x87)  # x^128 = x^7 + x^2 + x + 1


@njit(cache=True, nogil=True)
def gf128_mul_table(k_hi: np.uint64, k_lo: np.uint64) -> NDArray[np.uint64]:  # pragma: no cover
    """Byte tables for multiplication by ``k``: shape (16, 256, 2), last axis (hi, lo)."""
    powers = np.zeros((128, 2), dtype=np.uint64)
    hi = np.uint64(k_hi)
    lo = np.uint64(k_lo)
    one = np.uint64(1)
    s63 = np.uint64(63)
    for t in range(128):
        powers[t, 0] = hi
        powers[t, 1] = lo
        carry = hi >> s63
        hi = (hi << one) | (lo >> s63)
        lo = lo << one
        if carry:
            lo ^= _REDUCTION
    table = np.zeros((16, 256, 2), dtype=np.uint64)
    for j in range(16):
        for b in range(1, 256):
            low = b & (-b)
            u = 0
            while (1 << u) != low:
                u += 1
            prev = b & (b - 1)
            table[j, b, 0] = table[j, prev, 0] ^ powers[8 * j + u, 0]
            table[j, b, 1] = table[j, prev, 1] ^ powers[8 * j + u, 1]
    return table


@njit(cache=True, nogil=True)
def _mul_by_table(
    y_hi: np.uint64, y_lo: np.uint64, table: NDArray[np.uint64]
) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    mask = np.uint64(0xFF)
    r_hi = np.uint64(0)
    r_lo = np.uint64(0)
    for j in range(8):
        b = (y_lo >> np.uint64(8 * j)) & mask
        r_hi ^= table[j, b, 0]
        r_lo ^= table[j, b, 1]
    for j in range(8):
        b = (y_hi >> np.uint64(8 * j)) & mask
        r_hi ^= table[8 + j, b, 0]
        r_lo ^= table[8 + j, b, 1]
    return r_hi, r_lo


@njit(cache=True, nogil=True)
def gf128_polyhash_words(
    words: NDArray[np.uint64], tail: NDArray[np.uint8], n: int, table: NDArray[np.uint64]
) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """Horner evaluation ``acc = (acc ^ block) * k`` over the 16-byte big-endian blocks of a
    message of ``n`` bytes, then one more block holding its bit length.

    ``words`` holds the full blocks already read as big-endian (hi, lo) pairs, ``tail`` the
    last ``n % 16`` bytes (zero padded here). ``table`` comes from :func:`gf128_mul_table`.
    Returns the (hi, lo) of the result.
    """
    acc_hi = np.uint64(0)
    acc_lo = np.uint64(0)
    eight = np.uint64(8)
    for i in range(words.size // 2):
        acc_hi, acc_lo = _mul_by_table(acc_hi ^ words[2 * i], acc_lo ^ words[2 * i + 1], table)
    if tail.size:
        hi = np.uint64(0)
        lo = np.uint64(0)
        for t in range(16):
            v = np.uint64(tail[t]) if t < tail.size else np.uint64(0)
            if t < 8:
                hi = (hi << eight) | v
            else:
                lo = (lo << eight) | v
        acc_hi, acc_lo = _mul_by_table(acc_hi ^ hi, acc_lo ^ lo, table)
    acc_hi, acc_lo = _mul_by_table(acc_hi, acc_lo ^ (np.uint64(n) * eight), table)
    return acc_hi, acc_lo
