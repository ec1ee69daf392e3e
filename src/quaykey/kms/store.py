"""Durable KME state: link key material, held keys and the audit chain (SQLAlchemy Core).

SQLite (WAL, ``synchronous=FULL``, ``secure_delete``, ``BEGIN IMMEDIATE``) is the embedded
default; PostgreSQL is used when the URL says ``postgresql+psycopg://``. Every key byte is
sealed with AES-256-GCM under the KME master key, which lives in a file outside the
database; the associated data binds each ciphertext to its row, so rows cannot be swapped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.pool import NullPool

from quaykey.errors import KmsError, MasterKeyError

__all__ = [
    "GENESIS_HASH",
    "MasterKeyError",
    "Sealer",
    "Store",
    "create_master_key",
    "read_master_key",
    "verify_audit_chain",
]

log = logging.getLogger("quaykey.kms.audit")

T = TypeVar("T")

GENESIS_HASH = "0" * 64
_CANARY = b"quaykey-kms-master-key-check"

metadata = MetaData()

meta_t = Table(
    "kms_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

link_blocks_t = Table(
    "kms_link_blocks",
    metadata,
    Column("peer", String(128), primary_key=True),
    Column("block_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("send_offset", Integer, nullable=False),
    Column("recv_bytes", Integer, nullable=False),
    Column("deposited_at", Float, nullable=False),
)

link_used_t = Table(
    "kms_link_used",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(128), nullable=False),
    Column("block_id", String(128), nullable=False),
    Column("start", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    Index("ix_link_used_block", "peer", "block_id"),
)

keys_t = Table(
    "kms_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("slave_sae", String(256), primary_key=True),
    Column("master_sae", String(256), nullable=False),
    Column("size_bits", Integer, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("relay_id", String(36), nullable=True),
    Column("slaves", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_keys_relay", "relay_id"),
    Index("ix_keys_pair", "master_sae", "slave_sae"),
    Index("ix_keys_expiry", "expires_at"),
)

audit_t = Table(
    "kms_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("kme_id", String(128), nullable=False),
    Column("event", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head_t = Table(
    "kms_audit_head",
    metadata,
    Column("kme_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


# Hot statements built once: SQLAlchemy memoises the cache key of a statement object, so
# executing a prebuilt statement with parameters skips building and hashing it per call.
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
_KEY_INSERT = insert(keys_t)
_OUTSTANDING = (
    select(func.count())
    .select_from(keys_t)
    .where(keys_t.c.master_sae == bindparam("master"), keys_t.c.expires_at > bindparam("now"))
)


def create_master_key(path: Path) -> None:
    """Write a fresh 256-bit master key (hex) to ``path`` with mode 0600 unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def read_master_key(path: Path) -> bytes:
    """Read a 256-bit master key written by :func:`create_master_key` (64 hex characters)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise MasterKeyError(
            f"master key file {path} does not exist; create it with `quaykey pki init`"
        ) from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(f"master key file {path} must hold 64 hex characters")
    return raw


class Sealer:
    """AES-256-GCM sealing of key material at rest; ``repr`` never shows the key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master_key must be 32 bytes")
        self._aead = AESGCM(master_key)

    def __repr__(self) -> str:
        return "Sealer(<AES-256-GCM>)"

    def seal(self, aad: str, plaintext: bytes | bytearray) -> bytes:
        """Encrypt ``plaintext`` bound to ``aad``; returns nonce ‖ ciphertext ‖ tag."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, bytes(plaintext), aad.encode())

    def open(self, aad: str, blob: bytes) -> bytearray:
        """Decrypt a sealed blob; raises :class:`MasterKeyError` if it does not authenticate."""
        try:
            return bytearray(self._aead.decrypt(blob[:12], blob[12:], aad.encode()))
        except InvalidTag:
            raise MasterKeyError("stored key material does not authenticate") from None


def _owner_only_sqlite_file(url: str) -> None:
    """Create the SQLite file with mode 0600 before SQLite does (its WAL and shared-memory
    files then get the same mode); an existing file is narrowed to 0600."""
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    fd = os.open(db, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.info.get("begin_mode", "BEGIN IMMEDIATE")
        conn.exec_driver_sql(mode)


def _canonical(record: dict[str, Any]) -> bytes:
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
    body = _canonical(
        {"seq": seq, "ts": ts, "kme_id": kme_id, "event": ev, "detail": detail, "prev": prev_hash}
    )
    return hashlib.sha256(body).hexdigest()


def verify_audit_chain(records: list[AuditRecord]) -> None:
    """Check the hash chain of audit records in ``seq`` order; raise :class:`KmsError` if broken."""
    prev = GENESIS_HASH
    for i, r in enumerate(records, start=1):
        if r.seq != i or r.prev_hash != prev:
            raise KmsError(f"audit chain broken at seq {r.seq}")
        detail = _canonical(r.detail).decode()
        if _audit_hash(prev, r.seq, r.ts, r.kme_id, r.event, detail) != r.hash:
            raise KmsError(f"audit record {r.seq} was altered")
        prev = r.hash


class Store:
    """Tables and transactions of one KME.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql+psycopg://...``).
    sealer : Sealer
        Seals key material at rest.
    kme_id : str
        Written into every audit record.
    """

    def __init__(self, url: str, sealer: Sealer, kme_id: str) -> None:
        self.url = url
        self.sealer = sealer
        self.kme_id = kme_id
        self.is_sqlite = url.startswith("sqlite")
        self._lock_key = zlib.crc32(kme_id.encode())
        if self.is_sqlite:
            _owner_only_sqlite_file(url)
            self.engine = create_engine(url, poolclass=NullPool if ":memory:" in url else None)
            _sqlite_setup(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        metadata.create_all(self.engine)
        self._check_master_key()
        self.max_batch = 64
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._commit_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store(kme_id={self.kme_id!r}, backend={'sqlite' if self.is_sqlite else 'sql'})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _check_master_key(self) -> None:
        with self.write() as conn:
            row = conn.execute(select(meta_t.c.value).where(meta_t.c.name == "canary")).first()
            if row is None:
                conn.execute(
                    insert(meta_t).values(name="canary", value=self.sealer.seal("canary", _CANARY))
                )
                conn.execute(
                    insert(audit_head_t).values(kme_id=self.kme_id, seq=0, hash=GENESIS_HASH)
                )
                return
        if self.sealer.open("canary", row[0]) != _CANARY:
            raise MasterKeyError("the master key does not open this database")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, serialised per KME, committed (durably) on normal exit.

        SQLite takes the database write lock at ``BEGIN IMMEDIATE``; PostgreSQL takes a
        transaction-scoped advisory lock keyed by the KME ID before any read.
        """
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                if not self.is_sqlite:
                    # one writer at a time per KME, like SQLite's BEGIN IMMEDIATE
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
                yield conn

    def transact(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a durable write transaction, sharing the commit with concurrent callers.

        Group commit: every caller queues its ``fn``; whichever caller holds the commit lock
        runs all queued functions in one transaction, each inside its own savepoint (an
        ``fn`` that raises rolls back only its own changes and re-raises in its caller; a
        batch of one needs no savepoint: its transaction rolls back instead),
        commits once and hands each caller its result. A caller returns only after the
        commit that contains its changes; if that commit fails, every caller in the batch
        gets the database error and none of the changes persist. ``fn`` must not do
        network I/O.
        """
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        with self._commit_lock:
            if not fut.done():
                self._commit_batch()
        if not fut.done():  # only if a batch died on a BaseException; never block forever
            raise KmsError("transaction abandoned")
        return fut.result()

    def _commit_batch(self) -> None:
        batch: list[tuple[Callable[[Connection], Any], Future[Any]]] = []
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.write() as conn:
                if len(batch) == 1:
                    # alone in the transaction: no savepoint; if fn raises, the transaction
                    # rolls back and the handler below hands the error to its caller
                    outcomes.append((True, batch[0][0](conn)))
                for fn, _fut in batch if len(batch) > 1 else ():
                    sp = conn.begin_nested()
                    try:
                        res = fn(conn)
                    except Exception as exc:
                        sp.rollback()
                        outcomes.append((False, exc))
                    else:
                        sp.commit()
                        outcomes.append((True, res))
        except Exception as exc:
            for _fn, fut in batch:
                fut.set_exception(exc)
            return
        for (_fn, fut), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin_mode"] = "BEGIN"
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("begin_mode", None)

    def check_writable(self) -> None:
        """Write an audit record and roll it back: raises if the store or the audit log
        cannot take a write (readiness probe; leaves no trace)."""
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
                self.audit(conn, "readiness_probe", _log=False)
            finally:
                tx.rollback()

    # --- audit -------------------------------------------------------------------------

    def audit(self, conn: Connection, ev: str, _log: bool = True, **detail: Any) -> None:
        """Append one hash-chained audit record inside the caller's transaction.

        Detail values are key IDs, sizes, SAE IDs and node names; never key bytes.
        Locks the chain head, which also serialises writers on PostgreSQL.
        """
        head = conn.execute(_AUDIT_HEAD, {"kme": self.kme_id}).one()
        seq = head[0] + 1
        ts = time.time()
        text = _canonical(detail).decode()
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

    # --- link key material -------------------------------------------------------------

    def deposit(self, conn: Connection, peer: str, block_id: str, material: bytes) -> bool:
        """Store a link key block; returns ``False`` if this block ID was already deposited."""
        exists = conn.execute(
            select(link_blocks_t.c.seq).where(
                link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id
            )
        ).first()
        if exists is not None:
            return False
        seq = conn.execute(
            select(link_blocks_t.c.seq)
            .where(link_blocks_t.c.peer == peer)
            .order_by(link_blocks_t.c.seq.desc())
            .limit(1)
        ).scalar()
        conn.execute(
            insert(link_blocks_t).values(
                peer=peer,
                block_id=block_id,
                seq=(seq or 0) + 1,
                size=len(material),
                blob=self.sealer.seal(f"link|{peer}|{block_id}", material),
                send_offset=0,
                recv_bytes=0,
                deposited_at=time.time(),
            )
        )
        return True

    @staticmethod
    def send_half(size: int, sender_is_low: bool) -> tuple[int, int]:
        """Byte range ``[lo, hi)`` of a block that the given direction may consume."""
        mid = size // 2
        return (0, mid) if sender_is_low else (mid, size)

    def sendable_bytes(self, conn: Connection, peer: str, me_low: bool) -> int:
        """Link key bytes this KME can still send to ``peer``."""
        total = 0
        for size, off in conn.execute(
            select(link_blocks_t.c.size, link_blocks_t.c.send_offset).where(
                link_blocks_t.c.peer == peer
            )
        ):
            lo, hi = self.send_half(size, me_low)
            total += hi - lo - off
        return total

    def receivable_bytes(self, conn: Connection, peer: str, me_low: bool) -> int:
        """Link key bytes ``peer`` may still send us (our copy)."""
        total = 0
        for size, recv in conn.execute(
            select(link_blocks_t.c.size, link_blocks_t.c.recv_bytes).where(
                link_blocks_t.c.peer == peer
            )
        ):
            lo, hi = self.send_half(size, not me_low)
            total += hi - lo - recv
        return total

    def _rewrite_block(
        self, conn: Connection, peer: str, block_id: str, material: bytearray, **values: int
    ) -> None:
        conn.execute(
            update(link_blocks_t)
            .where(link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id)
            .values(blob=self.sealer.seal(f"link|{peer}|{block_id}", material), **values)
        )

    def take_send(
        self, conn: Connection, peer: str, me_low: bool, n_bytes: int
    ) -> tuple[bytearray, list[tuple[str, int, int]]] | None:
        """Consume ``n_bytes`` of our send half towards ``peer``, oldest blocks first.

        Returns the bytes and the ``(block_id, start, length)`` segments, or ``None``
        (consuming nothing) when not enough material is left. Consumed bytes are
        overwritten with zeros in the stored block.
        """
        rows = conn.execute(
            select(
                link_blocks_t.c.block_id,
                link_blocks_t.c.size,
                link_blocks_t.c.send_offset,
                link_blocks_t.c.recv_bytes,
            )
            .where(link_blocks_t.c.peer == peer)
            .order_by(link_blocks_t.c.seq)
        ).all()
        plan = []
        need = n_bytes
        for r in rows:
            lo, hi = self.send_half(r.size, me_low)
            avail = hi - lo - r.send_offset
            if avail <= 0:
                continue
            take = min(avail, need)
            plan.append((r, lo + r.send_offset, take))
            need -= take
            if need == 0:
                break
        if need > 0:
            return None
        out = bytearray()
        segments = []
        for r, start, take in plan:
            blob = conn.execute(
                select(link_blocks_t.c.blob).where(
                    link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == r.block_id
                )
            ).scalar_one()
            material = self.sealer.open(f"link|{peer}|{r.block_id}", blob)
            out += material[start : start + take]
            material[start : start + take] = bytes(take)
            segments.append((r.block_id, start, take))
            self._rewrite_block(conn, peer, r.block_id, material, send_offset=r.send_offset + take)
            material[:] = bytes(len(material))
            self._drop_if_spent(conn, peer, r.block_id, r.size, me_low)
        return out, segments

    def take_recv(
        self, conn: Connection, peer: str, me_low: bool, segments: list[tuple[str, int, int]]
    ) -> bytearray | None:
        """Consume exactly the named segments of ``peer``'s send half (our copy).

        Returns ``None`` (consuming nothing) when a block is unknown, a segment lies
        outside the sender's half or overlaps bytes already consumed (replay).
        """
        out = bytearray()
        blocks: dict[str, tuple[Any, bytearray]] = {}
        for block_id, start, length in segments:
            if length <= 0 or start < 0:
                return None
            if block_id not in blocks:
                r = conn.execute(
                    select(link_blocks_t).where(
                        link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id
                    )
                ).first()
                if r is None:
                    return None
                blocks[block_id] = (r, self.sealer.open(f"link|{peer}|{block_id}", r.blob))
            r, material = blocks[block_id]
            lo, hi = self.send_half(r.size, not me_low)
            if start < lo or start + length > hi:
                return None
            clash = conn.execute(
                select(link_used_t.c.id)
                .where(
                    link_used_t.c.peer == peer,
                    link_used_t.c.block_id == block_id,
                    link_used_t.c.start < start + length,
                    link_used_t.c.start + link_used_t.c.length > start,
                )
                .limit(1)
            ).first()
            if clash is not None:
                return None
            out += material[start : start + length]
        # all checks passed: consume
        used: dict[str, int] = {}
        for block_id, start, length in segments:
            _r, material = blocks[block_id]
            material[start : start + length] = bytes(length)
            conn.execute(
                insert(link_used_t).values(peer=peer, block_id=block_id, start=start, length=length)
            )
            used[block_id] = used.get(block_id, 0) + length
        for block_id, n in used.items():
            r, material = blocks[block_id]
            self._rewrite_block(conn, peer, block_id, material, recv_bytes=r.recv_bytes + n)
            material[:] = bytes(len(material))
            self._drop_if_spent(conn, peer, block_id, r.size, me_low)
        return out

    def peek_recv(
        self, conn: Connection, peer: str, segments: list[tuple[str, int, int]], n: int
    ) -> bytearray | None:
        """Read (without consuming) the first ``n`` bytes named by ``segments``."""
        out = bytearray()
        for block_id, start, length in segments:
            r = conn.execute(
                select(link_blocks_t.c.blob).where(
                    link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id
                )
            ).first()
            if r is None or start < 0 or length <= 0:
                return None
            material = self.sealer.open(f"link|{peer}|{block_id}", r[0])
            out += material[start : start + min(length, n - len(out))]
            material[:] = bytes(len(material))
            if len(out) >= n:
                return out
        return None

    def _drop_if_spent(
        self, conn: Connection, peer: str, block_id: str, size: int, me_low: bool
    ) -> None:
        r = conn.execute(
            select(link_blocks_t.c.send_offset, link_blocks_t.c.recv_bytes).where(
                link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id
            )
        ).one()
        slo, shi = self.send_half(size, me_low)
        rlo, rhi = self.send_half(size, not me_low)
        if r.send_offset >= shi - slo and r.recv_bytes >= rhi - rlo:
            # keep a tombstone row-free record in link_used? the block ID stays known via audit
            conn.execute(
                update(link_blocks_t)
                .where(link_blocks_t.c.peer == peer, link_blocks_t.c.block_id == block_id)
                .values(blob=self.sealer.seal(f"link|{peer}|{block_id}", b""))
            )

    # --- held keys ------------------------------------------------------------------------

    def put_key(
        self,
        conn: Connection,
        *,
        key_id: str,
        slaves: list[str],
        master: str,
        size_bits: int,
        key: bytes | bytearray,
        state: str,
        relay_id: str | None,
        expires_at: float,
    ) -> None:
        """Store one key for each slave (sealed, bound to key ID and slave)."""
        now = time.time()
        conn.execute(
            _KEY_INSERT,
            [
                {
                    "key_id": key_id,
                    "slave_sae": s,
                    "master_sae": master,
                    "size_bits": size_bits,
                    "blob": self.sealer.seal(f"key|{key_id}|{s}", key),
                    "state": state,
                    "relay_id": relay_id,
                    "slaves": json.dumps(sorted(slaves)),
                    "expires_at": expires_at,
                    "created_at": now,
                }
                for s in slaves
            ],
        )

    def open_key(self, key_id: str, slave: str, blob: bytes) -> bytearray:
        """Unseal one stored key."""
        return self.sealer.open(f"key|{key_id}|{slave}", blob)

    def outstanding(self, conn: Connection, master: str, now: float) -> int:
        """Unclaimed, unexpired keys held here whose master is ``master``."""
        return int(conn.execute(_OUTSTANDING, {"master": master, "now": now}).scalar_one())

    def expire(self, conn: Connection, now: float) -> list[tuple[str, str, str]]:
        """Delete expired keys and stale reservations; returns ``(key_id, slave, state)``."""
        rows = conn.execute(
            select(keys_t.c.key_id, keys_t.c.slave_sae, keys_t.c.state).where(
                keys_t.c.expires_at <= now
            )
        ).all()
        if rows:
            conn.execute(delete(keys_t).where(keys_t.c.expires_at <= now))
        return [(r[0], r[1], r[2]) for r in rows]
