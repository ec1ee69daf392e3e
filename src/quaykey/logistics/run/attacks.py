"""Hostile envelopes injected into a run: each must be refused by the receiving SDK.

Four kinds, each made from the real channels of the run:

* ``tampered``: a fresh genuine envelope with one body byte flipped (``authentication``);
* ``replayed``: an envelope the receiver already accepted, delivered again (``replayed``);
* ``reordered``: two fresh envelopes delivered newest first; the older one is refused
  (``reordered``);
* ``wrong_key``: an ``otp`` envelope sealed under random bytes instead of the KME key that
  its (genuine, fresh) key IDs name (``authentication``).
"""

from __future__ import annotations

import secrets

from quaykey.errors import MessageRejectedError
from quaykey.logistics.run.stats import RunStats
from quaykey.logistics.sdk import KmeKeySource, SecureChannel

__all__ = ["ATTACK_KINDS", "WrongKeySource", "inject"]

ATTACK_KINDS = ("tampered", "replayed", "reordered", "wrong_key")


class WrongKeySource(KmeKeySource):
    """Draws genuine key IDs from the KME but hands out random bytes as their key."""

    def __init__(self, inner: KmeKeySource) -> None:
        self._inner = inner

    def take_many(self, peer: str, n_bytes: int) -> tuple[tuple[str, ...], bytes]:
        ids, key = self._inner.take_many(peer, n_bytes)
        return ids, secrets.token_bytes(len(key))


def _deliver_hostile(stats: RunStats, kind: str, rx: SecureChannel, envelope: bytes) -> None:
    stats.injected[kind] += 1
    try:
        rx.receive(envelope)
    except MessageRejectedError as exc:
        stats.caught[kind][exc.reason] += 1
        return
    stats.missed[kind] += 1


def inject(
    kind: str,
    tx: SecureChannel,
    rx: SecureChannel,
    msg_type: str,
    payload: bytes,
    last_accepted: bytes | None,
    stats: RunStats,
) -> None:
    """Send one hostile envelope of ``kind`` from ``tx`` to ``rx``; count the outcome.

    The genuine envelopes that carry an attack are not counted as application traffic.
    ``replayed`` needs ``last_accepted`` (skipped without it).
    """
    if kind == "tampered":
        flipped = bytearray(tx.send(msg_type, payload))
        flipped[-1] ^= 0x01
        _deliver_hostile(stats, kind, rx, bytes(flipped))
    elif kind == "replayed":
        if last_accepted is None:
            return
        _deliver_hostile(stats, kind, rx, last_accepted)
    elif kind == "reordered":
        older, newer = tx.send(msg_type, payload), tx.send(msg_type, payload)
        rx.receive(newer)
        _deliver_hostile(stats, kind, rx, older)
    elif kind == "wrong_key":
        genuine = tx.keys
        tx.keys = WrongKeySource(genuine)
        try:
            env = tx.send(msg_type, payload, protection="otp")
        finally:
            tx.keys = genuine
        _deliver_hostile(stats, kind, rx, env)
    else:
        raise ValueError(f"attack kind must be one of {', '.join(ATTACK_KINDS)}, got {kind!r}")
