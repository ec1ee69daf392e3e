"""A party's pool of secret authentication key bits, spent with exact accounting.

The classical channel (:mod:`quaykey.postproc.channel`) pays for every Wegman–Carter hash
key and one-time pad from this pool; a block that produced key puts some of it back
(:meth:`AuthKeyPool.replenish`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import KeyExhaustedError

__all__ = ["AuthKeyPool"]


def _check_bits(bits: NDArray[np.uint8] | Sequence[int]) -> NDArray[np.integer]:
    arr = np.asarray(bits)
    if arr.ndim != 1 or (arr.size and (arr.min() < 0 or arr.max() > 1)):
        raise ValueError("bits must be a 1-D array of 0/1 values")
    return arr


def _bits_to_int(bits: NDArray[np.uint8]) -> int:
    return int.from_bytes(np.packbits(bits).tobytes(), "big") >> ((-bits.size) % 8)


class AuthKeyPool:
    """One party's pool of secret authentication key bits, with exact accounting.

    Bits are consumed in order from a stream; every draw is recorded in :attr:`ledger` as a
    half-open interval of stream positions with its purpose, so no bit is ever spent twice.
    The first block uses the pre-shared key the pool was created with; later blocks replenish
    it with part of the key they produced (:meth:`replenish`). Alice and Bob each own a
    separate pool object; they stay in step because both draw the same amounts in the same
    order.

    Parameters
    ----------
    bits
        The initial (pre-shared) key bits, 0/1 values.
    name
        A label for reports (never key material).

    Raises
    ------
    ValueError
        If ``bits`` is not a 1-D array of 0/1 values.

    Example
    -------
    >>> alice, bob = AuthKeyPool.pre_shared(512, seed=7)
    >>> alice.draw(128, "tag").size, alice.available_bits, bob.available_bits
    (128, 384, 512)
    """

    def __init__(self, bits: NDArray[np.uint8] | Sequence[int], *, name: str = "") -> None:
        arr = _check_bits(bits)
        self._bits = arr.astype(np.uint8).copy()  # a buffer: bits past self._end are spare room
        self._cursor = 0  # index into self._bits of the next unspent bit
        self._end = int(self._bits.size)  # index just past the last unspent bit
        self._offset = 0  # stream position of self._bits[0]
        self._supplied = int(arr.size)
        self._ledger: list[tuple[int, int, str]] = []
        self.name = name

    @classmethod
    def pre_shared(cls, n_bits: int, *, seed: int | None = None) -> tuple[AuthKeyPool, AuthKeyPool]:
        """Two pools (Alice's, Bob's) holding the same fresh pre-shared key.

        With ``seed=None`` the key comes from :mod:`secrets`; a seed gives a reproducible
        key for simulations and tests.
        """
        if n_bits < 0:
            raise ValueError(f"n_bits must be >= 0, got {n_bits}")
        if seed is None:
            import secrets

            raw = np.frombuffer(secrets.token_bytes((n_bits + 7) // 8), dtype=np.uint8)
            bits = np.unpackbits(raw)[:n_bits]
        else:
            bits = np.random.default_rng(seed).integers(0, 2, n_bits, dtype=np.uint8)
        return cls(bits, name="alice"), cls(bits.copy(), name="bob")

    def __repr__(self) -> str:
        return (
            f"AuthKeyPool(name={self.name!r}, available_bits={self.available_bits}, "
            f"spent_bits={self.spent_bits})"
        )

    @property
    def available_bits(self) -> int:
        """Unspent bits left."""
        return self._end - self._cursor

    @property
    def spent_bits(self) -> int:
        """Bits spent so far (sum of the ledger)."""
        return self._offset + self._cursor

    @property
    def supplied_bits(self) -> int:
        """Bits ever put in: the pre-shared key plus every :meth:`replenish`."""
        return self._supplied

    @property
    def ledger(self) -> tuple[tuple[int, int, str], ...]:
        """Every draw as ``(start, stop, purpose)`` stream positions, in order."""
        return tuple(self._ledger)

    def draw(self, n_bits: int, purpose: str) -> NDArray[np.uint8]:
        """Spend the next ``n_bits`` bits.

        Raises
        ------
        ValueError
            If ``n_bits`` is negative.
        KeyExhaustedError
            If fewer than ``n_bits`` bits are left (nothing is spent then).
        """
        if n_bits < 0:
            raise ValueError(f"n_bits must be >= 0, got {n_bits}")
        if n_bits > self.available_bits:
            raise KeyExhaustedError(
                f"authentication key pool {self.name!r} has {self.available_bits} bits, "
                f"{n_bits} needed for {purpose}"
            )
        start = self._cursor
        out = self._bits[start : start + n_bits].copy()
        self._bits[start : start + n_bits] = 0  # spent material is not kept around
        self._cursor += n_bits
        self._ledger.append((self._offset + start, self._offset + start + n_bits, purpose))
        return out

    def draw_int(self, n_bits: int, purpose: str) -> int:
        """Spend ``n_bits`` bits and return them as an integer (first bit most significant)."""
        return _bits_to_int(self.draw(n_bits, purpose))

    def replenish(self, bits: NDArray[np.uint8]) -> None:
        """Append fresh key bits (e.g. part of a block's final key) to the pool.

        Raises
        ------
        ValueError
            If ``bits`` is not a 1-D array of 0/1 values (nothing is added then).
        """
        arr = _check_bits(bits)
        need = self._end - self._cursor + arr.size
        if self._end + arr.size > self._bits.size:  # move the unspent bits to the front
            buf = self._bits if need <= self._bits.size // 2 else np.zeros(2 * need, np.uint8)
            buf[: self._end - self._cursor] = self._bits[self._cursor : self._end]
            if buf is self._bits:
                buf[self._end - self._cursor :] = 0  # spent material is not kept around
            self._offset += self._cursor
            self._bits, self._end, self._cursor = buf, self._end - self._cursor, 0
        self._bits[self._end : self._end + arr.size] = arr
        self._end += int(arr.size)
        self._supplied += int(arr.size)
