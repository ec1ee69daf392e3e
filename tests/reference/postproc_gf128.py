"""Slow, obviously-correct twins of the GF(2^128) kernels in quaykey._kernels (and of
quaykey.postproc.verify.gf128_mul).

Elements are Python integers whose bit t is the coefficient of x^t; the modulus is
x^128 + x^7 + x^2 + x + 1. Multiplication is the schoolbook carry-less product followed by
bit-by-bit reduction.
"""

from __future__ import annotations

MODULUS = (1 << 128) | 0x87


def clmul(a: int, b: int) -> int:
    """Carry-less product of two integers (polynomials over GF(2))."""
    out = 0
    i = 0
    while b >> i:
        if (b >> i) & 1:
            out ^= a << i
        i += 1
    return out


def reduce128(p: int) -> int:
    """Remainder of the polynomial p modulo x^128 + x^7 + x^2 + x + 1."""
    while p.bit_length() > 128:
        shift = p.bit_length() - 129
        p ^= MODULUS << shift
    return p


def gf128_mul(a: int, b: int) -> int:
    """Product in GF(2^128)."""
    return reduce128(clmul(a, b))


def polyhash(key: int, message: bytes) -> int:
    """Horner evaluation over 16-byte big-endian blocks, zero padded, then a length block."""
    pad = (-len(message)) % 16
    data = message + b"\0" * pad + (8 * len(message)).to_bytes(16, "big")
    acc = 0
    for i in range(0, len(data), 16):
        acc = gf128_mul(acc ^ int.from_bytes(data[i : i + 16], "big"), key)
    return acc
