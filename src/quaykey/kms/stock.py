"""End-to-end key stock: keys relayed ahead of demand to SAEs at other KMEs.

A Get key for a slave SAE at another KME normally relays the keys hop by hop while the
master waits (:class:`~quaykey.kms.relay_protocol.RelayProtocol`). With ``stock.enabled``
a KME keeps, per provisioned pair (master SAE here, slave SAE at a remote KME), up to
``target_keys`` keys that were already relayed with the same authenticated protocol
(one-time pad and one-time Wegman–Carter MAC per hop, reserve / confirm / void): the far
KME holds them *ready* for the slave under their key IDs, this KME holds its copy in
``kms_stock``. A Get key that the stock can serve takes the keys from it in one
transaction (with the ``delivered_master`` audit record), so it costs about what a
same-node Get key costs, and the slave's Get key with key IDs finds the keys at its KME.

Life of a stocked key (states of ``kms_stock``):

``reserved``
    Written in the transaction that spends the first hop's link key, before anything is
    sent. A KME that dies here (SIGKILL) finds the entry at restart and voids it at both
    ends: a key is never half-stocked.
``ready``
    The far KME confirmed the relay. Served to the master at most once (the row is
    deleted in the delivering transaction), until ``expires_at`` (``stock.ttl_s`` after
    the confirm). The far KME's copy lives ``limits.key_ttl_s`` from its confirm, so the
    slave has at least ``key_ttl_s - ttl_s`` to fetch a key served at the last moment.
``voiding``
    Expired here, or left reserved by a crash: the far KME is told to drop exactly these
    key IDs (``/kme/v1/relay/void`` with ``key_IDs``); the row goes when the void is
    delivered (retried every refill pass), or when the far copy has expired anyway.

The stock never holds more than its bound: the refill counts reserved, ready and voiding
entries in the same transaction that writes new ones.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import AuditUnavailableError, KmsError, KmsKeyExhaustedError
from quaykey.kms import faults
from quaykey.kms.config import KmeSettings
from quaykey.kms.delivery import Delivery, _container
from quaykey.kms.periodic import RepeatedFailure
from quaykey.kms.pki import Identity
from quaykey.kms.relay import PeerTransport
from quaykey.kms.schemas import KeyContainer, KeyRequest, RelayReserve
from quaykey.kms.store import Store, stock_t

__all__ = ["KeyStock", "StockPair"]

log = logging.getLogger("quaykey.kms.stock")

_TAKE = (
    select(stock_t.c.key_id, stock_t.c.blob, stock_t.c.relay_id)
    .where(
        stock_t.c.master_sae == bindparam("master"),
        stock_t.c.slave_sae == bindparam("slave"),
        stock_t.c.state == "ready",
        stock_t.c.size_bits == bindparam("size"),
        stock_t.c.expires_at > bindparam("now"),
    )
    .order_by(stock_t.c.expires_at)  # oldest first, read in index order (no sort)
    .limit(bindparam("n"))
)
_DELETE_READY = delete(stock_t).where(
    stock_t.c.key_id == bindparam("kid"), stock_t.c.state == "ready"
)


_STATES = ("ready", "reserved", "voiding")


@dataclass(frozen=True)
class StockPair:
    """One stock: keys for ``master`` (served here) shared with ``slave`` at ``slave_node``."""

    master: str
    slave: str
    slave_node: str
    target_keys: int


class KeyStock(Delivery):
    """The key-stock half of a KME (see the module docstring)."""

    def __init__(
        self, settings: KmeSettings, store: Store, transport: PeerTransport | None
    ) -> None:
        super().__init__(settings, store, transport)
        self._stock_wake = threading.Event()
        self._stock_stop = threading.Event()
        self._stock_thread: threading.Thread | None = None
        self._stock_counts: Counter[str] = Counter()
        self._stock_recovered = False
        self._stock_lock = threading.Lock()
        self._taken_since_pass = 0
        self._stocked = {(p.master, p.slave) for p in self.stock_pairs()}

    # --- configuration -----------------------------------------------------------------

    @property
    def stock_key_size(self) -> int:
        """Size in bits of stocked keys."""
        return self.settings.stock.key_size or self.settings.limits.key_size

    def stock_pairs(self) -> list[StockPair]:
        """The stocks this KME keeps (empty when ``stock.enabled`` is false)."""
        cfg = self.settings.stock
        if not cfg.enabled:
            return []
        out = []
        for pair in sorted(self.settings.pairs, key=sorted):
            for master in sorted(pair):
                others = pair - {master}
                if len(others) != 1:
                    continue
                (slave,) = others
                m_entry, s_entry = self.settings.saes[master], self.settings.saes[slave]
                if m_entry.node != self.node or s_entry.node == self.node:
                    continue
                if not self.settings.routes.get(s_entry.node):
                    continue
                target = cfg.target_for(master, slave, s_entry.node)
                if target > 0:
                    out.append(StockPair(master, slave, s_entry.node, target))
        return out

    # --- serving -----------------------------------------------------------------------

    def get_key(self, who: Identity | None, slave: str, req: KeyRequest) -> KeyContainer:
        """Answer Get key from the stock when it can; else relay on demand (or 503)."""
        served = self._serve_from_stock(who, slave, req)
        if served is not None:
            return served
        return super().get_key(who, slave, req)

    def _serve_from_stock(
        self, who: Identity | None, slave: str, req: KeyRequest
    ) -> KeyContainer | None:
        cfg = self.settings.stock
        if not cfg.enabled or req.additional_slave_SAE_IDs:
            return None
        if who is None or (who.name, slave) not in self._stocked:
            return None  # no stock for this pair (or not an SAE): the usual checks and relay
        master = self._caller_sae(who)
        self._check_slave(master, slave)
        number, size, _slaves = self._validate_request(master, slave, req)
        if size != self.stock_key_size:
            return None
        self.rate.consume(master, number * size, self.settings.quota(master).bits_per_minute)
        try:
            got = self._take(master, slave, number, size)
        except BaseException:
            self.rate.refund(master, number * size)
            raise
        with self._stock_lock:
            self._taken_since_pass += number
            if self._taken_since_pass >= cfg.refill_batch or got is None:
                self._stock_wake.set()  # a batch may be due: top up before the next interval
        if got is None:
            self.rate.refund(master, number * size)
            self._stock_counts["fallbacks"] += 1
            if cfg.on_empty == "fail":
                raise KmsKeyExhaustedError(
                    "key stock for this slave SAE is empty", [{"slave_SAE_ID": slave}]
                )
            return None
        key_ids, keys = got
        self._stock_counts["taken_keys"] += number
        faults.crash_point(self.settings.fault_point, "after_local_commit")
        return _container(key_ids, keys)

    def _take(
        self, master: str, slave: str, number: int, size: int
    ) -> tuple[list[str], list[bytearray]] | None:
        """Take ``number`` ready keys in one transaction (deleted, audited), or ``None``."""
        now = time.time()

        def _tx(conn: Connection) -> Any:
            rows = conn.execute(
                _TAKE, {"master": master, "slave": slave, "size": size, "now": now, "n": number}
            ).all()
            if len(rows) < number:
                return None
            self._grant_shared(conn, master, number * size)
            res = conn.execute(_DELETE_READY, [{"kid": r.key_id} for r in rows])
            if res.rowcount not in (-1, number):
                raise KmsError("key stock changed under a delivery")
            key_ids = [r.key_id for r in rows]
            self.store.audit(
                conn,
                "delivered_master",
                key_IDs=key_ids,
                size=size,
                master=master,
                slaves=[slave],
                relays=sorted({r.relay_id for r in rows}),
                source="stock",
            )
            return key_ids, [self.store.sealer.open(f"stock|{r.key_id}", r.blob) for r in rows]

        try:
            result: tuple[list[str], list[bytearray]] | None = self.store.transact(_tx)
        except SQLAlchemyError:
            raise AuditUnavailableError(
                "key store or audit log unavailable; nothing delivered"
            ) from None
        return result

    # --- refilling ---------------------------------------------------------------------

    def refill_stock(self) -> int:
        """One refill pass: recover, expire, send pending voids, top up every stock.

        Returns the number of keys stocked. Never raises for a relay that fails (no link
        key, a KME unreachable): that stock waits for the next pass.
        """
        with self._stock_lock:
            self._taken_since_pass = 0
        if not self._stock_recovered:
            self._recover_stock()
            self._stock_recovered = True
        self._expire_stock()
        self._flush_voids()
        added = 0
        for pair in self.stock_pairs():
            batch = min(self.settings.stock.refill_batch, pair.target_keys)
            while not self._stock_stop.is_set():
                # whole batches only: one relay (and its 32-byte MAC key per hop) per batch
                if pair.target_keys - self._stock_level(pair) < batch:
                    break
                try:
                    added += self._refill_batch(pair, batch)
                except KmsError as exc:
                    self._stock_counts["refill_failures"] += 1
                    log.info("stock %s>%s not refilled: %s", pair.master, pair.slave, exc.message)
                    break
        return added

    def _stock_level(self, pair: StockPair, conn: Connection | None = None) -> int:
        q = (
            select(func.count())
            .select_from(stock_t)
            .where(stock_t.c.master_sae == pair.master, stock_t.c.slave_sae == pair.slave)
        )
        if conn is not None:
            return int(conn.execute(q).scalar_one())
        with self.store.read() as c:
            return int(c.execute(q).scalar_one())

    def _hold(
        self, pair: StockPair, key_ids: list[str], keys: list[bytearray]
    ) -> Any:  # the hook RelayProtocol._relay_out runs in its link-key transaction
        def hold(conn: Connection, base: RelayReserve) -> None:
            if self._stock_level(pair, conn) + len(key_ids) > pair.target_keys:
                raise KmsKeyExhaustedError("key stock is full")  # rolls the link spend back
            now = time.time()
            conn.execute(
                stock_t.insert(),
                [
                    {
                        "key_id": kid,
                        "master_sae": pair.master,
                        "slave_sae": pair.slave,
                        "size_bits": base.key_size,
                        "blob": self.store.sealer.seal(f"stock|{kid}", k),
                        "state": "reserved",
                        "relay_id": base.relay_id,
                        "path": json.dumps(base.path),
                        "expires_at": now + self.settings.limits.key_ttl_s,
                        "created_at": now,
                    }
                    for kid, k in zip(key_ids, keys, strict=True)
                ],
            )
            self.store.audit(
                conn,
                "stock_reserved",
                relay_id=base.relay_id,
                key_IDs=key_ids,
                master=pair.master,
                slave=pair.slave,
                size=base.key_size,
            )

        return hold

    def _refill_batch(self, pair: StockPair, n: int) -> int:
        """Relay ``n`` fresh keys to the slave's KME and make them ready here."""
        size = self.stock_key_size
        path = [self.node, *self.settings.routes[pair.slave_node]]
        key_ids = [str(uuid.uuid4()) for _ in range(n)]
        keys = [bytearray(secrets.token_bytes(size // 8)) for _ in range(n)]
        try:
            relay_id = self._relay_out(
                path,
                pair.master,
                [pair.slave],
                size,
                key_ids,
                keys,
                hold=self._hold(pair, key_ids, keys),
                fault_prefix="refill_",
            )
        except KmsError:
            # nothing spent (rolled back), or reserve/confirm failed and _relay_out sent a
            # void: entries written here are voided again until the far KME answers
            self._void_later(key_ids, "relay failed")
            raise
        finally:
            for k in keys:
                k[:] = bytes(len(k))
        faults.crash_point(self.settings.fault_point, "refill_after_confirm")
        now = time.time()

        def _tx(conn: Connection) -> None:
            conn.execute(
                update(stock_t)
                .where(stock_t.c.relay_id == relay_id, stock_t.c.state == "reserved")
                .values(state="ready", expires_at=now + self.settings.stock.ttl_s)
            )
            self.store.audit(conn, "stock_refilled", relay_id=relay_id, key_IDs=key_ids, size=size)

        try:
            self.store.transact(_tx)
        except SQLAlchemyError:
            self._void_later(key_ids, "not committed")
            raise AuditUnavailableError("key store or audit log unavailable") from None
        self._stock_counts["refills"] += 1
        self._stock_counts["refilled_keys"] += n
        return n

    def _void_later(self, key_ids: list[str], reason: str) -> None:
        where = stock_t.c.key_id.in_(key_ids) & (stock_t.c.state == "reserved")
        try:
            self.store.transact(lambda conn: self._mark_voiding(conn, where, reason))
        except SQLAlchemyError:
            log.error("stock entries of a failed relay not marked; the restart voids them")

    # --- voids: crash recovery and expiry ----------------------------------------------

    def _mark_voiding(self, conn: Connection, where: Any, reason: str) -> int:
        ids = [r[0] for r in conn.execute(select(stock_t.c.key_id).where(where)).all()]
        if ids:
            conn.execute(update(stock_t).where(stock_t.c.key_id.in_(ids)).values(state="voiding"))
            self.store.audit(conn, "stock_voiding", key_IDs=ids, reason=reason)
        return len(ids)

    def _recover_stock(self) -> None:
        """At start: entries a crash left reserved are voided at both ends."""
        n = self.store.transact(
            lambda conn: self._mark_voiding(conn, stock_t.c.state == "reserved", "restart")
        )
        if n:
            log.warning("key stock: %d entries left reserved by a crash are being voided", n)

    def _expire_stock(self) -> None:
        now = time.time()
        expired = (stock_t.c.state == "ready") & (stock_t.c.expires_at <= now)
        with self.store.read() as conn:  # no write transaction on a pass with nothing to do
            if conn.execute(select(stock_t.c.key_id).where(expired).limit(1)).first() is None:
                return
        n = self.store.transact(
            lambda conn: self._mark_voiding(
                conn, (stock_t.c.state == "ready") & (stock_t.c.expires_at <= now), "expired"
            )
        )
        self._stock_counts["expired_keys"] += n

    def _flush_voids(self) -> None:
        """Tell the far KMEs to drop the voiding entries; drop them here once told."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    stock_t.c.key_id, stock_t.c.relay_id, stock_t.c.path, stock_t.c.created_at
                ).where(stock_t.c.state == "voiding")
            ).all()
        by_relay: dict[str, list[Any]] = {}
        for r in rows:
            by_relay.setdefault(r.relay_id, []).append(r)
        far_gone = time.time() - self.settings.limits.key_ttl_s
        for relay_id, group in by_relay.items():
            ids = sorted(r.key_id for r in group)
            told = self._void(json.loads(group[0].path), relay_id, ids)
            if not told and min(r.created_at for r in group) > far_gone:
                continue  # retried next pass; the far copy may still be there

            def _tx(conn: Connection, ids: list[str] = ids, told: bool = told) -> None:
                conn.execute(delete(stock_t).where(stock_t.c.key_id.in_(ids)))
                self.store.audit(conn, "stock_voided", key_IDs=ids, far_end_told=told)

            self.store.transact(_tx)
            self._stock_counts["voided_keys"] += len(ids)

    # --- the background refiller -------------------------------------------------------

    def start_stock(self) -> None:
        """Start the refill thread (no-op when no stock is configured)."""
        if not self.settings.stock.enabled or self._stock_thread is not None:
            return
        self._stock_stop.clear()
        self._stock_thread = threading.Thread(
            target=self._stock_loop, name=f"stock-{self.node}", daemon=True
        )
        self._stock_thread.start()

    def stop_stock(self, timeout_s: float = 15.0) -> None:
        """Stop the refill thread (waits for a relay in flight)."""
        self._stock_stop.set()
        self._stock_wake.set()
        if self._stock_thread is not None:
            self._stock_thread.join(timeout_s)
            self._stock_thread = None

    def _stock_loop(self) -> None:
        report = RepeatedFailure("key stock refill pass")
        while not self._stock_stop.is_set():
            try:
                # several worker processes: one refills (and recovers what a killed one left
                # reserved); the others take over when it dies
                if self.store.try_lead("stock"):
                    self.refill_stock()
            except Exception:
                report.failed()
            else:
                report.succeeded()
            self._stock_wake.wait(self.settings.stock.refill_interval_s)
            self._stock_wake.clear()

    def stock_report(self) -> dict[str, Any]:
        """Stock levels per pair and per remote KME, and counters (no key material)."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    stock_t.c.master_sae, stock_t.c.slave_sae, stock_t.c.state, func.count()
                ).group_by(stock_t.c.master_sae, stock_t.c.slave_sae, stock_t.c.state)
            ).all()
        levels = {(r[0], r[1], r[2]): int(r[3]) for r in rows}
        size = self.stock_key_size
        pairs: list[dict[str, Any]] = []
        by_node: dict[str, dict[str, int]] = {}
        for p in self.stock_pairs():
            lv = {s: levels.get((p.master, p.slave, s), 0) for s in _STATES}
            pairs.append({"master": p.master, "slave": p.slave, "node": p.slave_node} | lv)
            pairs[-1]["target_keys"] = p.target_keys
            node = by_node.setdefault(p.slave_node, {"ready_keys": 0, "target_keys": 0})
            node["ready_keys"] += lv["ready"]
            node["target_keys"] += p.target_keys
        for node in by_node.values():
            node["ready_bits"] = node["ready_keys"] * size
        return {
            "enabled": self.settings.stock.enabled,
            "key_size": size,
            "pairs": pairs,
            "by_node": by_node,
            "counters": dict(self._stock_counts),
        }
