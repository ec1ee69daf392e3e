"""The hash-chained audit log: one record per key event, in the same transaction as the event.

Each record's hash is SHA-256 over the canonical JSON of (sequence number, time, KME ID,
event, detail, previous hash), so altering, dropping or reordering a record breaks the
chain (:func:`verify_audit_chain`). Details hold key IDs, sizes, SAE IDs and node names,
never key bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from quaykey.errors import KmsError
from quaykey.kms.store.tables import audit_head_t, audit_t

__all__ = ["GENESIS_HASH", "AuditChain", "AuditRecord", "verify_audit_chain"]

log = logging.getLogger("quaykey.kms.audit")

GENESIS_HASH = "0" * 64

# Hot statements built once: SQLAlchemy memoises the cache key of a statement object.
_AUDIT_HEAD = (
    select(audit_head_t.c.seq, audit_head_t.c.hash)
    .where(audit_head_t.c.kme_id == bindparam("kme"))
    .with_for_update()
)
_AUDIT_INSERT = insert(audit_t)
_AUDIT_HEAD_UPDATE = (
    update(audit_head_t)
    .where(audit_head_t.c.kme_id == bindparam("kme"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def canonical(record: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) of a record."""
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AuditRecord:
    """One audit chain entry (key IDs, sizes and parties only)."""

    seq: int
    ts: float
    kme_id: str
    event: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def _audit_hash(prev_hash: str, seq: int, ts: float, kme_id: str, ev: str, detail: str) -> str:
    body = canonical(
        {"seq": seq, "ts": ts, "kme_id": kme_id, "event": ev, "detail": detail, "prev": prev_hash}
    )
    return hashlib.sha256(body).hexdigest()


def verify_audit_chain(records: list[AuditRecord]) -> None:
    """Check the hash chain of audit records in ``seq`` order; raise :class:`KmsError` if broken.

    Examples
    --------
    >>> verify_audit_chain([])
    >>> verify_audit_chain([AuditRecord(1, 0.0, "KME-A", "x", {}, GENESIS_HASH, "bad")])
    Traceback (most recent call last):
    ...
    quaykey.errors.KmsError: audit record 1 was altered
    """
    prev = GENESIS_HASH
    for i, r in enumerate(records, start=1):
        if r.seq != i or r.prev_hash != prev:
            raise KmsError(f"audit chain broken at seq {r.seq}")
        detail = canonical(r.detail).decode()
        if _audit_hash(prev, r.seq, r.ts, r.kme_id, r.event, detail) != r.hash:
            raise KmsError(f"audit record {r.seq} was altered")
        prev = r.hash


class AuditChain:
    """The audit part of :class:`~quaykey.kms.store.Store` (needs ``kme_id`` and ``read``)."""

    kme_id: str
    #: The store's read transaction (``Store.read``), which this part uses.
    read: Callable[[], AbstractContextManager[Connection]]

    def init_audit(self, conn: Connection) -> None:
        """Start an empty chain for this KME (first start of a database)."""
        conn.execute(insert(audit_head_t).values(kme_id=self.kme_id, seq=0, hash=GENESIS_HASH))

    def audit(self, conn: Connection, ev: str, _log: bool = True, **detail: Any) -> None:
        """Append one hash-chained audit record inside the caller's transaction.

        Detail values are key IDs, sizes, SAE IDs and node names; never key bytes.
        Locks the chain head, which also serialises writers on PostgreSQL.
        """
        head = conn.execute(_AUDIT_HEAD, {"kme": self.kme_id}).one()
        seq = head[0] + 1
        ts = time.time()
        text = canonical(detail).decode()
        h = _audit_hash(head[1], seq, ts, self.kme_id, ev, text)
        conn.execute(
            _AUDIT_INSERT,
            {
                "seq": seq,
                "ts": ts,
                "kme_id": self.kme_id,
                "event": ev,
                "detail": text,
                "prev_hash": head[1],
                "hash": h,
            },
        )
        conn.execute(_AUDIT_HEAD_UPDATE, {"kme": self.kme_id, "new_seq": seq, "new_hash": h})
        if _log:
            log.info("audit %s %s", ev, text)

    def audit_records(self) -> list[AuditRecord]:
        """All audit records in order."""
        with self.read() as conn:
            rows = conn.execute(select(audit_t).order_by(audit_t.c.seq)).all()
        return [
            AuditRecord(r.seq, r.ts, r.kme_id, r.event, json.loads(r.detail), r.prev_hash, r.hash)
            for r in rows
        ]
