"""Durable state of ``quaykey up``: one SQLite file in the state directory.

Three tables (WAL, ``synchronous=FULL``):

* ``state``: named JSON documents (the network's clock, links and pools; alarms, actions,
  the feed's and the applications' counters), rewritten in one transaction per tick;
* ``pending``: link key blocks decided but not yet confirmed deposited in both KMEs (block
  ID, the two nodes, length), so that a restart after a crash deposits exactly those
  blocks again (a KME refuses a block ID twice: nothing is repeated, nothing lost);
* ``audit``: every operator action, hash-chained (each row's SHA-256 covers the previous
  row's hash and its own fields).

No key material is ever written here: lengths and IDs only.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["GENESIS", "OperateStore", "PendingBlock"]

GENESIS = "0" * 64

PendingBlock = tuple[str, str, str, int]
"""``(block_id, node_a, node_b, n_bytes)``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (block_id TEXT PRIMARY KEY, a TEXT NOT NULL,
    b TEXT NOT NULL, n_bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, unix REAL NOT NULL,
    t_sim REAL NOT NULL, action TEXT NOT NULL, args TEXT NOT NULL, prev TEXT NOT NULL,
    hash TEXT NOT NULL);
"""


def _row_hash(prev: str, unix: float, t_sim: float, action: str, args: str) -> str:
    text = json.dumps([prev, unix, t_sim, action, args])
    return hashlib.sha256(text.encode()).hexdigest()


class OperateStore:
    """The SQLite file ``path`` (created with its tables if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def load(self) -> dict[str, Any]:
        """Every state document by name (empty on a first start)."""
        with self._lock:
            rows = self._db.execute("SELECT name, doc FROM state").fetchall()
        return {name: json.loads(doc) for name, doc in rows}

    def save(self, docs: dict[str, Any], pending: list[PendingBlock] | None = None) -> None:
        """Write ``docs`` and replace the pending blocks, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO state (name, doc) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in docs.items()],
                )
                if pending is not None:
                    self._db.execute("DELETE FROM pending")
                    self._db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?)", pending)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending(self) -> list[PendingBlock]:
        """Blocks decided but not confirmed deposited."""
        with self._lock:
            rows = self._db.execute("SELECT block_id, a, b, n_bytes FROM pending").fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def clear_pending(self) -> None:
        """All pending blocks are deposited."""
        with self._lock:
            self._db.execute("DELETE FROM pending")

    def audit(self, unix: float, t_sim: float, action: str, args: dict[str, Any]) -> None:
        """Append an operator action to the hash-chained audit table."""
        text = json.dumps(args, sort_keys=True)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                prev = row[0] if row else GENESIS
                h = _row_hash(prev, unix, t_sim, action, text)
                self._db.execute(
                    "INSERT INTO audit (unix, t_sim, action, args, prev, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (unix, t_sim, action, text, prev, h),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def audit_rows(self) -> list[dict[str, Any]]:
        """The audit table in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, unix, t_sim, action, args, prev, hash FROM audit ORDER BY seq"
            ).fetchall()
        keys = ("seq", "unix", "t_sim", "action", "args", "prev", "hash")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def audit_ok(self) -> bool:
        """Whether the audit chain verifies from the genesis hash."""
        prev = GENESIS
        for r in self.audit_rows():
            if r["prev"] != prev or r["hash"] != _row_hash(
                prev, r["unix"], r["t_sim"], r["action"], r["args"]
            ):
                return False
            prev = r["hash"]
        return True

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
