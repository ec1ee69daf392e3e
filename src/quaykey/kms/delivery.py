"""ETSI GS QKD 014 key delivery: Get status, Get key (master), Get key with key IDs (slave).

Keys for a same-node pair are drawn from :func:`secrets.token_bytes` and held sealed until
the slave fetches them; keys for a slave at another KME are relayed first
(:class:`~quaykey.kms.relay_protocol.RelayProtocol`) and only then committed to the master.
A request delivers all its keys or none; every delivery is committed, with its audit
record, before the answer leaves.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import (
    AuditUnavailableError,
    KeyNotFoundError,
    KmsBadRequestError,
    KmsKeyExhaustedError,
    KmsUnauthorizedError,
)
from quaykey.kms import faults
from quaykey.kms.access import valid_uuid
from quaykey.kms.pki import Identity
from quaykey.kms.relay import MAC_KEY_BYTES
from quaykey.kms.relay_protocol import RelayProtocol
from quaykey.kms.schemas import Key, KeyContainer, KeyRequest, Status

__all__ = ["SUPPORTED_MANDATORY_EXTENSIONS", "Delivery", "container_json"]

#: Mandatory extensions this KME understands. ``quaykey_route_type``: ``"direct"`` (the
#: slave's KME is this KME or a neighbour) or ``"indirect"`` (relayed via trusted nodes).
SUPPORTED_MANDATORY_EXTENSIONS = frozenset({"quaykey_route_type"})

# hot statements, run on the DBAPI cursor (Store.raw)
_READY_KEYS = (
    "SELECT key_id, slave_sae, master_sae, size_bits, blob, slaves FROM kms_keys "
    "WHERE key_id IN ({ids}) AND state = 'ready' AND expires_at > :now"
)
_DELETE_KEY = "DELETE FROM kms_keys WHERE key_id = :kid AND slave_sae = :slave"


def _ready_keys(n: int) -> str:
    return _READY_KEYS.format(ids=", ".join(f":k{i}" for i in range(n)))


def _fresh_keys(number: int, size: int) -> tuple[list[str], list[bytearray]]:
    """New key IDs and keys from the operating system CSPRNG."""
    return (
        [str(uuid.uuid4()) for _ in range(number)],
        [bytearray(secrets.token_bytes(size // 8)) for _ in range(number)],
    )


def _wipe(keys: list[bytearray]) -> None:
    """Overwrite key buffers with zeros (after they are serialised, or when nothing is sent)."""
    for k in keys:
        k[:] = bytes(len(k))


def container_json(key_ids: list[str], keys: list[bytearray]) -> bytes:
    """The answer's key container as the JSON bytes :func:`_container` would serialise to
    (``model_dump_json(exclude_none=True)``), without building the models; the caller's
    key buffers are zeroed. Key IDs are UUIDs and keys base64: nothing to escape."""
    parts = [
        b'{"key_ID":"%s","key":"%s"}' % (kid.encode("ascii"), base64.b64encode(k))
        for kid, k in zip(key_ids, keys, strict=True)
    ]
    _wipe(keys)
    return b'{"keys":[' + b",".join(parts) + b"]}"


@contextmanager
def _store_unavailable() -> Iterator[None]:
    """A database error inside becomes :class:`AuditUnavailableError` (HTTP 503)."""
    try:
        yield
    except SQLAlchemyError:
        raise AuditUnavailableError(
            "key store or audit log unavailable; nothing delivered"
        ) from None


def _container(key_ids: list[str], keys: list[bytearray]) -> KeyContainer:
    """The answer's key container; the caller's key buffers are zeroed."""
    # built without validation: the KME made every key ID and base64 string itself
    container = KeyContainer.model_construct(
        keys=[
            Key.model_construct(key_ID=kid, key=base64.b64encode(k).decode())
            for kid, k in zip(key_ids, keys, strict=True)
        ]
    )
    _wipe(keys)
    return container


class Delivery(RelayProtocol):
    """The ETSI GS QKD 014 half of a KME."""

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
        self._check_extensions(req, slaves)
        return number, size, slaves

    def _check_extensions(self, req: KeyRequest, slaves: list[str]) -> None:
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

    def _commit_master(
        self,
        conn: Connection,
        master: str,
        local: list[str],
        key_ids: list[str],
        keys: list[bytearray],
        size: int,
        audit: dict[str, Any],
    ) -> None:
        """Inside a transaction: hold the keys for the slaves served here, audit the delivery."""
        now = time.time()
        self._grant_shared(conn, master, len(key_ids) * size)
        if local:
            quota = self.settings.quota(master).keys_outstanding
            self.store.check_outstanding(conn, master, now, len(key_ids), quota)
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
                    expires_at=now + self.settings.limits.key_ttl_s,
                )
        self.store.audit(conn, "delivered_master", key_IDs=key_ids, size=size, **audit)

    def get_key(self, who: Identity | None, slave: str, req: KeyRequest) -> KeyContainer:
        """Answer Get key: fresh keys for the caller (master) shared with ``slave``."""
        master = self._caller_sae(who)
        self._check_slave(master, slave)
        number, size, slaves = self._validate_request(master, slave, req)
        by_node: dict[str, list[str]] = {}
        for s in slaves:
            by_node.setdefault(self.settings.saes[s].node, []).append(s)
        for node in by_node:
            if node != self.node and not self.settings.routes.get(node):
                raise KmsKeyExhaustedError("no route to the slave's KME", [{"target_node": node}])
        self.rate.consume(master, number * size, self.settings.quota(master).bits_per_minute)
        key_ids, keys = _fresh_keys(number, size)
        confirmed: list[tuple[str, list[str]]] = []
        try:
            for node, node_slaves in sorted(by_node.items()):
                if node == self.node:
                    continue
                path = [self.node, *self.settings.routes[node]]
                relay_id = self._relay_out(path, master, node_slaves, size, key_ids, keys)
                confirmed.append((relay_id, path))
            faults.crash_point(self.settings.fault_point, "after_confirm")
            local = by_node.get(self.node, [])
            audit = {"master": master, "slaves": slaves, "relays": [r for r, _ in confirmed]}
            with _store_unavailable():
                self.store.transact(
                    lambda conn: self._commit_master(
                        conn, master, local, key_ids, keys, size, audit
                    ),
                    pure=True,
                )
        except BaseException:
            self.rate.refund(master, number * size)
            for relay_id, path in confirmed:
                self._void(path, relay_id)
            _wipe(keys)
            raise
        faults.crash_point(self.settings.fault_point, "after_local_commit")
        container = _container(key_ids, keys)
        faults.crash_point(self.settings.fault_point, "before_response")
        return container

    def _check_key_ids(self, key_ids: list[str]) -> list[str]:
        lim = self.settings.limits
        if not key_ids:
            raise KmsBadRequestError("key_IDs shall not be empty")
        if len(key_ids) > lim.max_key_per_request:
            raise KmsBadRequestError(
                "too many key_IDs", [{"max_key_per_request": lim.max_key_per_request}]
            )
        if len(set(key_ids)) != len(key_ids):
            raise KmsBadRequestError("key_IDs repeat a key ID")
        if not all(valid_uuid(k) for k in key_ids):
            raise KeyNotFoundError()
        key_ids = [k.lower() for k in key_ids]  # RFC 4122: UUIDs compare case-insensitively
        if len(set(key_ids)) != len(key_ids):
            raise KmsBadRequestError("key_IDs repeat a key ID")
        return key_ids

    def _take_keys(
        self, conn: Connection, slave: str, master: str, key_ids: list[str], now: float
    ) -> list[bytearray]:
        """Inside a transaction: delete the caller's keys, audit, return them (all or none)."""
        params: dict[str, Any] = {f"k{i}": k for i, k in enumerate(key_ids)}
        params["now"] = now
        # rows: key_id, slave_sae, master_sae, size_bits, blob, slaves
        rows = self.store.raw(conn, _ready_keys(len(key_ids)), params).fetchall()
        mine = {r[0]: r for r in rows if r[1] == slave}
        not_for_caller = {r[0] for r in rows if slave not in json.loads(r[5])}
        if any(k in not_for_caller for k in key_ids):
            raise KmsUnauthorizedError("unauthorized")
        if any(k not in mine or mine[k][2] != master for k in key_ids):
            raise KeyNotFoundError()
        self.store.raw(conn, _DELETE_KEY, [{"kid": k, "slave": slave} for k in key_ids], many=True)
        self.store.audit(
            conn,
            "delivered_slave",
            key_IDs=key_ids,
            sizes=[mine[k][3] for k in key_ids],
            master=master,
            slave=slave,
        )
        return [self.store.open_key(k, slave, mine[k][4]) for k in key_ids]

    def get_key_with_ids(
        self, who: Identity | None, master: str, key_ids: list[str]
    ) -> KeyContainer:
        """Answer Get key with key IDs: the caller (slave) takes each key once, all or none."""
        slave = self._caller_sae(who)
        key_ids = self._check_key_ids(key_ids)
        now = time.time()
        try:
            with _store_unavailable():
                plain: list[bytearray] = self.store.transact(
                    lambda conn: self._take_keys(conn, slave, master, key_ids, now), pure=True
                )
        except KmsUnauthorizedError:
            self._deny(f"sae:{slave}", "not a slave of the key", key_IDs=key_ids, master=master)
        faults.crash_point(self.settings.fault_point, "after_slave_commit")
        return _container(key_ids, plain)

    # --- the same requests on the event loop ------------------------------------------

    def _lane_sae(self, who: Identity | None) -> str | None:
        """The caller's SAE ID if it is an SAE registered here, else ``None``."""
        if who is None or who.kind != "sae":
            return None
        entry = self.settings.saes.get(who.name)
        return who.name if entry is not None and entry.node == self.node else None

    async def get_key_async(
        self, who: Identity | None, slave: str, req: KeyRequest
    ) -> bytes | None:
        """:meth:`get_key` on the event loop for a slave served by this KME: the answer's
        JSON body (:func:`container_json`), or ``None``.

        ``None`` (nothing done) for every request that would relay, use the key stock
        (it only holds keys for slaves at other KMEs), or refuse the caller with an audited
        401: the caller then runs :meth:`get_key` on a worker thread. Otherwise the same
        checks, in the same order, and the same transaction, awaited through the group
        commit instead of blocking a thread.
        """
        master = self._lane_sae(who)
        entry = self.settings.saes.get(slave)
        if (
            master is None
            or entry is None
            or entry.node != self.node
            or slave == master
            or req.additional_slave_SAE_IDs
            or not self.settings.may_pair(master, slave)
        ):
            return None
        number, size, slaves = self._validate_request(master, slave, req)
        self.rate.consume(master, number * size, self.settings.quota(master).bits_per_minute)
        key_ids, keys = _fresh_keys(number, size)
        try:
            faults.crash_point(self.settings.fault_point, "after_confirm")
            audit = {"master": master, "slaves": slaves, "relays": []}
            with _store_unavailable():
                await self.store.transact_async(
                    lambda conn: self._commit_master(
                        conn, master, slaves, key_ids, keys, size, audit
                    ),
                    pure=True,
                )
        except BaseException:
            self.rate.refund(master, number * size)
            _wipe(keys)
            raise
        faults.crash_point(self.settings.fault_point, "after_local_commit")
        body = container_json(key_ids, keys)
        faults.crash_point(self.settings.fault_point, "before_response")
        return body

    async def get_key_with_ids_async(
        self, who: Identity | None, master: str, key_ids: list[str]
    ) -> bytes | None:
        """:meth:`get_key_with_ids` on the event loop (the answer's JSON body, see
        :func:`container_json`), or ``None`` (nothing done) when the
        caller is not an SAE registered here (the audited refusal runs on a worker thread).
        A key that is not the caller's is refused with its audit record written through
        the group commit too."""
        slave = self._lane_sae(who)
        if slave is None:
            return None
        key_ids = self._check_key_ids(key_ids)
        now = time.time()
        try:
            with _store_unavailable():
                plain: list[bytearray] = await self.store.transact_async(
                    lambda conn: self._take_keys(conn, slave, master, key_ids, now), pure=True
                )
        except KmsUnauthorizedError:
            await self._audit_only_async(
                "access_denied",
                caller=f"sae:{slave}",
                reason="not a slave of the key",
                key_IDs=key_ids,
                master=master,
            )
            raise
        faults.crash_point(self.settings.fault_point, "after_slave_commit")
        return container_json(key_ids, plain)
