"""The one-time MAC: Wegman–Carter authentication with a polynomial hash over GF(2^128).

Every authenticated message in quaykey goes through this module: the classical channel of
post-processing (:mod:`quaykey.postproc.channel`), the network's trusted-node relay
(:mod:`quaykey.network.relay`) and KME-to-KME relay (:mod:`quaykey.kms.relay`). A tag is
information-theoretically secure: forging one is no easier than guessing, whatever the
attacker's computing power, as long as each pad is used once.

The primitive is ``tag = h_k(m) XOR r``:

- ``h_k`` is the polynomial-evaluation hash over GF(2^128) (:class:`PolyHash128`), an
  epsilon-almost-XOR-universal family with ``epsilon = (L + 1) / 2**128`` for messages of
  at most ``L`` 16-byte blocks (the extra block encodes the length);
- ``r`` is 128 bits of fresh one-time pad. XOR-ing an AXU hash with a uniform pad gives an
  epsilon-almost-strongly-universal family (Krawczyk, CRYPTO 1994), so one tag reveals
  nothing about ``k`` and a forgery succeeds with probability at most ``epsilon``.

Two recipes sit above the primitive, as pyca/cryptography puts recipes above primitives:

- :class:`OneTimeMac`: a 32-byte key (16 bytes of hash key, 16 of pad) authenticates one
  message and is then spent; a second use raises. For the relays: each hop pays 256 bits.
- :class:`RecyclingMac`: one hash key for a whole conversation and a fresh 16-byte pad per
  tag (key recycling, Wegman and Carter 1981; Portmann 2014). For the classical channel,
  where a block needs many tags.

Verification raises :class:`~quaykey.errors.AuthenticationError`; it never returns
``False``, and compares tags with :func:`hmac.compare_digest`.

References
----------
Wegman, Carter, "New hash functions and their use in authentication and set equality",
J. Comput. Syst. Sci. 22, 265 (1981). Krawczyk, "LFSR-based hashing and authentication",
CRYPTO 1994. Portmann, "Key recycling in authentication", IEEE Trans. Inf. Theory 60, 4383
(2014). Bernstein, "The Poly1305-AES message-authentication code" (2005), Sec. 3.
"""

from __future__ import annotations

import hmac
import math
import struct

import numpy as np
from numpy.typing import NDArray

from quaykey._kernels import gf128_mul_table, gf128_polyhash_words
from quaykey.errors import AuthenticationError

__all__ = [
    "HASH_KEY_BYTES",
    "ONE_TIME_KEY_BITS",
    "ONE_TIME_KEY_BYTES",
    "PAD_BYTES",
    "TAG_BITS",
    "TAG_BYTES",
    "OneTimeMac",
    "PolyHash128",
    "RecyclingMac",
    "bits_message",
    "forgery_bound",
]

TAG_BYTES = 16
TAG_BITS = 8 * TAG_BYTES
HASH_KEY_BYTES = 16
PAD_BYTES = 16
ONE_TIME_KEY_BYTES = HASH_KEY_BYTES + PAD_BYTES
ONE_TIME_KEY_BITS = 8 * ONE_TIME_KEY_BYTES
_MASK64 = (1 << 64) - 1


class PolyHash128:
    """Polynomial-evaluation hash over GF(2^128) with a fixed 128-bit key.

    ``h_k(m) = sum_i c_i k^(L+2-i)`` where ``c_1..c_L`` are the 16-byte big-endian blocks of
    ``m`` (zero padded) and ``c_(L+1)`` encodes the bit length of ``m``. For two distinct
    messages of at most ``L`` blocks and any constant ``c``,
    ``Pr_k[h_k(m) XOR h_k(m') = c] <= (L + 1) / 2**128`` (epsilon-almost-XOR-universal).

    Parameters
    ----------
    key
        The key ``k`` as an integer in ``[0, 2**128)``.

    Raises
    ------
    ValueError
        If ``key`` is outside ``[0, 2**128)``.

    Examples
    --------
    >>> h = PolyHash128(0x1234)
    >>> h.digest(b"abc") == h.digest(b"abc") != h.digest(b"abd")
    True
    """

    __slots__ = ("_table",)

    def __init__(self, key: int) -> None:
        if not 0 <= key < (1 << 128):
            raise ValueError("key must be an integer in [0, 2**128)")
        self._table = gf128_mul_table(np.uint64(key >> 64), np.uint64(key & _MASK64))

    def __repr__(self) -> str:
        return "PolyHash128(<key hidden>)"

    def digest(self, message: bytes | bytearray | memoryview) -> int:
        """Hash ``message`` to an integer in ``[0, 2**128)``."""
        if len(message) >= 2**61:
            raise ValueError("message too long for the length block")
        n = len(message)
        full = n // 16
        words = np.frombuffer(message, dtype=">u8", count=2 * full).astype(np.uint64)
        tail = np.frombuffer(message, dtype=np.uint8, offset=16 * full)
        hi, lo = gf128_polyhash_words(words, tail, n, self._table)
        return (int(hi) << 64) | int(lo)


def forgery_bound(message_bytes: int) -> float:
    """Probability that one forged tag over ``message_bytes`` bytes verifies.

    Examples
    --------
    >>> forgery_bound(32) == 3 / 2**128
    True
    """
    if message_bytes < 0:
        raise ValueError("message_bytes must be >= 0")
    return (math.ceil(message_bytes / 16) + 1) / 2.0**128


def bits_message(bits: NDArray[np.uint8]) -> bytes:
    """Bytes that encode a bit string without ambiguity (its bit count, then packed bits).

    Packing alone would map ``0000000`` and ``00000000`` to the same byte; the 8-byte
    length prefix keeps distinct bit strings distinct.

    Examples
    --------
    >>> bits_message(np.zeros(7, dtype=np.uint8)) != bits_message(np.zeros(8, dtype=np.uint8))
    True
    """
    arr = np.asarray(bits, dtype=np.uint8)
    if arr.ndim != 1:
        raise ValueError("bits must be one-dimensional")
    return struct.pack(">Q", arr.size) + np.packbits(arr).tobytes()


def _check_tag(expected: bytes, tag: bytes | bytearray, what: str) -> None:
    if len(tag) != TAG_BYTES or not hmac.compare_digest(expected, bytes(tag)):
        raise AuthenticationError(f"{what}: tag does not verify (message forged or altered)")


class OneTimeMac:
    """Wegman–Carter tag under a 32-byte one-time key; authenticates exactly one message.

    Parameters
    ----------
    key
        :data:`ONE_TIME_KEY_BYTES` bytes of fresh secret key: the first 16 are the hash key,
        the last 16 the pad. The key must never be used again elsewhere.

    Raises
    ------
    ValueError
        If ``key`` does not hold :data:`ONE_TIME_KEY_BYTES` bytes, or if the object is used
        a second time (it is spent by the first :meth:`tag` or :meth:`verify`).

    Examples
    --------
    >>> import secrets
    >>> key = secrets.token_bytes(ONE_TIME_KEY_BYTES)
    >>> tag = OneTimeMac(key).tag(b"hop 1 ciphertext")
    >>> OneTimeMac(key).verify(b"hop 1 ciphertext", tag)
    >>> OneTimeMac(key).verify(b"hop 1 ciphertexT", tag)
    Traceback (most recent call last):
    ...
    quaykey.errors.AuthenticationError: message: tag does not verify (message forged or altered)
    """

    __slots__ = ("_hash", "_pad", "_spent")

    def __init__(self, key: bytes | bytearray | memoryview) -> None:
        raw = bytes(key)
        if len(raw) != ONE_TIME_KEY_BYTES:
            raise ValueError(f"one-time MAC key must be {ONE_TIME_KEY_BYTES} bytes, got {len(raw)}")
        self._hash = PolyHash128(int.from_bytes(raw[:HASH_KEY_BYTES], "big"))
        self._pad = int.from_bytes(raw[HASH_KEY_BYTES:], "big")
        self._spent = False

    def __repr__(self) -> str:
        return f"OneTimeMac(<key hidden>, spent={self._spent})"

    def _spend(self) -> int:
        if self._spent:
            raise ValueError("one-time MAC key already used; draw fresh key for every message")
        self._spent = True
        return self._pad

    def tag(self, message: bytes | bytearray | memoryview) -> bytes:
        """Return the 16-byte tag of ``message`` and spend the key."""
        pad = self._spend()
        return (self._hash.digest(message) ^ pad).to_bytes(TAG_BYTES, "big")

    def verify(
        self, message: bytes | bytearray | memoryview, tag: bytes | bytearray, what: str = "message"
    ) -> None:
        """Check ``tag`` over ``message`` and spend the key.

        Raises
        ------
        AuthenticationError
            If the tag does not verify; ``what`` names the message in the error.
        """
        pad = self._spend()
        expected = (self._hash.digest(message) ^ pad).to_bytes(TAG_BYTES, "big")
        _check_tag(expected, tag, what)


class RecyclingMac:
    """Wegman–Carter with a recycled hash key: one hash key, a fresh 16-byte pad per tag.

    Parameters
    ----------
    hash_key
        :data:`HASH_KEY_BYTES` bytes of secret key, kept for the whole conversation.

    Examples
    --------
    >>> mac = RecyclingMac(bytes(range(16)))
    >>> pad = bytes(16)
    >>> mac.verify(b"sift", mac.tag(b"sift", pad), pad)
    """

    __slots__ = ("_hash",)

    def __init__(self, hash_key: bytes | bytearray | memoryview) -> None:
        raw = bytes(hash_key)
        if len(raw) != HASH_KEY_BYTES:
            raise ValueError(f"hash key must be {HASH_KEY_BYTES} bytes, got {len(raw)}")
        self._hash = PolyHash128(int.from_bytes(raw, "big"))

    def __repr__(self) -> str:
        return "RecyclingMac(<key hidden>)"

    def tag(self, message: bytes | bytearray | memoryview, pad: bytes | bytearray) -> bytes:
        """Return ``h_k(message) XOR pad`` (16 bytes); ``pad`` must be fresh key, used once."""
        if len(pad) != PAD_BYTES:
            raise ValueError(f"pad must be {PAD_BYTES} bytes, got {len(pad)}")
        return (self._hash.digest(message) ^ int.from_bytes(pad, "big")).to_bytes(TAG_BYTES, "big")

    def verify(
        self,
        message: bytes | bytearray | memoryview,
        tag: bytes | bytearray,
        pad: bytes | bytearray,
        what: str = "message",
    ) -> None:
        """Check ``tag`` over ``message`` with the pad the sender used.

        Raises
        ------
        AuthenticationError
            If the tag does not verify.
        """
        _check_tag(self.tag(message, pad), tag, what)
