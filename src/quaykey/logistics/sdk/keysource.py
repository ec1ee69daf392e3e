"""Keys from the SAE's own KME over ETSI GS QKD 014, as byte strings of any length.

The master side calls *Get key* (``enc_keys``) with the peer as slave and sends the key
IDs along with its message; the slave side calls *Get key with key IDs* (``dec_keys``)
with the peer as master. A request longer than one key is served by several keys of
equal size, concatenated in key-ID order and cut to length (the unused tail is discarded,
never used again). Sizes and per-request limits come from the KME's *Get status* answer.

:class:`KmeKeySource` also offers the two-call ``KeySource`` interface
(``take(peer, n_bytes) -> (key_id, bytes)``, ``lookup(peer, key_id) -> bytes``) used for
per-entry one-time MACs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from quaykey.kms.client import KmeClient

__all__ = ["KeyLimits", "KeySource", "KmeKeySource", "plan_keys"]

log = logging.getLogger("quaykey.logistics.sdk")


class KeySource(Protocol):
    """What a per-entry MAC needs: fresh key by ID on one side, the same key on the other."""

    def take(self, peer: str, n_bytes: int) -> tuple[str, bytes]:
        """Draw ``n_bytes`` of fresh key shared with ``peer`` (master side)."""
        ...

    def lookup(self, peer: str, key_id: str) -> bytes:
        """Fetch the key ``key_id`` that ``peer`` drew (slave side)."""
        ...


@dataclass(frozen=True)
class KeyLimits:
    """Key sizes a KME serves (from ETSI GS QKD 014 *Get status*), in bytes."""

    min_key_bytes: int
    max_key_bytes: int
    max_keys_per_request: int


def plan_keys(n_bytes: int, limits: KeyLimits) -> tuple[int, int]:
    """Number and size (bytes) of keys that together hold at least ``n_bytes``.

    Examples
    --------
    >>> lim = KeyLimits(min_key_bytes=8, max_key_bytes=128, max_keys_per_request=128)
    >>> plan_keys(32, lim), plan_keys(132, lim), plan_keys(3, lim)
    ((1, 32), (2, 66), (1, 8))
    """
    if n_bytes < 1:
        raise ValueError(f"n_bytes must be >= 1, got {n_bytes}")
    number = -(-n_bytes // limits.max_key_bytes)
    size = max(-(-n_bytes // number), limits.min_key_bytes)
    return number, size


class KmeKeySource:
    """Key bytes from one KME, for the SAE whose certificate the client holds.

    Parameters
    ----------
    kme : KmeClient
        ETSI GS QKD 014 client of this SAE's own KME.

    Examples
    --------
    Against a running KME (see ``docs/apps.md``)::

        src = KmeKeySource(kme)
        key_id, key = src.take("customs-sh", 32)        # master side
        same = peer_src.lookup("terminal-sh", key_id)   # slave side
    """

    def __init__(self, kme: KmeClient) -> None:
        self._kme = kme
        self._limits: dict[str, KeyLimits] = {}

    def __repr__(self) -> str:
        return f"KmeKeySource({self._kme!r})"

    def limits(self, peer: str) -> KeyLimits:
        """Key size limits towards ``peer`` (one *Get status* call, then cached)."""
        if peer not in self._limits:
            st = self._kme.status(peer)
            self._limits[peer] = KeyLimits(
                min_key_bytes=-(-st.min_key_size // 8),
                max_key_bytes=st.max_key_size // 8,
                max_keys_per_request=st.max_key_per_request,
            )
        return self._limits[peer]

    def take_many(self, peer: str, n_bytes: int) -> tuple[tuple[str, ...], bytes]:
        """Get key as master: ``n_bytes`` of key shared with slave ``peer``, and its key IDs.

        Raises
        ------
        KmeClientError
            If the KME refuses (503 when key is short; nothing is consumed then).
        """
        from quaykey.kms.client import KmeClient

        lim = self.limits(peer)
        number, size = plan_keys(n_bytes, lim)
        ids: list[str] = []
        parts: list[bytes] = []
        while len(ids) < number:
            batch = min(number - len(ids), lim.max_keys_per_request)
            container = self._kme.get_key(peer, number=batch, size=size * 8)
            for key in container.keys:
                ids.append(key.key_ID)
                parts.append(KmeClient.key_bytes(key))
        log.debug("took %d key(s) of %d B towards %s", len(ids), size, peer)
        return tuple(ids), b"".join(parts)[:n_bytes]

    def take_parts(self, peer: str, parts: tuple[int, ...]) -> list[tuple[tuple[str, ...], bytes]]:
        """Get key as master for several uses at once: keys of one size, split into ``parts``.

        Part ``i`` gets the whole keys holding at least ``parts[i]`` bytes (not cut: the
        caller uses what it needs); all parts come from the same *Get key* call (more only
        past the KME's per-request limit). The key size is the one :func:`plan_keys` picks
        for the smallest part.

        Raises
        ------
        KmeClientError
            If the KME refuses (503 when key is short; nothing is consumed then).
        """
        from quaykey.kms.client import KmeClient

        if not parts or min(parts) < 1:
            raise ValueError(f"parts must be sizes >= 1 byte, got {parts}")
        lim = self.limits(peer)
        size = plan_keys(min(parts), lim)[1]
        counts = [-(-n // size) for n in parts]
        ids: list[str] = []
        keys: list[bytes] = []
        while len(ids) < sum(counts):
            batch = min(sum(counts) - len(ids), lim.max_keys_per_request)
            for key in self._kme.get_key(peer, number=batch, size=size * 8).keys:
                ids.append(key.key_ID)
                keys.append(KmeClient.key_bytes(key))
        out: list[tuple[tuple[str, ...], bytes]] = []
        start = 0
        for count in counts:
            part = slice(start, start + count)
            out.append((tuple(ids[part]), b"".join(keys[part])))
            start += count
        log.debug("took %d key(s) of %d B towards %s in %d parts", len(ids), size, peer, len(parts))
        return out

    def lookup_many(self, peer: str, key_ids: tuple[str, ...], n_bytes: int) -> bytes:
        """Get key with key IDs as slave: the bytes master ``peer`` drew, cut to ``n_bytes``.

        Raises
        ------
        ValueError
            If the keys hold fewer than ``n_bytes`` bytes or are not all the same size.
        KmeClientError
            If the KME refuses (400: unknown or consumed key IDs; 401: not our keys).
        """
        return self.lookup_parts(peer, [(key_ids, n_bytes)])[0]

    def lookup_parts(
        self, peer: str, parts: list[tuple[tuple[str, ...], int | None]]
    ) -> list[bytes]:
        """Get key with key IDs as slave for several parts at once (one call per KME limit).

        Each part is (key IDs, bytes wanted; ``None``: all its keys' bytes). Every key must
        be the same size and each part must hold its bytes.

        Raises
        ------
        ValueError
            If the keys are not all the same size or a part holds too few bytes.
        KmeClientError
            If the KME refuses (400: unknown or consumed key IDs; 401: not our keys).
        """
        from quaykey.kms.client import KmeClient

        lim = self.limits(peer)
        got: dict[str, bytes] = {}
        ids = [k for part_ids, _ in parts for k in part_ids]
        for start in range(0, len(ids), lim.max_keys_per_request):
            chunk = ids[start : start + lim.max_keys_per_request]
            for key in self._kme.get_key_with_key_ids(peer, chunk).keys:
                got[key.key_ID.lower()] = KmeClient.key_bytes(key)
        every = [got.get(k.lower(), b"") for k in ids]
        if len({len(k) for k in every}) != 1 or not every[0]:
            raise ValueError(f"keys {ids} are not keys of one size")
        out: list[bytes] = []
        for part_ids, n_bytes in parts:
            joined = b"".join(got[k.lower()] for k in part_ids)
            if n_bytes is not None and len(joined) < n_bytes:
                raise ValueError(f"keys {list(part_ids)} do not hold {n_bytes} bytes")
            out.append(joined if n_bytes is None else joined[:n_bytes])
        log.debug("looked up %d key(s) from %s", len(ids), peer)
        return out

    def take(self, peer: str, n_bytes: int) -> tuple[str, bytes]:
        """One key of exactly ``n_bytes`` shared with ``peer`` (master side).

        Raises
        ------
        ValueError
            If ``n_bytes`` is outside the KME's key sizes.
        """
        lim = self.limits(peer)
        if not lim.min_key_bytes <= n_bytes <= lim.max_key_bytes:
            raise ValueError(
                f"n_bytes must be in [{lim.min_key_bytes}, {lim.max_key_bytes}], got {n_bytes}"
            )
        ids, key = self.take_many(peer, n_bytes)
        return ids[0], key

    def lookup(self, peer: str, key_id: str) -> bytes:
        """The key ``key_id`` that master ``peer`` took (slave side), whole."""
        from quaykey.kms.client import KmeClient

        container = self._kme.get_key_with_key_ids(peer, [key_id])
        return KmeClient.key_bytes(container.keys[0])
