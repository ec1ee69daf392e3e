"""Persistent channel state in SQLite: sequence numbers, used key IDs and the otp queue.

One file per SAE may serve all its channels (rows are keyed by peer). Every change is
one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so a restart keeps the
replay protection: the outgoing sequence numbers reserved, the last sequence accepted
from each peer, the sequence numbers accepted and every key ID a receiver has consumed.

Outgoing sequence numbers are reserved in blocks of :data:`SEQ_BLOCK`: the store commits
the end of a block (``seq_out.last_seq``, a high-water mark) before it hands out the
block's first number, then serves the rest from memory. A crash loses at most the unused
part of a block; the next store continues above the mark, so no number is ever issued
twice (the sender derives the AES-GCM nonce from it). :meth:`ChannelStore.close`
gives the unused part back when nobody reserved past it. The ``aes`` receiver accepts
most messages without a commit (``accept(durable=False)``, see
:mod:`quaykey.logistics.sdk.channel`); their order mark is committed with the next
durable accept or by :meth:`ChannelStore.close`.
Queued ``otp`` payloads are the sender's own plaintext waiting for key: they are sealed
at rest with AES-256-GCM (:class:`quaykey.sealing.Sealer`, the KME store's sealing) under
a local 256-bit key kept next to the database (``<path>.key``, mode 0600, created on first
use), bound to the peer and message type; the database file holds no queued plaintext.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quaykey.sealing import local_sealer

__all__ = ["MAX_REPLY_KEYS", "SEQ_BLOCK", "ChannelStore", "QueueReport", "QueuedMessage"]

#: Outgoing sequence numbers reserved (and committed) at once.
SEQ_BLOCK = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seq_out (peer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seq_in (peer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accepted (peer TEXT NOT NULL, seq INTEGER NOT NULL,
                                     PRIMARY KEY (peer, seq));
CREATE TABLE IF NOT EXISTS used_keys (key_id TEXT NOT NULL, peer TEXT NOT NULL,
                                      side TEXT NOT NULL, at REAL NOT NULL,
                                      PRIMARY KEY (key_id, side));
CREATE TABLE IF NOT EXISTS otp_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL,
                                      msg_type TEXT NOT NULL, payload BLOB NOT NULL,
                                      enqueued_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reply_keys (peer TEXT NOT NULL, role TEXT NOT NULL,
                                       ref TEXT NOT NULL, key_ids TEXT NOT NULL,
                                       blob BLOB NOT NULL, at REAL NOT NULL,
                                       PRIMARY KEY (peer, role, ref));
"""

#: Reply keys kept per peer and role at most (the oldest go first: their reply never came).
MAX_REPLY_KEYS = 1024


@dataclass(frozen=True)
class QueuedMessage:
    """An ``otp`` message waiting for key (the payload is not shown in ``repr``)."""

    queue_id: int
    peer: str
    msg_type: str
    payload: bytes
    enqueued_at: float

    def __repr__(self) -> str:
        n = len(self.payload)
        return f"QueuedMessage({self.queue_id}, {self.peer!r}, {self.msg_type!r}, {n} B)"


@dataclass(frozen=True)
class QueueReport:
    """State of the ``otp`` queue: messages waiting, per peer, and the oldest one's age."""

    count: int
    per_peer: dict[str, int]
    oldest_age_s: float | None
    capacity: int


class ChannelStore:
    """SQLite state of one SAE's secure channels.

    Parameters
    ----------
    path : path-like
        SQLite file (created if missing); ``":memory:"`` for a throwaway store.
    seq_block : int, optional
        Outgoing sequence numbers reserved per commit (default :data:`SEQ_BLOCK`).
    key_file : path-like, optional
        The sealing key of queued ``otp`` payloads (default ``<path>.key``, created with
        mode 0600 if missing; a ``":memory:"`` store seals under a key in memory).

    Examples
    --------
    >>> s = ChannelStore(":memory:")
    >>> s.next_seq("customs"), s.next_seq("customs"), s.last_seq_in("customs")
    (1, 2, 0)
    >>> s.keys_used(["k1"]), s.mark_keys_used("customs", ["k1"], side="in"), s.keys_used(["k1"])
    ([], None, ['k1'])
    """

    def __init__(
        self, path: str | Path, *, seq_block: int = SEQ_BLOCK, key_file: str | Path | None = None
    ) -> None:
        if isinstance(seq_block, bool) or not isinstance(seq_block, int) or seq_block < 1:
            raise ValueError("seq_block must be an integer >= 1")
        self.path = str(path)
        self._sealer = local_sealer(self.path, key_file)
        self.seq_block = seq_block
        # per peer: (next number to issue, last number of the reserved block)
        self._seq_blocks: dict[str, tuple[int, int]] = {}
        # per peer: highest sequence accepted without a commit (see accept(durable=False))
        self._seq_in_pending: dict[str, int] = {}
        self._lock = threading.RLock()  # one connection, shared by the channels of this store
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"ChannelStore({self.path!r})"

    def close(self) -> None:
        """Give back unused reserved sequence numbers and close the database connection.

        A peer's mark is lowered to the last number issued only if it is still this
        store's (no other connection reserved past it); after a crash nothing is given
        back and the next store continues above the mark. Highest sequence numbers
        accepted without a commit are committed.
        """
        with self._lock:
            blocks, self._seq_blocks = self._seq_blocks, {}
            pending, self._seq_in_pending = self._seq_in_pending, {}
            if blocks or pending:
                with self._tx() as db:
                    for peer, (nxt, end) in blocks.items():
                        db.execute(
                            "UPDATE seq_out SET last_seq=? WHERE peer=? AND last_seq=?",
                            (nxt - 1, peer, end),
                        )
                    for peer, seq in pending.items():
                        self._raise_seq_in(db, peer, seq)
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return list(self._db.execute(query, args).fetchall())

    def next_seq(self, peer: str) -> int:
        """Return the next outgoing sequence number towards ``peer`` (never issued before).

        Commits only when a new block must be reserved (once per ``seq_block`` numbers):
        the block's end is durable before any number of it is returned.
        """
        with self._lock:
            nxt, end = self._seq_blocks.get(peer, (1, 0))
            if nxt > end:
                with self._tx() as db:
                    row = db.execute(
                        "SELECT last_seq FROM seq_out WHERE peer=?", (peer,)
                    ).fetchone()
                    nxt = (row[0] if row else 0) + 1
                    end = nxt + self.seq_block - 1
                    db.execute("INSERT OR REPLACE INTO seq_out VALUES (?, ?)", (peer, end))
            self._seq_blocks[peer] = (nxt + 1, end)
            return nxt

    def last_seq_in(self, peer: str) -> int:
        """Highest sequence number accepted from ``peer`` (0 before the first)."""
        rows = self._read("SELECT last_seq FROM seq_in WHERE peer=?", (peer,))
        return max(int(rows[0][0]) if rows else 0, self._seq_in_pending.get(peer, 0))

    def was_accepted(self, peer: str, seq: int) -> bool:
        """Whether sequence number ``seq`` from ``peer`` was accepted before."""
        q = "SELECT 1 FROM accepted WHERE peer=? AND seq=?"
        return bool(self._read(q, (peer, seq)))

    def keys_used(self, key_ids: list[str] | tuple[str, ...], *, side: str = "in") -> list[str]:
        """Those of ``key_ids`` already recorded as used on ``side``."""
        out = []
        q = "SELECT 1 FROM used_keys WHERE key_id=? AND side=?"
        for k in key_ids:
            if self._read(q, (k.lower(), side)):
                out.append(k)
        return out

    def mark_keys_used(
        self,
        peer: str,
        key_ids: list[str] | tuple[str, ...],
        *,
        side: str,
        reply: tuple[str, str, tuple[str, ...], bytes] | None = None,
    ) -> None:
        """Record key IDs as used (``side`` ``"out"`` by the sender, ``"in"`` by the receiver).

        ``reply`` = (role, ref, key IDs, key bytes): reply keys to keep, sealed, in the same
        transaction (:meth:`put_reply_keys`).

        Raises
        ------
        ValueError
            If any of them was recorded before (nothing is written then).
        """
        now = time.time()
        with self._tx() as db:
            try:
                db.executemany(
                    "INSERT INTO used_keys VALUES (?, ?, ?, ?)",
                    [(k.lower(), peer, side, now) for k in key_ids],
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a key ID among {list(key_ids)} was used before") from None
            if reply is not None:
                self._put_reply(db, peer, *reply, now=now)

    def _put_reply(
        self,
        db: sqlite3.Connection,
        peer: str,
        role: str,
        ref: str,
        key_ids: tuple[str, ...],
        key: bytes,
        *,
        now: float,
    ) -> None:
        blob = self._sealer.seal(f"reply|{peer}|{role}|{ref}", key)
        db.execute(
            "INSERT OR REPLACE INTO reply_keys VALUES (?, ?, ?, ?, ?, ?)",
            (peer, role, ref, ",".join(key_ids), blob, now),
        )
        db.execute(
            "DELETE FROM reply_keys WHERE peer=? AND role=? AND rowid NOT IN (SELECT rowid"
            " FROM reply_keys WHERE peer=? AND role=? ORDER BY at DESC LIMIT ?)",
            (peer, role, peer, role, MAX_REPLY_KEYS),
        )

    def take_reply_keys(
        self, peer: str, role: str, ref: str, *, side: str
    ) -> tuple[tuple[str, ...], bytes] | None:
        """Take (delete) the reply keys kept under ``(peer, role, ref)`` and mark their key
        IDs used on ``side``, in one transaction; ``None`` when there are none.

        Roles: ``"await"`` (the requester's copy, ``ref`` the key IDs joined by commas) and
        ``"answer"`` (the replier's, ``ref`` the request's sequence number).
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT key_ids, blob FROM reply_keys WHERE peer=? AND role=? AND ref=?",
                (peer, role, ref),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "DELETE FROM reply_keys WHERE peer=? AND role=? AND ref=?", (peer, role, ref)
            )
            ids = tuple(row[0].split(","))
            db.executemany(
                "INSERT OR IGNORE INTO used_keys VALUES (?, ?, ?, ?)",
                [(k.lower(), peer, side, time.time()) for k in ids],
            )
            key = bytes(self._sealer.open(f"reply|{peer}|{role}|{ref}", row[1]))
        return ids, key

    @staticmethod
    def _raise_seq_in(db: sqlite3.Connection, peer: str, seq: int) -> None:
        db.execute(
            "INSERT INTO seq_in VALUES (?, ?) ON CONFLICT(peer) DO UPDATE "
            "SET last_seq=max(last_seq, excluded.last_seq)",
            (peer, seq),
        )

    def accept(
        self,
        peer: str,
        seq: int,
        *,
        durable: bool = True,
        reply: tuple[tuple[str, ...], bytes] | None = None,
        used: tuple[str, ...] = (),
    ) -> None:
        """Record ``seq`` from ``peer`` as accepted and raise the peer's high-water mark.

        ``used``: key IDs the message consumed at the KME, recorded as used (side ``in``)
        in the same transaction (which is then durable).

        ``reply`` = (key IDs, key bytes): the request's reply keys, kept sealed (role
        ``"answer"``, ``ref`` the sequence number) in the same transaction.

        With ``durable=False`` only the high-water mark is raised, in memory: it is
        committed with the peer's next durable accept or by :meth:`close`. The caller
        must then refuse replays of ``seq`` itself (the ``aes`` receiver does, by the
        key's committed IDs and its in-memory set of the key's sequence numbers).
        """
        with self._lock:
            pending = max(seq, self._seq_in_pending.pop(peer, 0))
            if not durable and not used:
                self._seq_in_pending[peer] = pending
                return
            with self._tx() as db:
                try:
                    db.executemany(
                        "INSERT INTO used_keys VALUES (?, ?, ?, ?)",
                        [(k.lower(), peer, "in", time.time()) for k in used],
                    )
                except sqlite3.IntegrityError:
                    raise ValueError(f"a key ID among {list(used)} was used before") from None
                db.execute("INSERT INTO accepted VALUES (?, ?)", (peer, seq))
                self._raise_seq_in(db, peer, pending)
                if reply is not None:
                    self._put_reply(db, peer, "answer", str(seq), *reply, now=time.time())

    def enqueue(self, peer: str, msg_type: str, payload: bytes, *, capacity: int) -> int | None:
        """Append to the otp queue; ``None`` (nothing stored) when it holds ``capacity``."""
        with self._tx() as db:
            (n,) = db.execute("SELECT count(*) FROM otp_queue").fetchone()
            if n >= capacity:
                return None
            cur = db.execute(
                "INSERT INTO otp_queue (peer, msg_type, payload, enqueued_at) VALUES (?,?,?,?)",
                (peer, msg_type, self._sealer.seal(_aad(peer, msg_type), payload), time.time()),
            )
            return int(cur.lastrowid or 0)

    def queued(self, peer: str | None = None) -> list[QueuedMessage]:
        """Waiting messages, oldest first (all peers, or one)."""
        q = "SELECT id, peer, msg_type, payload, enqueued_at FROM otp_queue"
        args: tuple[str, ...] = ()
        if peer is not None:
            q, args = q + " WHERE peer=?", (peer,)
        rows = self._read(q + " ORDER BY id", args)
        return [
            QueuedMessage(r[0], r[1], r[2], bytes(self._sealer.open(_aad(r[1], r[2]), r[3])), r[4])
            for r in rows
        ]

    def dequeue(self, queue_id: int) -> None:
        """Remove one message from the queue (after it was sent)."""
        with self._tx() as db:
            db.execute("DELETE FROM otp_queue WHERE id=?", (queue_id,))

    def queue_report(self, capacity: int, now: float | None = None) -> QueueReport:
        """Counts and the oldest message's age in seconds."""
        q = "SELECT peer, count(*), min(enqueued_at) FROM otp_queue GROUP BY peer"
        per_peer: dict[str, int] = {}
        oldest: float | None = None
        for peer, n, first in self._read(q):
            per_peer[peer] = int(n)
            oldest = first if oldest is None else min(oldest, first)
        age = None if oldest is None else max(0.0, (now or time.time()) - oldest)
        return QueueReport(sum(per_peer.values()), per_peer, age, capacity)


def _aad(peer: str, msg_type: str) -> str:
    return f"otp-queue|{peer}|{msg_type}"
