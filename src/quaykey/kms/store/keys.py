"""Link key material shared with neighbour KMEs, and the keys a KME holds for its SAEs.

Link blocks are split in two halves, one per direction (:meth:`LinkMaterial.send_half`);
consumption is bit-exact and spent bytes are overwritten with zeros. Held keys are stored
once per slave SAE, sealed and bound to ``key|<key_ID>|<slave>``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from quaykey.errors import KmsKeyExhaustedError
from quaykey.kms.store.sealing import Sealer
from quaykey.kms.store.tables import keys_t, link_blocks_t, link_used_t

__all__ = ["HeldKeys", "LinkMaterial"]

# hot statements, run on the DBAPI cursor (Store.raw)
_KEY_INSERT = (
    "INSERT INTO kms_keys (key_id, slave_sae, master_sae, size_bits, blob, state, relay_id, "
    "slaves, expires_at, created_at) VALUES (:key_id, :slave_sae, :master_sae, :size_bits, "
    ":blob, :state, :relay_id, :slaves, :expires_at, :created_at)"
)
_OUTSTANDING = "SELECT count(*) FROM kms_keys WHERE master_sae = :master AND expires_at > :now"


class LinkMaterial:
    """Link key blocks per neighbour (part of :class:`~quaykey.kms.store.Store`)."""

    sealer: Sealer

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


class HeldKeys:
    """Keys held for slave SAEs (part of :class:`~quaykey.kms.store.Store`)."""

    sealer: Sealer
    raw: Callable[..., Any]
    check_at_sync: Callable[[Connection, Callable[[], None]], None]

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
        self.raw(
            conn,
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
            many=True,
        )

    def open_key(self, key_id: str, slave: str, blob: bytes) -> bytearray:
        """Unseal one stored key."""
        return self.sealer.open(f"key|{key_id}|{slave}", blob)

    def check_outstanding(
        self, conn: Connection, master: str, now: float, adding: int, quota: int
    ) -> None:
        """Raise :class:`KmsKeyExhaustedError` if ``master`` would hold more than ``quota``
        unclaimed keys here after ``adding`` more; in pipeline mode at the sync."""
        cur = self.raw(conn, _OUTSTANDING, {"master": master, "now": now})

        def check() -> None:
            if int(cur.fetchone()[0]) + adding > quota:
                raise KmsKeyExhaustedError(
                    "keys outstanding quota reached", [{"keys_outstanding": quota}]
                )

        self.check_at_sync(conn, check)

    def outstanding(self, conn: Connection, master: str, now: float) -> int:
        """Unclaimed, unexpired keys held here whose master is ``master``."""
        return int(self.raw(conn, _OUTSTANDING, {"master": master, "now": now}).fetchone()[0])

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
