"""The KME's behaviour: ETSI GS QKD 014 key delivery, link-key deposit and relay.

Where keys come from
--------------------
* **Master and slave at this KME** (same node): the KME draws each key from
  :func:`secrets.token_bytes` (the operating system CSPRNG) and holds it, sealed, until the
  slave fetches it. No link key material is used.
* **Slave at another KME**: the KME draws the key the same way and relays it hop by hop
  along the configured route; each hop one-time-pads it with link key material shared with
  the next KME (deposited by the QKD link process with :meth:`KmeService.deposit_link_key`)
  and authenticates it with a one-time HMAC-SHA256 key (see :mod:`quaykey.kms.relay`).
  The far KME *reserves* the key, the origin *confirms* it, and only then commits the
  delivery to the master and answers (ETSI GS QKD 020 reserve/acknowledge/void); any
  failure voids the reservation.

Guarantees: each key ID is delivered to the master once and to each slave once; every
consumption (link bytes, keys) is committed before the HTTP response leaves; a request
either delivers all keys or none; the audit record is written in the same transaction
as the state change, so a KME that cannot audit delivers nothing (503).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from typing import Any, NoReturn

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import (
    AuditUnavailableError,
    KeyNotFoundError,
    KmsBadRequestError,
    KmsKeyExhaustedError,
    KmsUnauthorizedError,
    KmsUnavailableError,
    RelayFailedError,
)
from quaykey.kms import faults
from quaykey.kms.config import KmeSettings
from quaykey.kms.pki import Identity, caller_label
from quaykey.kms.relay import (
    MAC_KEY_BYTES,
    PeerTransport,
    otp_open,
    otp_seal,
    otp_verify,
    tag_header,
)
from quaykey.kms.schemas import (
    Key,
    KeyContainer,
    KeyRequest,
    RelayAck,
    RelayDecision,
    RelayReserve,
    Status,
)
from quaykey.kms.store import Sealer, Store, keys_t, read_master_key

__all__ = ["SUPPORTED_MANDATORY_EXTENSIONS", "KmeService"]


log = logging.getLogger("quaykey.kms")

#: Mandatory extensions this KME understands. ``quaykey_route_type``: ``"direct"`` (the
#: slave's KME is this KME or a neighbour) or ``"indirect"`` (relayed via trusted nodes).
SUPPORTED_MANDATORY_EXTENSIONS = frozenset({"quaykey_route_type"})

RELAY_RESERVE = "/kme/v1/relay/reserve"
RELAY_CONFIRM = "/kme/v1/relay/confirm"
RELAY_VOID = "/kme/v1/relay/void"


# prebuilt hot statements (SQLAlchemy memoises their cache keys)
_READY_KEYS = select(
    keys_t.c.key_id,
    keys_t.c.slave_sae,
    keys_t.c.master_sae,
    keys_t.c.size_bits,
    keys_t.c.blob,
    keys_t.c.slaves,
).where(
    keys_t.c.key_id.in_(bindparam("ids", expanding=True)),
    keys_t.c.state == bindparam("state"),
    keys_t.c.expires_at > bindparam("now"),
)
_DELETE_KEY = delete(keys_t).where(
    keys_t.c.key_id == bindparam("kid"), keys_t.c.slave_sae == bindparam("slave")
)


def _valid_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except (ValueError, AttributeError, TypeError):
        return False


class KmeService:
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

    def __init__(
        self, settings: KmeSettings, store: Store, transport: PeerTransport | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self._rate_lock = threading.Lock()
        self._rate: dict[str, deque[tuple[float, int]]] = {}
        self._rate_used: dict[str, int] = {}  # sum of the bits in self._rate[master]

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
        return cls(settings, store, transport)

    def close(self) -> None:
        """Release connections."""
        if self.transport is not None:
            self.transport.close()
        self.store.close()

    # --- helpers ---------------------------------------------------------------------

    @property
    def node(self) -> str:
        """This KME's node name."""
        return self.settings.node

    def _me_low(self, peer: str) -> bool:
        return self.node < peer

    def _audit_only(self, ev: str, **detail: Any) -> None:
        try:

            def _tx(conn: Connection) -> Any:
                self.store.audit(conn, ev, **detail)

            self.store.transact(_tx)
        except SQLAlchemyError:
            log.error("audit write failed for event %s", ev)

    def _deny(
        self, caller: str, reason: str, message: str = "unauthorized", **detail: Any
    ) -> NoReturn:
        """Audit a refused attempt (who, why; never keys) and raise the 401."""
        self._audit_only("access_denied", caller=caller, reason=reason, **detail)
        raise KmsUnauthorizedError(message)

    def _caller_sae(self, who: Identity | None) -> str:
        if who is None or who.kind != "sae":
            self._deny(caller_label(who), "not an SAE certificate on the SAE API")
        entry = self.settings.saes.get(who.name)
        if entry is None or entry.node != self.node:
            self._deny(caller_label(who), "SAE not registered at this KME")
        return who.name

    def _check_slave(self, master: str, slave: str) -> None:
        if slave not in self.settings.saes:
            raise KmsBadRequestError("unknown slave SAE ID", [{"slave_SAE_ID": slave[:128]}])
        if slave == master:
            raise KmsBadRequestError("slave SAE ID must differ from the calling SAE")
        if not self.settings.may_pair(master, slave):
            self._deny(
                f"sae:{master}",
                "SAE pair not provisioned",
                "SAE pair not provisioned to share keys",
                other_SAE_ID=slave,
            )

    def _caller_kme(self, who: Identity | None) -> str:
        if who is None or who.kind != "kme" or who.name not in self.settings.neighbours:
            self._deny(caller_label(who), "not a neighbour KME certificate on the relay API")
        return who.name

    def _consume_rate(self, master: str, bits: int) -> None:
        quota = self.settings.quota(master).bits_per_minute
        now = time.monotonic()
        with self._rate_lock:
            q = self._rate.setdefault(master, deque())
            used = self._rate_used.get(master, 0)
            while q and q[0][0] <= now - 60.0:
                used -= q.popleft()[1]
            if used + bits > quota:
                self._rate_used[master] = used
                raise KmsKeyExhaustedError(
                    "key rate quota reached", [{"bits_per_minute": quota, "requested_bits": bits}]
                )
            q.append((now, bits))
            self._rate_used[master] = used + bits

    def _refund_rate(self, master: str, bits: int) -> None:
        with self._rate_lock:
            q = self._rate.get(master)
            if q:
                for i in range(len(q) - 1, -1, -1):
                    if q[i][1] == bits:
                        del q[i]
                        self._rate_used[master] = self._rate_used.get(master, 0) - bits
                        break

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

    # --- ETSI 014 ------------------------------------------------------------------------

    def status(self, who: Identity | None, slave: str) -> Status:
        """Answer Get status for the caller (master) and ``slave``."""
        master = self._caller_sae(who)
        self._check_slave(master, slave)
        lim = self.settings.limits
        target = self.settings.saes[slave].node
        now = time.time()
        with self.store.read() as conn:
            if target == self.node:
                left = self.settings.quota(master).keys_outstanding - self.store.outstanding(
                    conn, master, now
                )
            else:
                hops = self.settings.routes.get(target) or []
                if not hops:
                    left = 0
                else:
                    avail = self.store.sendable_bytes(conn, hops[0], self._me_low(hops[0]))
                    left = (avail - MAC_KEY_BYTES) // (lim.key_size // 8)
        return Status(
            source_KME_ID=self.settings.kme_id,
            target_KME_ID=self.settings.kme_ids[target],
            master_SAE_ID=master,
            slave_SAE_ID=slave,
            key_size=lim.key_size,
            stored_key_count=max(0, min(lim.max_key_count, left)),
            max_key_count=lim.max_key_count,
            max_key_per_request=lim.max_key_per_request,
            max_key_size=lim.max_key_size,
            min_key_size=lim.min_key_size,
            max_SAE_ID_count=lim.max_SAE_ID_count,
        )

    def _validate_request(
        self, master: str, slave: str, req: KeyRequest
    ) -> tuple[int, int, list[str]]:
        lim = self.settings.limits
        number = 1 if req.number is None else req.number
        size = lim.key_size if req.size is None else req.size
        if number < 1 or number > lim.max_key_per_request:
            raise KmsBadRequestError(
                "number shall be between 1 and max_key_per_request",
                [{"max_key_per_request": lim.max_key_per_request}],
            )
        if size % 8 != 0:
            raise KmsBadRequestError("size shall be a multiple of 8")
        if size < lim.min_key_size or size > lim.max_key_size:
            raise KmsBadRequestError(
                "size shall be between min_key_size and max_key_size",
                [{"min_key_size": lim.min_key_size, "max_key_size": lim.max_key_size}],
            )
        extra = list(req.additional_slave_SAE_IDs or [])
        if len(extra) > lim.max_SAE_ID_count:
            raise KmsBadRequestError(
                "too many additional_slave_SAE_IDs", [{"max_SAE_ID_count": lim.max_SAE_ID_count}]
            )
        slaves = [slave]
        for s in extra:
            self._check_slave(master, s)
            if s in slaves:
                raise KmsBadRequestError("additional_slave_SAE_IDs repeat a slave SAE ID")
            slaves.append(s)
        unsupported = []
        wanted: dict[str, Any] = {}
        for ext in req.extension_mandatory or []:
            for name, value in ext.items():
                if name not in SUPPORTED_MANDATORY_EXTENSIONS:
                    unsupported.append(
                        {"extension_mandatory_unsupported": f"{name[:64]} is not supported"}
                    )
                else:
                    wanted[name] = value
        if unsupported:
            raise KmsBadRequestError(
                "not all extension_mandatory parameters are supported", unsupported
            )
        if "quaykey_route_type" in wanted:
            rt = wanted["quaykey_route_type"]
            for s in slaves:
                node = self.settings.saes[s].node
                direct = node == self.node or node in self.settings.neighbours
                if rt not in ("direct", "indirect") or (rt == "direct" and not direct):
                    raise KmsBadRequestError(
                        "not all extension_mandatory request options could be met"
                    )
        return number, size, slaves

    def get_key(self, who: Identity | None, slave: str, req: KeyRequest) -> KeyContainer:
        """Answer Get key: fresh keys for the caller (master) shared with ``slave``."""
        master = self._caller_sae(who)
        self._check_slave(master, slave)
        number, size, slaves = self._validate_request(master, slave, req)
        lim = self.settings.limits
        by_node: dict[str, list[str]] = {}
        for s in slaves:
            by_node.setdefault(self.settings.saes[s].node, []).append(s)
        for node in by_node:
            if node != self.node and not self.settings.routes.get(node):
                raise KmsKeyExhaustedError("no route to the slave's KME", [{"target_node": node}])
        self._consume_rate(master, number * size)
        key_ids = [str(uuid.uuid4()) for _ in range(number)]
        keys = [bytearray(secrets.token_bytes(size // 8)) for _ in range(number)]
        confirmed: list[tuple[str, list[str]]] = []
        try:
            for node, node_slaves in sorted(by_node.items()):
                if node == self.node:
                    continue
                path = [self.node, *self.settings.routes[node]]
                relay_id = self._relay_out(path, master, node_slaves, size, key_ids, keys)
                confirmed.append((relay_id, path))
            faults.crash_point(self.settings.fault_point, "after_confirm")
            now = time.time()
            try:

                def _tx(conn: Connection) -> Any:
                    local = by_node.get(self.node, [])
                    if local:
                        out = self.store.outstanding(conn, master, now)
                        if out + number > self.settings.quota(master).keys_outstanding:
                            raise KmsKeyExhaustedError(
                                "keys outstanding quota reached",
                                [
                                    {
                                        "keys_outstanding": self.settings.quota(
                                            master
                                        ).keys_outstanding
                                    }
                                ],
                            )
                        for kid, k in zip(key_ids, keys, strict=True):
                            self.store.put_key(
                                conn,
                                key_id=kid,
                                slaves=local,
                                master=master,
                                size_bits=size,
                                key=k,
                                state="ready",
                                relay_id=None,
                                expires_at=now + lim.key_ttl_s,
                            )
                    self.store.audit(
                        conn,
                        "delivered_master",
                        key_IDs=key_ids,
                        size=size,
                        master=master,
                        slaves=slaves,
                        relays=[r for r, _ in confirmed],
                    )

                self.store.transact(_tx)
            except SQLAlchemyError:
                raise AuditUnavailableError(
                    "key store or audit log unavailable; nothing delivered"
                ) from None
        except BaseException:
            self._refund_rate(master, number * size)
            for relay_id, path in confirmed:
                self._void(path, relay_id)
            for k in keys:
                k[:] = bytes(len(k))
            raise
        faults.crash_point(self.settings.fault_point, "after_local_commit")
        container = KeyContainer(
            keys=[
                Key(key_ID=kid, key=base64.b64encode(k).decode())
                for kid, k in zip(key_ids, keys, strict=True)
            ]
        )
        for k in keys:
            k[:] = bytes(len(k))
        faults.crash_point(self.settings.fault_point, "before_response")
        return container

    def get_key_with_ids(
        self, who: Identity | None, master: str, key_ids: list[str]
    ) -> KeyContainer:
        """Answer Get key with key IDs: the caller (slave) takes each key once, all or none."""
        slave = self._caller_sae(who)
        lim = self.settings.limits
        if not key_ids:
            raise KmsBadRequestError("key_IDs shall not be empty")
        if len(key_ids) > lim.max_key_per_request:
            raise KmsBadRequestError(
                "too many key_IDs", [{"max_key_per_request": lim.max_key_per_request}]
            )
        if len(set(key_ids)) != len(key_ids):
            raise KmsBadRequestError("key_IDs repeat a key ID")
        if not all(_valid_uuid(k) for k in key_ids):
            raise KeyNotFoundError()
        key_ids = [k.lower() for k in key_ids]  # RFC 4122: UUIDs compare case-insensitively
        if len(set(key_ids)) != len(key_ids):
            raise KmsBadRequestError("key_IDs repeat a key ID")
        now = time.time()
        try:

            def _tx(conn: Connection) -> Any:
                rows = conn.execute(
                    _READY_KEYS, {"ids": key_ids, "state": "ready", "now": now}
                ).all()
                mine = {r.key_id: r for r in rows if r.slave_sae == slave}
                not_for_caller = {r.key_id for r in rows if slave not in json.loads(r.slaves)}
                if any(k in not_for_caller for k in key_ids):
                    raise KmsUnauthorizedError("unauthorized")
                if any(k not in mine or mine[k].master_sae != master for k in key_ids):
                    raise KeyNotFoundError()
                conn.execute(_DELETE_KEY, [{"kid": k, "slave": slave} for k in key_ids])
                self.store.audit(
                    conn,
                    "delivered_slave",
                    key_IDs=key_ids,
                    sizes=[mine[k].size_bits for k in key_ids],
                    master=master,
                    slave=slave,
                )
                return [self.store.open_key(k, slave, mine[k].blob) for k in key_ids]

            plain: list[bytearray] = self.store.transact(_tx)
        except SQLAlchemyError:
            raise AuditUnavailableError(
                "key store or audit log unavailable; nothing delivered"
            ) from None
        except KmsUnauthorizedError:
            self._deny(f"sae:{slave}", "not a slave of the key", key_IDs=key_ids, master=master)
        faults.crash_point(self.settings.fault_point, "after_slave_commit")
        container = KeyContainer(
            keys=[
                Key(key_ID=k, key=base64.b64encode(p).decode())
                for k, p in zip(key_ids, plain, strict=True)
            ]
        )
        for p in plain:
            p[:] = bytes(len(p))
        return container

    # --- relay ---------------------------------------------------------------------------

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

    def _seal_hop(self, base: RelayReserve, plaintext: bytes | bytearray) -> RelayReserve:
        """Consume link key towards ``base.path[base.hop]`` and seal ``plaintext`` for it."""
        try:
            return self.store.transact(lambda conn: self._seal_in(conn, base, plaintext))
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
    ) -> str:
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
        msg = self._seal_hop(base, b"".join(keys))
        assert self.transport is not None
        try:
            self.transport.post(path[1], RELAY_RESERVE, msg.model_dump())
        except RelayFailedError:
            self._void(path, relay_id)
            raise
        faults.crash_point(self.settings.fault_point, "after_far_reservation")
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

    def _void(self, path: list[str], relay_id: str) -> None:
        self._audit_only("relay_void_sent", relay_id=relay_id, path=path)
        if self.transport is None:
            return
        try:
            self.transport.post(
                path[1], RELAY_VOID, RelayDecision(relay_id=relay_id, path=path, hop=1).model_dump()
            )
        except RelayFailedError:
            log.warning("void of relay %s not delivered; the far reservation will expire", relay_id)

    def _check_hop(self, who: Identity | None, path: list[str], hop: int) -> str:
        sender = self._caller_kme(who)
        if not (1 <= hop < len(path)) or path[hop] != self.node or path[hop - 1] != sender:
            self._deny(f"kme:{sender}", "relay hop does not name this link")
        return sender

    def relay_reserve(self, who: Identity | None, msg: RelayReserve) -> RelayAck:
        """Receive one relay hop: verify, decrypt, then reserve here or forward."""
        sender = self._check_hop(who, msg.path, msg.hop)
        header = tag_header(msg)
        lim = self.settings.limits
        n_key = msg.key_size // 8
        if (
            msg.key_size % 8
            or not (lim.min_key_size <= msg.key_size <= lim.max_key_size)
            or not msg.key_IDs
            or len(msg.key_IDs) > lim.max_key_per_request
            or not all(_valid_uuid(k) for k in msg.key_IDs)
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
        last = msg.hop == len(msg.path) - 1
        if last:
            for s in msg.slave_SAE_IDs:
                entry = self.settings.saes.get(s)
                if entry is None or entry.node != self.node:
                    raise KmsBadRequestError("relay names a slave SAE not served here")
        now = time.time()
        try:

            def _tx(conn: Connection) -> Any:
                material = self.store.take_recv(conn, sender, self._me_low(sender), msg.segments)
                if material is None:
                    raise KmsBadRequestError("relay segments unknown or already used")
                plain = bytearray(otp_open(material, header, msg.ciphertext, msg.tag))
                material[:] = bytes(len(material))
                if len(plain) != n_key * len(msg.key_IDs):
                    raise KmsBadRequestError("relay payload length does not match the key sizes")
                if last:
                    quota = (
                        self.settings.quota(msg.master_SAE_ID).keys_outstanding
                        if (msg.master_SAE_ID in self.settings.saes)
                        else 0
                    )
                    if (
                        self.store.outstanding(conn, msg.master_SAE_ID, now) + len(msg.key_IDs)
                        > quota
                    ):
                        raise KmsKeyExhaustedError(
                            "keys outstanding quota reached at the slave's KME"
                        )
                    for i, kid in enumerate(msg.key_IDs):
                        self.store.put_key(
                            conn,
                            key_id=kid,
                            slaves=msg.slave_SAE_IDs,
                            master=msg.master_SAE_ID,
                            size_bits=msg.key_size,
                            key=plain[i * n_key : (i + 1) * n_key],
                            state="reserved",
                            relay_id=msg.relay_id,
                            expires_at=now + lim.reservation_ttl_s,
                        )
                    ev = "relay_reserved"
                else:
                    ev = "relay_received"
                self.store.audit(
                    conn,
                    ev,
                    relay_id=msg.relay_id,
                    key_IDs=msg.key_IDs,
                    size=msg.key_size,
                    master=msg.master_SAE_ID,
                    slaves=msg.slave_SAE_IDs,
                    prev_node=sender,
                    link_bytes=MAC_KEY_BYTES + len(plain),
                )
                if last:
                    plain[:] = bytes(len(plain))
                    return None
                # forward in the same transaction: one commit covers both link pools
                try:
                    return self._seal_in(
                        conn, msg.model_copy(update={"hop": msg.hop + 1, "segments": []}), plain
                    )
                finally:
                    plain[:] = bytes(len(plain))

            nxt: RelayReserve | None = self.store.transact(_tx)
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
                    res = conn.execute(delete(keys_t).where(keys_t.c.relay_id == msg.relay_id))
                    self.store.audit(
                        conn, "relay_voided", relay_id=msg.relay_id, rows=int(res.rowcount)
                    )

            self.store.transact(_tx)
        except SQLAlchemyError:
            raise AuditUnavailableError("key store or audit log unavailable") from None
        return RelayAck(relay_id=msg.relay_id, ok=True)

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
                gone = self.store.expire(conn, time.time())
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
        from sqlalchemy import func

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
        return out
