"""Persistent channel state in SQLite: sequence numbers, used key IDs and the otp queue.

One file per SAE may serve all its channels (rows are keyed by peer). Every change is
one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so a restart keeps the
replay protection: the next outgoing sequence number, the last sequence accepted from
each peer, the sequence numbers accepted and every key ID a receiver has consumed.
Queued ``otp`` payloads are the sender's own plaintext waiting for key; the file should
be as protected as the application's other data.
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

__all__ = ["ChannelStore", "QueueReport", "QueuedMessage"]

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
"""


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

    Examples
    --------
    >>> s = ChannelStore(":memory:")
    >>> s.next_seq("customs"), s.next_seq("customs"), s.last_seq_in("customs")
    (1, 2, 0)
    >>> s.keys_used(["k1"]), s.mark_keys_used("customs", ["k1"], side="in"), s.keys_used(["k1"])
    ([], None, ['k1'])
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()  # one connection, shared by the channels of this store
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"ChannelStore({self.path!r})"

    def close(self) -> None:
        """Close the database connection."""
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
        """Reserve and return the next outgoing sequence number towards ``peer``."""
        with self._tx() as db:
            row = db.execute("SELECT last_seq FROM seq_out WHERE peer=?", (peer,)).fetchone()
            seq = (row[0] if row else 0) + 1
            db.execute("INSERT OR REPLACE INTO seq_out VALUES (?, ?)", (peer, seq))
        return seq

    def last_seq_in(self, peer: str) -> int:
        """Highest sequence number accepted from ``peer`` (0 before the first)."""
        rows = self._read("SELECT last_seq FROM seq_in WHERE peer=?", (peer,))
        return int(rows[0][0]) if rows else 0

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

    def mark_keys_used(self, peer: str, key_ids: list[str] | tuple[str, ...], *, side: str) -> None:
        """Record key IDs as used (``side`` ``"out"`` by the sender, ``"in"`` by the receiver).

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

    def accept(self, peer: str, seq: int) -> None:
        """Record ``seq`` from ``peer`` as accepted and raise the peer's high-water mark."""
        with self._tx() as db:
            db.execute("INSERT INTO accepted VALUES (?, ?)", (peer, seq))
            db.execute(
                "INSERT INTO seq_in VALUES (?, ?) ON CONFLICT(peer) DO UPDATE "
                "SET last_seq=max(last_seq, excluded.last_seq)",
                (peer, seq),
            )

    def enqueue(self, peer: str, msg_type: str, payload: bytes, *, capacity: int) -> int | None:
        """Append to the otp queue; ``None`` (nothing stored) when it holds ``capacity``."""
        with self._tx() as db:
            (n,) = db.execute("SELECT count(*) FROM otp_queue").fetchone()
            if n >= capacity:
                return None
            cur = db.execute(
                "INSERT INTO otp_queue (peer, msg_type, payload, enqueued_at) VALUES (?,?,?,?)",
                (peer, msg_type, payload, time.time()),
            )
            return int(cur.lastrowid or 0)

    def queued(self, peer: str | None = None) -> list[QueuedMessage]:
        """Waiting messages, oldest first (all peers, or one)."""
        q = "SELECT id, peer, msg_type, payload, enqueued_at FROM otp_queue"
        args: tuple[str, ...] = ()
        if peer is not None:
            q, args = q + " WHERE peer=?", (peer,)
        rows = self._read(q + " ORDER BY id", args)
        return [QueuedMessage(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

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
