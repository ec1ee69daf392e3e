"""Where the ledger's MAC keys come from: the :class:`KeySource` seam.

A ledger participant needs, for every entry it writes and every other participant, 32 bytes of
fresh key shared with that participant (one :class:`~quaykey.mac.OneTimeMac` key). The writer
*takes* a key and records its key ID in the entry; the reader *looks it up* by that ID. This is
the shape of ETSI GS QKD 014: ``take`` is ``Get key`` (master SAE), ``lookup`` is ``Get key with
key IDs`` (slave SAE). The secure-messaging SDK provides a KeySource backed by real KMEs;
:class:`InMemoryKeySource` is the in-process stand-in for tests and the offline demo.

Key bytes never enter an entry, a log, an error or a ``repr``; only key IDs do.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Protocol, runtime_checkable

from quaykey.errors import KeyNotFoundError

__all__ = ["InMemoryKeySource", "KeySource", "SharedKeys"]


@runtime_checkable
class KeySource(Protocol):
    """Pairwise QKD key material, as one participant sees it."""

    def take(self, peer: str, n_bytes: int) -> tuple[str, bytes]:
        """Draw ``n_bytes`` of fresh key shared with ``peer``; return ``(key_id, key)``."""
        ...

    def lookup(self, peer: str, key_id: str) -> bytes:
        """Return the key ``peer`` drew under ``key_id``; a key is delivered once.

        Raises
        ------
        KeyNotFoundError
            If the ID is unknown or was already delivered.
        """
        ...


class SharedKeys:
    """Key material shared by participants, in memory: what the QKD layer would deliver.

    Each key lives under the unordered pair of participants that share it, is delivered to
    the reader exactly once, and is then gone.

    Examples
    --------
    >>> keys = SharedKeys()
    >>> carrier, bank = keys.source("carrier"), keys.source("bank")
    >>> key_id, key = carrier.take("bank", 32)
    >>> bank.lookup("carrier", key_id) == key
    True
    >>> bank.lookup("carrier", key_id)
    Traceback (most recent call last):
    ...
    quaykey.errors.KeyNotFoundError: one or more keys specified are not found on KME
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[frozenset[str], str], bytes] = {}
        self.issued_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"SharedKeys(<{len(self._pending)} undelivered keys hidden>)"

    def source(self, me: str) -> InMemoryKeySource:
        """The :class:`KeySource` of participant ``me``."""
        return InMemoryKeySource(self, me)

    def _put(self, pair: frozenset[str], n_bytes: int) -> tuple[str, bytes]:
        key_id = str(uuid.uuid4())
        if key_id in self.issued_ids:  # pragma: no cover - a UUID4 collision
            raise RuntimeError("key ID collision")
        self.issued_ids.add(key_id)
        key = secrets.token_bytes(n_bytes)
        self._pending[(pair, key_id)] = key
        return key_id, key

    def _pop(self, pair: frozenset[str], key_id: str) -> bytes:
        try:
            return self._pending.pop((pair, key_id))
        except KeyError:
            raise KeyNotFoundError() from None


class InMemoryKeySource:
    """One participant's view of :class:`SharedKeys` (satisfies :class:`KeySource`)."""

    def __init__(self, shared: SharedKeys, me: str) -> None:
        self._shared = shared
        self.me = me

    def __repr__(self) -> str:
        return f"InMemoryKeySource(me={self.me!r})"

    def take(self, peer: str, n_bytes: int) -> tuple[str, bytes]:
        """Draw fresh key shared with ``peer``."""
        if peer == self.me:
            raise ValueError("peer must be another participant")
        if n_bytes <= 0:
            raise ValueError("n_bytes must be positive")
        return self._shared._put(frozenset((self.me, peer)), n_bytes)

    def lookup(self, peer: str, key_id: str) -> bytes:
        """Collect the key ``peer`` drew under ``key_id`` (once)."""
        return self._shared._pop(frozenset((self.me, peer)), key_id)
