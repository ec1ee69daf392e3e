"""Key pools: the secret key a link has produced, held at one end of the link.

Each link has two pools, one at each end, that receive the two parties' keys block by
block and are consumed in the same first-in-first-out order, so equal takes at both ends
return equal bits. A pool either holds real bits (``materialised=True``, exact fidelity)
or only counts them (statistical fidelity); the bookkeeping is identical.

Consumers reserve before they use: :meth:`KeyPool.reserve` sets bits aside (they no
longer count as available), :meth:`KeyPool.commit` takes them, :meth:`KeyPool.release`
gives them back. A pool never goes negative: asking for more than is available raises
:class:`~quaykey.errors.KeyExhaustedError` and changes nothing.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import KeyExhaustedError

__all__ = ["KeyPool", "PoolSet", "Reservation"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reservation:
    """A claim on ``n_bits`` of one pool (identified by its link and node)."""

    reservation_id: int
    link: str
    node: str
    n_bits: int


class KeyPool:
    """Key bits of one link held at one of its ends.

    Parameters
    ----------
    link
        Link name.
    node
        The end (node name) holding this pool.
    materialised
        Whether the pool stores real bits (``exact``) or only counts (``statistical``).

    Example
    -------
    >>> pool = KeyPool("a--b", "a", materialised=False)
    >>> pool.append(n_bits=1000)
    >>> r = pool.reserve(600)
    >>> pool.available_bits, pool.reserved_bits
    (400, 600)
    >>> pool.commit(r) is None, pool.total_bits
    (True, 400)
    """

    def __init__(self, link: str, node: str, materialised: bool = False) -> None:
        self.link = link
        self.node = node
        self.materialised = materialised
        self._chunks: deque[NDArray[np.uint8]] = deque()
        self._offset = 0
        self._total = 0
        self._reserved: dict[int, int] = {}
        self.deposited_bits = 0
        self.consumed_bits = 0
        self.blocks = 0

    def __repr__(self) -> str:  # lengths only, never bits
        return (
            f"KeyPool(link={self.link!r}, node={self.node!r}, total_bits={self._total}, "
            f"reserved_bits={self.reserved_bits})"
        )

    @property
    def total_bits(self) -> int:
        """Bits held, reserved or not."""
        return self._total

    @property
    def reserved_bits(self) -> int:
        """Bits set aside by open reservations."""
        return sum(self._reserved.values())

    @property
    def available_bits(self) -> int:
        """Bits that a new reservation or take may claim."""
        return self._total - self.reserved_bits

    def append(self, n_bits: int | None = None, bits: NDArray[np.uint8] | None = None) -> None:
        """Add one block of key: real ``bits`` (materialised pools) or a count ``n_bits``.

        Raises
        ------
        ValueError
            Bits for a count-only pool, a count for a materialised pool, or a negative count.
        """
        if self.materialised:
            if bits is None:
                raise ValueError(f"pool {self.link}@{self.node} holds real bits: pass bits=")
            arr = np.asarray(bits, dtype=np.uint8).ravel()
            if arr.size and int(arr.max()) > 1:
                raise ValueError("bits must be 0/1 values")
            if arr.size:
                self._chunks.append(arr)
            n = int(arr.size)
        else:
            if bits is not None:
                raise ValueError(f"pool {self.link}@{self.node} counts bits only: pass n_bits=")
            if n_bits is None or int(n_bits) < 0:
                raise ValueError(f"n_bits must be an integer >= 0, got {n_bits!r}")
            n = int(n_bits)
        self._total += n
        self.deposited_bits += n
        self.blocks += 1

    def _check(self, n_bits: int) -> int:
        n = int(n_bits)
        if n < 0:
            raise ValueError(f"n_bits must be >= 0, got {n_bits!r}")
        if n > self.available_bits:
            raise KeyExhaustedError(
                f"pool {self.link}@{self.node} has {self.available_bits} bits available, "
                f"{n} requested"
            )
        return n

    def reserve(self, n_bits: int) -> Reservation:
        """Set ``n_bits`` aside (KeyExhaustedError if fewer are available)."""
        n = self._check(n_bits)
        res = Reservation(next(_ids), self.link, self.node, n)
        self._reserved[res.reservation_id] = n
        return res

    def release(self, reservation: Reservation) -> None:
        """Give reserved bits back (no-op for an unknown or finished reservation)."""
        self._reserved.pop(reservation.reservation_id, None)

    def commit(self, reservation: Reservation) -> NDArray[np.uint8] | None:
        """Consume a reservation: returns its bits (materialised pools) or ``None``.

        Raises
        ------
        ValueError
            For a reservation of another pool or one already committed or released.
        """
        if (reservation.link, reservation.node) != (self.link, self.node):
            raise ValueError("reservation belongs to another pool")
        if reservation.reservation_id not in self._reserved:
            raise ValueError("reservation already committed or released")
        n = self._reserved.pop(reservation.reservation_id)
        return self._pop(n)

    def take(self, n_bits: int) -> NDArray[np.uint8] | None:
        """Reserve and commit in one step."""
        return self.commit(self.reserve(n_bits))

    def _pop(self, n: int) -> NDArray[np.uint8] | None:
        self._total -= n
        self.consumed_bits += n
        if not self.materialised:
            return None
        out = np.empty(n, dtype=np.uint8)
        filled = 0
        while filled < n:
            head = self._chunks[0]
            take = min(n - filled, head.size - self._offset)
            out[filled : filled + take] = head[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset == head.size:
                self._chunks.popleft()
                self._offset = 0
        return out


class PoolSet:
    """The two pools of every link, addressed by ``(link name, node name)``.

    Example
    -------
    >>> ps = PoolSet()
    >>> ps.add_link("a--b", "a", "b")
    >>> ps.deposit("a--b", 500)
    >>> ps.level("a--b")
    500
    """

    def __init__(self, materialised: bool = False) -> None:
        self.materialised = materialised
        self._pools: dict[tuple[str, str], KeyPool] = {}
        self._ends: dict[str, tuple[str, str]] = {}

    def add_link(self, link: str, a: str, b: str) -> None:
        """Create the pools at both ends of ``link``."""
        self._ends[link] = (a, b)
        for node in (a, b):
            self._pools[(link, node)] = KeyPool(link, node, self.materialised)

    def pool(self, link: str, node: str) -> KeyPool:
        """The pool of ``link`` at ``node``."""
        try:
            return self._pools[(link, node)]
        except KeyError:
            raise ValueError(f"no pool for link {link!r} at node {node!r}") from None

    def ends(self, link: str) -> tuple[str, str]:
        """The two nodes of a link (Alice's end first)."""
        return self._ends[link]

    def links(self) -> list[str]:
        """All link names."""
        return list(self._ends)

    def deposit(
        self,
        link: str,
        n_bits: int | None = None,
        alice_bits: NDArray[np.uint8] | None = None,
        bob_bits: NDArray[np.uint8] | None = None,
    ) -> None:
        """Add a block: Alice's key to the pool at end ``a``, Bob's to end ``b``."""
        a, b = self._ends[link]
        if self.materialised:
            if alice_bits is None or bob_bits is None or alice_bits.size != bob_bits.size:
                raise ValueError("materialised pools need alice_bits and bob_bits of equal size")
            self.pool(link, a).append(bits=alice_bits)
            self.pool(link, b).append(bits=bob_bits)
        else:
            self.pool(link, a).append(n_bits=n_bits)
            self.pool(link, b).append(n_bits=n_bits)

    def level(self, link: str) -> int:
        """Bits available on ``link`` (the smaller of its two ends)."""
        a, b = self._ends[link]
        return min(self.pool(link, a).available_bits, self.pool(link, b).available_bits)
