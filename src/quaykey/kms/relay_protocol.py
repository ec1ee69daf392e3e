"""KME-to-KME relay protocol: seal a hop, reserve at the far KME, confirm or void.

For a route ``a -> b -> ... -> d`` the origin seals the keys for the first hop with link
key shared with ``b`` (one-time pad and one-time MAC, :mod:`quaykey.kms.relay`) and POSTs
``reserve``; each intermediate KME verifies, decrypts, re-seals for the next hop and
forwards in one transaction; the last KME stores the keys *reserved*. The origin then sends
``confirm`` (the keys become fetchable) or, on any failure, ``void`` along the path
(ETSI GS QKD 020 reserve/acknowledge/void). Link bytes spent on a failed relay are never
reused; an undelivered void lets the reservation expire on its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, update
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import (
    AuditUnavailableError,
    KmsBadRequestError,
    KmsKeyExhaustedError,
    RelayFailedError,
)
from quaykey.kms import faults
from quaykey.kms.access import KmeCore, valid_uuid
from quaykey.kms.pki import Identity
from quaykey.kms.relay import MAC_KEY_BYTES, otp_open, otp_seal, otp_verify, tag_header
from quaykey.kms.schemas import RelayAck, RelayDecision, RelayReserve
from quaykey.kms.store import keys_t

__all__ = ["RELAY_CONFIRM", "RELAY_RESERVE", "RELAY_VOID", "RelayProtocol"]

log = logging.getLogger("quaykey.kms")

RELAY_RESERVE = "/kme/v1/relay/reserve"
RELAY_CONFIRM = "/kme/v1/relay/confirm"
RELAY_VOID = "/kme/v1/relay/void"


class RelayProtocol(KmeCore):
    """The relay half of a KME: sending keys along a route and serving relay hops."""

    def _seal_in(
        self, conn: Connection, base: RelayReserve, plaintext: bytes | bytearray
    ) -> RelayReserve:
        """Inside a transaction: consume link key towards the next hop and seal ``plaintext``."""
        nxt = base.path[base.hop]
        need = MAC_KEY_BYTES + len(plaintext)
        got = self.store.take_send(conn, nxt, self._me_low(nxt), need)
        if got is None:
            raise KmsKeyExhaustedError(
                "not enough link key material towards the next KME",
                [{"next_node": nxt, "needed_bytes": need}],
            )
        material, segments = got
        msg = base.model_copy(update={"segments": segments})
        ct, tag = otp_seal(material, tag_header(msg), plaintext)
        material[:] = bytes(len(material))
        self.store.audit(
            conn,
            "relay_sent",
            relay_id=base.relay_id,
            key_IDs=base.key_IDs,
            size=base.key_size,
            next_node=nxt,
            link_bytes=need,
            segments=[list(s) for s in segments],
        )
        return msg.model_copy(update={"ciphertext": ct, "tag": tag})

    def _seal_hop(
        self,
        base: RelayReserve,
        plaintext: bytes | bytearray,
        hold: Callable[[Connection, RelayReserve], None] | None = None,
    ) -> RelayReserve:
        """Consume link key towards ``base.path[base.hop]`` and seal ``plaintext`` for it.

        ``hold`` runs in the same transaction (a key stock writes its reserved entries there,
        so that link key is never spent without them).
        """

        def _tx(conn: Connection) -> RelayReserve:
            msg = self._seal_in(conn, base, plaintext)
            if hold is not None:
                hold(conn, base)
            return msg

        try:
            return self.store.transact(_tx)
        except SQLAlchemyError:
            raise AuditUnavailableError("key store or audit log unavailable") from None

    def _relay_out(
        self,
        path: list[str],
        master: str,
        slaves: list[str],
        size: int,
        key_ids: list[str],
        keys: list[bytearray],
        *,
        hold: Callable[[Connection, RelayReserve], None] | None = None,
        fault_prefix: str = "",
    ) -> str:
        """Relay ``keys`` along ``path`` (reserve, then confirm); returns the relay ID.

        ``hold`` runs in the transaction that spends the first hop's link key;
        ``fault_prefix`` names this relay's crash points (``refill_`` for a key stock).
        """
        relay_id = str(uuid.uuid4())
        base = RelayReserve(
            relay_id=relay_id,
            path=path,
            hop=1,
            master_SAE_ID=master,
            slave_SAE_IDs=slaves,
            key_size=size,
            key_IDs=key_ids,
            expires_at=time.time() + self.settings.limits.key_ttl_s,
            segments=[],
            ciphertext="",
            tag="",
        )
        msg = self._seal_hop(base, b"".join(keys), hold)
        if fault_prefix:
            faults.crash_point(self.settings.fault_point, f"{fault_prefix}after_seal")
        assert self.transport is not None
        try:
            self.transport.post(path[1], RELAY_RESERVE, msg.model_dump())
        except RelayFailedError:
            self._void(path, relay_id)
            raise
        faults.crash_point(self.settings.fault_point, f"{fault_prefix}after_far_reservation")
        try:
            self.transport.post(
                path[1],
                RELAY_CONFIRM,
                RelayDecision(relay_id=relay_id, path=path, hop=1).model_dump(),
            )
        except RelayFailedError:
            self._void(path, relay_id)
            raise
        return relay_id

    def _void(self, path: list[str], relay_id: str, key_ids: list[str] | None = None) -> bool:
        """Send a void along ``path`` (all keys of the relay, or ``key_ids``); delivered?"""
        self._audit_only("relay_void_sent", relay_id=relay_id, path=path, key_IDs=key_ids)
        if self.transport is None:
            return False
        try:
            self.transport.post(
                path[1],
                RELAY_VOID,
                RelayDecision(relay_id=relay_id, path=path, hop=1, key_IDs=key_ids).model_dump(),
            )
        except RelayFailedError:
            log.warning("void of relay %s not delivered; the far reservation will expire", relay_id)
            return False
        return True

    def _check_hop(self, who: Identity | None, path: list[str], hop: int) -> str:
        sender = self._caller_kme(who)
        if not (1 <= hop < len(path)) or path[hop] != self.node or path[hop - 1] != sender:
            self._deny(f"kme:{sender}", "relay hop does not name this link")
        return sender

    def _check_reserve(self, who: Identity | None, msg: RelayReserve) -> tuple[str, bytes]:
        """Who sent the hop and its authenticated header; checks shape and tag, spends nothing."""
        sender = self._check_hop(who, msg.path, msg.hop)
        header = tag_header(msg)
        lim = self.settings.limits
        if (
            msg.key_size % 8
            or not (lim.min_key_size <= msg.key_size <= lim.max_key_size)
            or not msg.key_IDs
            or len(msg.key_IDs) > lim.max_key_per_request
            or not all(valid_uuid(k) for k in msg.key_IDs)
        ):
            raise KmsBadRequestError("relay message is malformed")
        with self.store.read() as conn:
            mac_key = self.store.peek_recv(conn, sender, msg.segments, MAC_KEY_BYTES)
        if mac_key is None:
            raise KmsBadRequestError("relay segments unknown")
        try:
            otp_verify(mac_key, header, msg.ciphertext, msg.tag)
        except KmsBadRequestError:
            self._audit_only("relay_rejected", relay_id=msg.relay_id, sender=sender)
            raise
        if msg.hop == len(msg.path) - 1:
            for s in msg.slave_SAE_IDs:
                entry = self.settings.saes.get(s)
                if entry is None or entry.node != self.node:
                    raise KmsBadRequestError("relay names a slave SAE not served here")
        return sender, header

    def _reserve_here(self, conn: Connection, msg: RelayReserve, plain: bytearray) -> None:
        """Inside a transaction: store the relayed keys reserved for the slaves served here."""
        now = time.time()
        n_key = msg.key_size // 8
        master = msg.master_SAE_ID
        quota = self.settings.quota(master).keys_outstanding if master in self.settings.saes else 0
        if self.store.outstanding(conn, master, now) + len(msg.key_IDs) > quota:
            raise KmsKeyExhaustedError("keys outstanding quota reached at the slave's KME")
        for i, kid in enumerate(msg.key_IDs):
            self.store.put_key(
                conn,
                key_id=kid,
                slaves=msg.slave_SAE_IDs,
                master=master,
                size_bits=msg.key_size,
                key=plain[i * n_key : (i + 1) * n_key],
                state="reserved",
                relay_id=msg.relay_id,
                expires_at=now + self.settings.limits.reservation_ttl_s,
            )

    def _receive_hop(
        self, conn: Connection, msg: RelayReserve, sender: str, header: bytes
    ) -> RelayReserve | None:
        """Inside a transaction: take the link key, decrypt, then reserve or re-seal onwards."""
        material = self.store.take_recv(conn, sender, self._me_low(sender), msg.segments)
        if material is None:
            raise KmsBadRequestError("relay segments unknown or already used")
        plain = bytearray(otp_open(material, header, msg.ciphertext, msg.tag))
        material[:] = bytes(len(material))
        try:
            if len(plain) != msg.key_size // 8 * len(msg.key_IDs):
                raise KmsBadRequestError("relay payload length does not match the key sizes")
            last = msg.hop == len(msg.path) - 1
            if last:
                self._reserve_here(conn, msg, plain)
            self.store.audit(
                conn,
                "relay_reserved" if last else "relay_received",
                relay_id=msg.relay_id,
                key_IDs=msg.key_IDs,
                size=msg.key_size,
                master=msg.master_SAE_ID,
                slaves=msg.slave_SAE_IDs,
                prev_node=sender,
                link_bytes=MAC_KEY_BYTES + len(plain),
            )
            if last:
                return None
            # forward in the same transaction: one commit covers both link pools
            nxt = msg.model_copy(update={"hop": msg.hop + 1, "segments": []})
            return self._seal_in(conn, nxt, plain)
        finally:
            plain[:] = bytes(len(plain))

    def relay_reserve(self, who: Identity | None, msg: RelayReserve) -> RelayAck:
        """Receive one relay hop: verify, decrypt, then reserve here or forward."""
        sender, header = self._check_reserve(who, msg)
        try:
            nxt = self.store.transact(lambda conn: self._receive_hop(conn, msg, sender, header))
        except SQLAlchemyError:
            raise AuditUnavailableError("key store or audit log unavailable") from None
        if nxt is not None:
            assert self.transport is not None
            self.transport.post(msg.path[msg.hop + 1], RELAY_RESERVE, nxt.model_dump())
        return RelayAck(relay_id=msg.relay_id, ok=True)

    def relay_decide(self, who: Identity | None, msg: RelayDecision, confirm: bool) -> RelayAck:
        """Confirm or void a reservation; intermediate KMEs forward the decision."""
        self._check_hop(who, msg.path, msg.hop)
        if msg.hop < len(msg.path) - 1:
            assert self.transport is not None
            fwd = msg.model_copy(update={"hop": msg.hop + 1})
            self.transport.post(
                msg.path[msg.hop + 1], RELAY_CONFIRM if confirm else RELAY_VOID, fwd.model_dump()
            )
            return RelayAck(relay_id=msg.relay_id, ok=True)
        now = time.time()
        try:

            def _tx(conn: Connection) -> Any:
                if confirm:
                    res = conn.execute(
                        update(keys_t)
                        .where(
                            keys_t.c.relay_id == msg.relay_id,
                            keys_t.c.state == "reserved",
                            keys_t.c.expires_at > now,
                        )
                        .values(state="ready", expires_at=now + self.settings.limits.key_ttl_s)
                    )
                    if res.rowcount == 0:
                        raise KmsBadRequestError("no such reservation")
                    self.store.audit(conn, "relay_confirmed", relay_id=msg.relay_id)
                else:
                    gone = delete(keys_t).where(keys_t.c.relay_id == msg.relay_id)
                    if msg.key_IDs is not None:
                        gone = gone.where(keys_t.c.key_id.in_([k.lower() for k in msg.key_IDs]))
                    res = conn.execute(gone)
                    self.store.audit(
                        conn,
                        "relay_voided",
                        relay_id=msg.relay_id,
                        rows=int(res.rowcount),
                        key_IDs=msg.key_IDs,
                    )

            self.store.transact(_tx)
        except SQLAlchemyError:
            raise AuditUnavailableError("key store or audit log unavailable") from None
        return RelayAck(relay_id=msg.relay_id, ok=True)
