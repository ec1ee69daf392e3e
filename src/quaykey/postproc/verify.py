"""Error verification: a short universal hash of each reconciled frame.

After reconciliation Alice sends, for each frame, a fresh public random hash function and
the hash of her frame; Bob hashes his frame with the same function and keeps the frame only
if the hashes agree. The family is

    ``g_(k, a)(m) = top_t( a * P_k(m) )``  over GF(2^128),

where ``P_k`` is the polynomial-evaluation hash (:class:`~quaykey.mac.PolyHash128`)
and ``a`` is uniform and non-zero. For two different frames of at most ``L`` blocks,
``Pr[g(m) = g(m')] <= (L + 1) / 2**128 + 2**-t``: either ``P_k`` collides, or ``a * d`` with
``d != 0`` is uniform over the non-zero elements and its top ``t`` bits vanish with
probability below ``2**-t``. With ``t = ceil(log2(2 F / epsilon_cor))`` bits per frame and
``F`` frames, a wrong frame survives with probability at most ``epsilon_cor`` in total.

References
----------
Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), step 5 (error verification with
a 2-universal hash of ``log2(1/epsilon_hash)`` bits, ``epsilon_cor = epsilon_hash``).
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import VerificationError
from quaykey.mac import PolyHash128

__all__ = ["VerifyHash", "check_tag", "gf128_mul", "tag_bits_for"]

_FULL = (1 << 128) - 1
_REDUCTION = 0x87


def gf128_mul(a: int, b: int) -> int:
    """Product in GF(2^128) modulo ``x^128 + x^7 + x^2 + x + 1`` (bit t: coefficient of x^t).

    The one-time MAC's kernels (:mod:`quaykey._kernels`) only multiply by a fixed hash key,
    through byte tables built once per key; the verification hash multiplies by a fresh
    ``a`` once per frame, which this bitwise product does without building a table.

    Example
    -------
    >>> gf128_mul(1 << 127, 2) == 0x87  # x^128 = x^7 + x^2 + x + 1
    True
    """
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a >> 128:
            a = (a & _FULL) ^ _REDUCTION
    return result


def tag_bits_for(epsilon_cor: float, n_frames: int) -> int:
    """Tag length per frame so that ``n_frames`` frames together fail with prob <= epsilon_cor.

    Raises ValueError for ``epsilon_cor`` outside (0, 1) or ``n_frames < 1``.

    Example
    -------
    >>> tag_bits_for(1e-15, 1)
    51
    """
    if not 0.0 < epsilon_cor < 1.0:
        raise ValueError(f"epsilon_cor must be in (0, 1), got {epsilon_cor!r}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    bits = math.ceil(math.log2(2.0 * n_frames / epsilon_cor))
    if bits > 128:
        raise ValueError(f"epsilon_cor={epsilon_cor!r} needs more than 128 tag bits per frame")
    return bits


@dataclass(frozen=True)
class VerifyHash:
    """One public member ``(k, a)`` of the verification family, with ``t`` output bits.

    Draw with :meth:`draw` from a public random generator; it is public by design.
    """

    k: int
    a: int
    tag_bits: int

    def __post_init__(self) -> None:
        if not 0 <= self.k <= _FULL or not 0 < self.a <= _FULL:
            raise ValueError("k must be in [0, 2**128) and a in [1, 2**128)")
        if not 1 <= self.tag_bits <= 128:
            raise ValueError(f"tag_bits must be in [1, 128], got {self.tag_bits}")

    @classmethod
    def draw(cls, rng: np.random.Generator, tag_bits: int) -> VerifyHash:
        """A uniformly random member (``a`` non-zero)."""
        k = int.from_bytes(rng.bytes(16), "big")
        a = 0
        while a == 0:
            a = int.from_bytes(rng.bytes(16), "big")
        return cls(k=k, a=a, tag_bits=tag_bits)

    def to_words(self) -> NDArray[np.int64]:
        """Wire form: k and a as four 64-bit words (two's complement int64) and t."""
        parts = [self.k >> 64, self.k & (2**64 - 1), self.a >> 64, self.a & (2**64 - 1)]
        signed = [p - 2**64 if p >= 2**63 else p for p in parts]
        return np.array([*signed, self.tag_bits], dtype=np.int64)

    @classmethod
    def from_words(cls, words: NDArray[np.int64]) -> VerifyHash:
        """Inverse of :meth:`to_words`; ValueError on a malformed array."""
        if words.size != 5:
            raise ValueError("a verification hash is encoded as 5 int64 words")
        p = [int(w) % 2**64 for w in words[:4]]
        return cls(k=(p[0] << 64) | p[1], a=(p[2] << 64) | p[3], tag_bits=int(words[4]))

    def tag(self, frame_bits: NDArray[np.uint8]) -> int:
        """The ``tag_bits``-bit tag of a frame of bits."""
        bits = np.asarray(frame_bits, dtype=np.uint8)
        message = np.packbits(bits).tobytes() + bits.size.to_bytes(8, "big")
        mixed = gf128_mul(self.a, PolyHash128(self.k).digest(message))
        return mixed >> (128 - self.tag_bits)

    def tag_array(self, frame_bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The tag of a frame as ``tag_bits`` bits, most significant first (its wire form).

        Example
        -------
        >>> h = VerifyHash(k=5, a=7, tag_bits=8)
        >>> bits = np.array([1, 0, 1], dtype=np.uint8)
        >>> int(np.packbits(h.tag_array(bits))[0]) == h.tag(bits)
        True
        """
        value = self.tag(frame_bits)
        t = self.tag_bits
        return np.array([(value >> (t - 1 - b)) & 1 for b in range(t)], dtype=np.uint8)


def check_tag(frame_bits: NDArray[np.uint8], hash_fn: VerifyHash, tag: int) -> None:
    """Raise :class:`~quaykey.errors.VerificationError` unless ``frame_bits`` hashes to ``tag``.

    Example
    -------
    >>> h = VerifyHash(k=5, a=7, tag_bits=50)
    >>> bits = np.array([1, 0, 1], dtype=np.uint8)
    >>> check_tag(bits, h, h.tag(bits))
    """
    n_bytes = (hash_fn.tag_bits + 7) // 8
    mine = hash_fn.tag(frame_bits).to_bytes(n_bytes, "big")
    theirs = int(tag).to_bytes(n_bytes, "big") if 0 <= int(tag) < 2**hash_fn.tag_bits else b""
    if not hmac.compare_digest(mine, theirs):
        raise VerificationError("the reconciled frame does not match the peer's hash")
