"""The KME's behaviour: ETSI GS QKD 014 key delivery, link-key deposit and relay.

Where keys come from
--------------------
* **Master and slave at this KME** (same node): the KME draws each key from
  :func:`secrets.token_bytes` (the operating system CSPRNG) and holds it, sealed, until the
  slave fetches it. No link key material is used.
* **Slave at another KME**: the KME draws the key the same way and relays it hop by hop
  along the configured route; each hop one-time-pads it with link key material shared with
  the next KME (deposited by the QKD link process with :meth:`KmeService.deposit_link_key`)
  and authenticates it with a one-time Wegman–Carter MAC (see :mod:`quaykey.kms.relay`).
  The far KME *reserves* the key, the origin *confirms* it, and only then commits the
  delivery to the master and answers (ETSI GS QKD 020 reserve/acknowledge/void); any
  failure voids the reservation.

Guarantees: each key ID is delivered to the master once and to each slave once; every
consumption (link bytes, keys) is committed before the HTTP response leaves; a request
either delivers all keys or none; the audit record is written in the same transaction
as the state change, so a KME that cannot audit delivers nothing (503).

:class:`KmeService` is assembled from one class per job: :class:`~quaykey.kms.access.KmeCore`
(state and access checks), :class:`~quaykey.kms.relay_protocol.RelayProtocol` (KME-to-KME
relay), :class:`~quaykey.kms.delivery.Delivery` (ETSI GS QKD 014),
:class:`~quaykey.kms.stock.KeyStock` (keys relayed ahead of demand); it adds link-key
deposit, expiry, readiness and the pool report.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import KmsUnavailableError
from quaykey.kms.config import KmeSettings
from quaykey.kms.delivery import SUPPORTED_MANDATORY_EXTENSIONS
from quaykey.kms.relay import PeerTransport, warm_up
from quaykey.kms.stock import KeyStock
from quaykey.kms.store import Sealer, Store, keys_t, read_master_key

__all__ = ["SUPPORTED_MANDATORY_EXTENSIONS", "KmeService"]


class KmeService(KeyStock):
    """One Key Management Entity.

    Parameters
    ----------
    settings : KmeSettings
        Resolved settings of this node.
    store : Store
        Durable state.
    transport : PeerTransport or None
        Clients towards peer KMEs (``None``: this KME cannot relay).
    """

    def __repr__(self) -> str:
        return f"KmeService(node={self.settings.node!r}, kme_id={self.settings.kme_id!r})"

    @classmethod
    def from_settings(cls, settings: KmeSettings) -> KmeService:
        """Open the store (checking the master key) and the peer clients."""
        sealer = Sealer(read_master_key(settings.master_key_file))
        store = Store(settings.database_url, sealer, settings.kme_id)
        transport = PeerTransport(
            settings.peers,
            settings.tls.ca,
            settings.tls.client_cert,
            settings.tls.client_key,
            settings.limits.relay_timeout_s,
            kme_ids=settings.kme_ids,
        )
        if settings.neighbours:
            warm_up()
        return cls(settings, store, transport)

    def close(self) -> None:
        """Stop the stock refiller and release connections."""
        self.stop_stock()
        if self.transport is not None:
            self.transport.close()
        self.store.close()

    # --- deposit -----------------------------------------------------------------------

    def deposit_link_key(self, peer_node: str, block_id: str, key_bytes: bytes) -> None:
        """Store one block of link key material shared with the neighbour ``peer_node``.

        The link process calls this at both ends with its own side's copy under the
        same ``block_id``. The first half of each block carries relays from the node
        whose name sorts first to the other, the second half the opposite direction, so
        the two KMEs never consume the same bytes.

        Parameters
        ----------
        peer_node : str
            The node at the other end of the QKD link (must be a configured neighbour).
        block_id : str
            Identifier both ends use for this block.
        key_bytes : bytes
            This end's copy of the block's secret key.

        Raises
        ------
        ValueError
            Unknown neighbour, empty block, or a block ID deposited twice.

        Example
        -------
        >>> service.deposit_link_key("hefei", "blk-000001", key_bytes)  # doctest: +SKIP
        """
        if peer_node not in self.settings.neighbours:
            raise ValueError(
                f"peer_node {peer_node!r} is not a neighbour of {self.node!r}; "
                f"add the link to the KMS config"
            )
        if not isinstance(key_bytes, bytes | bytearray) or len(key_bytes) < 2:
            raise ValueError("key_bytes must be at least 2 bytes")
        if not block_id or len(block_id) > 128:
            raise ValueError("block_id must be 1..128 characters")

        def _tx(conn: Connection) -> Any:
            if not self.store.deposit(conn, peer_node, block_id, bytes(key_bytes)):
                raise ValueError(f"block {block_id!r} from {peer_node!r} was already deposited")
            self.store.audit(
                conn, "link_key_deposited", peer=peer_node, block_id=block_id, bytes=len(key_bytes)
            )

        self.store.transact(_tx)

    # --- housekeeping ------------------------------------------------------------------

    def check_ready(self) -> None:
        """Readiness: raise :class:`KmsUnavailableError` unless store and audit log take writes."""
        try:
            self.store.check_writable()
        except SQLAlchemyError:
            raise KmsUnavailableError("not ready: key store or audit log not writable") from None

    def expire(self) -> int:
        """Delete keys and reservations past their TTL; returns how many rows went."""
        try:

            def _tx(conn: Connection) -> Any:
                now = time.time()
                gone = self.store.expire(conn, now)
                if self.settings.workers > 1:
                    self.store.expire_rate(conn, now - self.rate.window_s)
                if gone:
                    self.store.audit(
                        conn,
                        "keys_expired",
                        key_IDs=sorted({g[0] for g in gone}),
                        rows=len(gone),
                    )
                return gone

            gone = self.store.transact(_tx)
        except SQLAlchemyError as exc:
            raise KmsUnavailableError("key store unavailable") from exc
        return len(gone)

    def pools(self) -> dict[str, Any]:
        """Link pools, held keys and SAEs of this KME (no key material)."""
        out: dict[str, Any] = {"node": self.node, "kme_id": self.settings.kme_id, "links": {}}
        with self.store.read() as conn:
            for peer in sorted(self.settings.neighbours):
                out["links"][peer] = {
                    "sendable_bytes": self.store.sendable_bytes(conn, peer, self._me_low(peer)),
                    "receivable_bytes": self.store.receivable_bytes(conn, peer, self._me_low(peer)),
                }
            rows = conn.execute(select(keys_t.c.state, func.count()).group_by(keys_t.c.state)).all()
            out["held_keys"] = {r[0]: int(r[1]) for r in rows}
        out["saes"] = {
            s: {"tenant": e.tenant}
            for s, e in sorted(self.settings.saes.items())
            if e.node == self.node
        }
        out["stock"] = self.stock_report()
        return out
