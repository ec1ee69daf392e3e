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

from sqlalchemy import Connection, insert, select

from quaykey.errors import KmsError
from quaykey.kms.store.tables import audit_head_t, audit_t

__all__ = [
    "GENESIS_HASH",
    "AuditChain",
    "AuditHeadMovedError",
    "AuditRecord",
    "verify_audit_chain",
]

log = logging.getLogger("quaykey.kms.audit")

GENESIS_HASH = "0" * 64

# Hot statements, run on the DBAPI cursor (Store.raw); the head is locked on PostgreSQL
_AUDIT_HEAD = "SELECT seq, hash FROM kms_audit_head WHERE kme_id = :kme"
_AUDIT_INSERT = (
    "INSERT INTO kms_audit (seq, ts, kme_id, event, detail, prev_hash, hash) "
    "VALUES (:seq, :ts, :kme_id, :event, :detail, :prev_hash, :hash)"
)
_AUDIT_HEAD_UPDATE = (
    "UPDATE kms_audit_head SET seq = :new_seq, hash = :new_hash WHERE kme_id = :kme"
)


class AuditHeadMovedError(KmsError):
    """A transaction chained on from a remembered audit head that another writer (another
    worker process) has moved since; the group commit runs the batch again."""

    def __init__(self) -> None:
        super().__init__("the audit chain head moved; reading it again")


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
    is_sqlite: bool
    #: The store's read transaction (``Store.read``), which this part uses.
    read: Callable[[], AbstractContextManager[Connection]]
    #: The store's hot-statement runner (``Store.raw``).
    raw: Callable[..., Any]
    #: Runs a check now, or at the pipeline's sync (``Store.check_at_sync``).
    check_at_sync: Callable[[Connection, Callable[[], None]], None]
    #: The chain head as this process last committed it (``None``: read it).
    _head_known: tuple[int, str] | None = None

    def _head(self, conn: Connection) -> Any:
        sql = _AUDIT_HEAD if self.is_sqlite else _AUDIT_HEAD + " FOR UPDATE"
        return self.raw(conn, sql, {"kme": self.kme_id}).fetchone()

    def init_audit(self, conn: Connection) -> None:
        """Start an empty chain for this KME (first start of a database)."""
        conn.execute(insert(audit_head_t).values(kme_id=self.kme_id, seq=0, hash=GENESIS_HASH))

    def hold_audit_head(self, conn: Connection) -> None:
        """At the start of a write transaction: lock the chain head row (on PostgreSQL this
        is the KME's write lock: every writer takes it before any read) and keep it in
        ``conn.info`` so that the records of the transaction chain on in memory.

        In pipeline mode (PostgreSQL) with the head this process last committed at hand,
        the locking read is sent without waiting for its answer and the records chain on
        from the remembered head; :meth:`~quaykey.kms.store.Store.sync_pipeline` then checks
        the answer and raises if another process moved the head (the batch runs again)."""
        known = self._head_known if conn.info.get("pipeline") is not None else None
        if known is not None:
            sql = _AUDIT_HEAD + " FOR UPDATE"
            cur = self.raw(conn, sql, {"kme": self.kme_id})

            def check() -> None:
                row = cur.fetchone()
                if row is None or (row[0], row[1]) != known:
                    self._head_known = None
                    raise AuditHeadMovedError()

            self.check_at_sync(conn, check)
            conn.info["audit_head"] = [known[0], known[1], known[0]]
            return
        head = self._head(conn)
        if head is not None:  # None only before init_audit on a new database
            conn.info["audit_head"] = [head[0], head[1], head[0]]

    def flush_audit_head(self, conn: Connection) -> tuple[int, str] | None:
        """Before the commit: write the head kept by :meth:`hold_audit_head` back, once.
        Returns that head (``None`` if the transaction did not hold one)."""
        head = conn.info.pop("audit_head", None)
        if head is None:
            return None
        if head[0] != head[2]:
            self.raw(
                conn,
                _AUDIT_HEAD_UPDATE,
                {"kme": self.kme_id, "new_seq": head[0], "new_hash": head[1]},
            )
        return head[0], head[1]

    def audit(self, conn: Connection, ev: str, _log: bool = True, **detail: Any) -> None:
        """Append one hash-chained audit record inside the caller's transaction.

        Detail values are key IDs, sizes, SAE IDs and node names; never key bytes.
        Locks the chain head (unless the transaction already holds it, see
        :meth:`hold_audit_head`), which also serialises writers on PostgreSQL.
        """
        held = conn.info.get("audit_head")
        if held is None:
            head = self._head(conn)
            if head is None:
                raise KmsError("the audit chain has no head")
            prev_seq, prev = head[0], head[1]
        else:
            prev_seq, prev = held[0], held[1]
        seq = prev_seq + 1
        ts = time.time()
        text = canonical(detail).decode()
        h = _audit_hash(prev, seq, ts, self.kme_id, ev, text)
        self.raw(
            conn,
            _AUDIT_INSERT,
            {
                "seq": seq,
                "ts": ts,
                "kme_id": self.kme_id,
                "event": ev,
                "detail": text,
                "prev_hash": prev,
                "hash": h,
            },
        )
        if held is None:
            self.raw(conn, _AUDIT_HEAD_UPDATE, {"kme": self.kme_id, "new_seq": seq, "new_hash": h})
        else:
            held[0], held[1] = seq, h
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
