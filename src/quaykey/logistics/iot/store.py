"""The gateway's SQLite state: devices, key IDs ever installed, counters, dead letters.

Device keys are stored sealed (AES-256-GCM, :func:`quaykey.sealing.local_sealer`: a
local key in ``<path>.key``, mode 0600), bound to the device and key ID, so a restarted
gateway still knows its devices; the bytes are never stored in clear or logged. A key ID
installed once is refused forever after, and each device's highest accepted counter is
committed before the frame is forwarded (``synchronous=FULL``), so a restart keeps replay
protection.

Examples
--------
>>> s = GatewayStore(":memory:")
>>> s.add_device("reefer-001", "kid-1", "iot-fleet", "MSKU9070323", ())
>>> s.device("reefer-001").equipment_reference
'MSKU9070323'
>>> s.dead_letter("quaykey/iot/x/door", "x", "unknown_device", "no such device", b"QKT1")
1
>>> [(d.reason, d.device_id) for d in s.dead_letters()]
[('unknown_device', 'x')]
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from quaykey.sealing import local_sealer

__all__ = ["DeadLetter", "DeviceRecord", "GatewayStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    device_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, slave_sae TEXT NOT NULL,
    equipment TEXT NOT NULL, hs_codes TEXT NOT NULL, last_counter INTEGER NOT NULL,
    provisioned_at REAL NOT NULL, key_blob BLOB);
CREATE TABLE IF NOT EXISTS used_key_id (key_id TEXT PRIMARY KEY, device_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL, topic TEXT NOT NULL,
    device_id TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL, frame BLOB NOT NULL);
"""


@dataclass(frozen=True)
class DeviceRecord:
    """A provisioned device as the gateway knows it (no key bytes)."""

    device_id: str
    key_id: str
    slave_sae: str
    equipment_reference: str
    hs_codes: tuple[str, ...]
    last_counter: int


@dataclass(frozen=True)
class DeadLetter:
    """A refused frame kept with the reason (the frame is the sensor's ciphertext)."""

    id: int
    received_at: float
    topic: str
    device_id: str | None
    reason: str
    detail: str
    frame: bytes

    def __repr__(self) -> str:
        return f"DeadLetter({self.id}, {self.reason}, {self.topic!r}, {len(self.frame)} B)"


class GatewayStore:
    """SQLite state of one gateway (``path`` or ``":memory:"``); device keys sealed under
    ``key_file`` (default ``<path>.key``)."""

    def __init__(self, path: str | Path, *, key_file: str | Path | None = None) -> None:
        self._sealer = local_sealer(path, key_file)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        if "key_blob" not in {r[1] for r in self._db.execute("PRAGMA table_info(device)")}:
            # a state file from before keys were kept: its devices must be provisioned again
            self._db.execute("ALTER TABLE device ADD COLUMN key_blob BLOB")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def key_id_used(self, key_id: str) -> bool:
        """Whether ``key_id`` was ever installed in a device of this gateway."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM used_key_id WHERE key_id = ?", (key_id.lower(),)
            ).fetchone()
        return row is not None

    def add_device(
        self,
        device_id: str,
        key_id: str,
        slave_sae: str,
        equipment_reference: str,
        hs_codes: tuple[str, ...],
        key: bytes | None = None,
    ) -> None:
        """Record a (re)provisioned device; its counter restarts at 0 under the new key.

        ``key``, the device key, is kept sealed (:meth:`device_keys` reads it back).

        Raises
        ------
        ValueError
            If ``key_id`` was installed before (a key is never installed twice).
        """
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT INTO used_key_id (key_id, device_id) VALUES (?, ?)",
                    (key_id.lower(), device_id),
                )
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise ValueError(f"key ID {key_id} was already installed in a device") from None
            blob = None if key is None else self._sealer.seal(_aad(device_id, key_id), key)
            self._db.execute(
                "INSERT OR REPLACE INTO device (device_id, key_id, slave_sae, equipment,"
                " hs_codes, last_counter, provisioned_at, key_blob) VALUES (?,?,?,?,?,0,?,?)",
                (
                    device_id,
                    key_id,
                    slave_sae,
                    equipment_reference,
                    ",".join(hs_codes),
                    time.time(),
                    blob,
                ),
            )
            self._db.execute("COMMIT")

    def device(self, device_id: str) -> DeviceRecord | None:
        """The device's record, or None if it was never provisioned."""
        with self._lock:
            row = self._db.execute(
                "SELECT device_id, key_id, slave_sae, equipment, hs_codes, last_counter"
                " FROM device WHERE device_id = ?",
                (device_id,),
            ).fetchone()
        if row is None:
            return None
        codes = tuple(c for c in row[4].split(",") if c)
        return DeviceRecord(row[0], row[1], row[2], row[3], codes, int(row[5]))

    def device_keys(self) -> dict[str, tuple[str, bytes]]:
        """Each device's (key ID, key), opened from the sealed column (devices stored
        without a key are left out).

        Raises
        ------
        MasterKeyError
            A sealed key does not authenticate (wrong key file, or the row was altered).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT device_id, key_id, key_blob FROM device WHERE key_blob IS NOT NULL"
            ).fetchall()
        return {d: (k, bytes(self._sealer.open(_aad(d, k), blob))) for d, k, blob in rows}

    def devices(self) -> list[DeviceRecord]:
        """Every provisioned device, by ID."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT device_id FROM device ORDER BY 1")]
        return [d for d in map(self.device, ids) if d is not None]

    def advance_counter(self, device_id: str, key_id: str, counter: int) -> bool:
        """Set the device's highest accepted counter if ``counter`` is above it (atomic)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE device SET last_counter = ? WHERE device_id = ? AND key_id = ?"
                " AND last_counter < ?",
                (counter, device_id, key_id, counter),
            )
        return cur.rowcount == 1

    def dead_letter(
        self, topic: str, device_id: str | None, reason: str, detail: str, frame: bytes
    ) -> int:
        """Keep a refused frame with its reason; return its row ID."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO dead_letter (received_at, topic, device_id, reason, detail, frame)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), topic, device_id, reason, detail, frame),
            )
        return int(cur.lastrowid or 0)

    def dead_letters(self, reason: str | None = None) -> list[DeadLetter]:
        """Dead letters in arrival order, optionally only those with ``reason``."""
        sql = "SELECT id, received_at, topic, device_id, reason, detail, frame FROM dead_letter"
        args: tuple[str, ...] = ()
        if reason is not None:
            sql, args = sql + " WHERE reason = ?", (reason,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [DeadLetter(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6])) for r in rows]


def _aad(device_id: str, key_id: str) -> str:
    return f"iot-device|{device_id}|{key_id.lower()}"
