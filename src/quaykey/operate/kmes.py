"""The KMEs of ``quaykey up`` and the link key the network relays to them.

KMEs run only at the *hubs* of the applications' sites (:class:`~quaykey.operate.config.KmsPlan`,
by default Ningbo, Shanghai, Hefei and Beijing: every site's SAE talks to the KME of its hub),
as a :class:`~quaykey.kms.lab.KmeLab`; between hubs, keys travel by the KMEs' own hop-by-hop
relay over the KMS links. Each KMS link (two neighbouring hubs) is fed, every tick, with key
the *network* relays between the two hubs over its present key-aware route
(:func:`quaykey.network.relay.relay_key` over the trusted trunk nodes, which run no KME
process and spend their link pools' key on the relay), at most ``deposit_cap_bytes`` a tick.
A hub KME whose link pool already holds ``kme_pool_cap_bytes`` takes no more (the key stays
in the network's pools; a full network pool then discards, counted).

The blocks are statistical: the network counts key, it makes no bits. The bytes a block
deposits are the same at both ends, drawn as SHAKE-256 of a secret kept in the state
directory and the block ID, so a block re-deposited after a crash is byte-identical and a
KME refuses it as already deposited: no block is lost or repeated. Deposits go through
:func:`quaykey.kms.feed.link_key_sink`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import select

from quaykey.errors import KeyExhaustedError, KmsError
from quaykey.kms.feed import KmeFeed, link_key_sink
from quaykey.kms.lab import KmeLab
from quaykey.kms.store import Store, verify_audit_chain
from quaykey.kms.store.tables import audit_t
from quaykey.network.relay import hop_cost_bits, relay_key
from quaykey.operate.backbone import Backbone
from quaykey.operate.config import UpConfig
from quaykey.operate.metrics import UpMetrics
from quaykey.operate.store import PendingBlock

__all__ = ["KmeNetwork"]

AUDIT_CHECK_TICKS = 60
_ERROR_EVENTS = ("access_denied", "relay_voided", "stock_voided")


def _secret(path: Path) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    value = os.urandom(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(value.hex() + "\n")
    return value


class KmeNetwork:
    """The hub KMEs, their feed from the network, and their counters."""

    def __init__(self, config: UpConfig, metrics: UpMetrics, saved: dict[str, Any] | None) -> None:
        plan = config.kms
        if plan is None:
            raise ValueError("no KME plan")
        self.config, self.plan, self.metrics = config, plan, metrics
        self.nodes = plan.nodes
        root = config.state_dir / "kms"
        self._secret = _secret(root / "link-key.secret")
        self.lab = KmeLab(
            root, plan.nodes, plan.links, plan.saes, plan.pairs, stock=plan.stock,
            key_bits=plan.key_bits, fixed_key_size=plan.stock is not None,
        )  # fmt: skip
        self._lock = threading.RLock()
        self.feed: KmeFeed = self._new_feed()
        saved = saved or {}
        self.deposited: dict[str, int] = dict(saved.get("deposited", {}))
        self.discarded: dict[str, int] = dict(saved.get("discarded", {}))
        self.relayed_bits: dict[str, int] = dict(saved.get("relayed_bits", {}))
        self._seen: dict[str, int] = {}
        self._served: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._used_bits = 0
        self._audit_ok: dict[str, bool] = {}
        self._ticks = 0
        self.client_errors: dict[str, int] = {}
        self.unreachable: set[str] = set()
        self._supply: deque[tuple[float, int]] = deque(maxlen=60)
        self.refresh(check_audit=True)

    def _new_feed(self) -> KmeFeed:
        return link_key_sink({n: k.service for n, k in self.lab.kmes.items()})

    def saved(self) -> dict[str, Any]:
        """What persists: the feed's counters."""
        return {
            "deposited": dict(self.deposited),
            "discarded": dict(self.discarded),
            "relayed_bits": dict(self.relayed_bits),
        }

    # ------------------------------------------------------------------ the feed

    def _kme_full(self, a: str, b: str) -> bool:
        links = self.lab.kmes[a].service.pools()["links"].get(b, {})
        held = int(links.get("sendable_bytes", 0)) + int(links.get("receivable_bytes", 0))
        return held >= self.config.kme_pool_cap_bytes

    def plan_tick(self, bb: Backbone) -> list[PendingBlock]:
        """Relay this tick's key to every KMS link over the network; the blocks to deposit."""
        out: list[PendingBlock] = []
        cap_bits = 8 * self.config.deposit_cap_bytes
        overhead = hop_cost_bits(8) - 8
        for a, b in self.plan.links:
            pair = f"{a}--{b}"
            with self._lock:
                if not (self.lab.is_up(a) and self.lab.is_up(b)) or self._kme_full(a, b):
                    continue
            route = bb.route(a, b)
            if route is None:
                continue
            path = route.paths[0]
            links = bb.topology.path_links(path)
            avail = min(int(bb.pools.level(x.name)) for x in links) - overhead
            n_bytes = min(cap_bits, avail) // 8
            if n_bytes < 64:
                continue
            try:
                relay_key(bb.topology, bb.pools, path, 8 * n_bytes)
            except KeyExhaustedError:
                continue
            self.relayed_bits[pair] = self.relayed_bits.get(pair, 0) + 8 * n_bytes
            out.append((f"{pair}/{bb.tick}", a, b, n_bytes))
        return out

    def _bytes(self, block_id: str, n: int) -> bytes:
        return hashlib.shake_256(self._secret + block_id.encode()).digest(n)

    def deposit(self, blocks: list[PendingBlock]) -> None:
        """Deposit each block at both ends (a block a KME already holds is skipped there)."""
        for block_id, a, b, n in blocks:
            pair = f"{a}--{b}"
            with self._lock:
                if not (self.lab.is_up(a) and self.lab.is_up(b)):
                    self.discarded[pair] = self.discarded.get(pair, 0) + n
                    continue
                key = self._bytes(block_id, n)
                for node, peer in ((a, b), (b, a)):
                    try:
                        self.feed(pair, node, peer, block_id, key)
                    except ValueError as exc:
                        if "already deposited" not in str(exc):
                            raise
                del key
                self.deposited[pair] = self.deposited.get(pair, 0) + n

    def update_reach(self, bb: Backbone) -> list[str]:
        """Which SAEs' sites have no route to their hub now; the SAEs whose reach changed.

        A site is the network node its SAE is named after (``<site>-internal`` and
        ``<site>-sensors`` are at the same site); while a fault leaves it without a path to
        its hub, its requests to the KME fail as a KME without key answers (503).
        """
        out = set()
        if bb.excluded():
            for sae, hub in self.plan.saes.items():
                site = sae.removesuffix("-internal").removesuffix("-sensors")
                if site in bb.links_at and site != hub and bb.route(site, hub) is None:
                    out.add(sae)
        changed = sorted(out ^ self.unreachable)
        self.unreachable = out
        return changed

    def supply_bps(self) -> float:
        """Link key deposited in the KMEs per wall second, over the last minute or so."""
        now, total = time.monotonic(), sum(self.deposited.values())
        self._supply.append((now, total))
        t0, d0 = self._supply[0]
        return round(8.0 * (total - d0) / (now - t0), 3) if now > t0 else 0.0

    def feed_totals(self) -> dict[str, tuple[int, int]]:
        """Per KMS link: bytes deposited, bytes not deposited (a KME down)."""
        pairs = {f"{a}--{b}" for a, b in self.plan.links}
        return {p: (self.deposited.get(p, 0), self.discarded.get(p, 0)) for p in sorted(pairs)}

    # ------------------------------------------------------------------ nodes

    def is_up(self, node: str) -> bool:
        """Whether the KME of ``node`` serves."""
        return self.lab.is_up(node)

    def stop_node(self, node: str) -> None:
        """Kill the KME of ``node`` (its database stays)."""
        with self._lock:
            self.lab.stop_node(node)
            self.feed = self._new_feed()

    def start_node(self, node: str) -> None:
        """Restart the KME of ``node`` from its database."""
        with self._lock:
            self.lab.start_node(node)
            self.feed = self._new_feed()

    def client(self, sae: str) -> Any:
        """An ETSI 014 client of ``sae`` (mTLS, its own certificate)."""
        return self.lab.client(sae)

    def close(self) -> None:
        """Stop every KME."""
        with self._lock:
            self.lab.close()

    # ------------------------------------------------------------------ counters

    def refresh(self, check_audit: bool = False) -> None:
        """Read each KME's new audit records: keys served, errors; verify chains now and then."""
        self._ticks += 1
        check_audit = check_audit or self._ticks % AUDIT_CHECK_TICKS == 0
        for node in self.nodes:
            with self._lock:  # a KME is not stopped while its store is read
                k = self.lab.kmes.get(node)
                if k is not None:
                    self._read_audit(node, k.service.store, check_audit)

    def _read_audit(self, node: str, store: Store, check_audit: bool) -> None:
        """New audit records of one KME: keys served, errors; the chain now and then."""
        last = self._seen.get(node, 0)
        with store.read() as conn:
            rows = conn.execute(
                select(audit_t.c.seq, audit_t.c.event, audit_t.c.detail)
                .where(audit_t.c.seq > last)
                .order_by(audit_t.c.seq)
            ).all()
        for seq, event, detail in rows:
            last = seq
            if event in ("delivered_master", "delivered_slave"):
                n = len(json.loads(detail).get("key_IDs") or [])
                self._served[node] = self._served.get(node, 0) + n
                if event == "delivered_master":
                    self._used_bits += n * self.plan.key_bits
            elif event in _ERROR_EVENTS:
                self._errors[node] = self._errors.get(node, 0) + 1
        self._seen[node] = last
        if check_audit or node not in self._audit_ok:
            try:
                verify_audit_chain(store.audit_records())
                self._audit_ok[node] = True
            except KmsError:
                self._audit_ok[node] = False

    def state(self) -> list[dict[str, Any]]:
        """The contract's ``kmes`` list."""
        out = []
        for node in self.nodes:
            k = self.lab.kmes.get(node)
            stock: list[dict[str, Any]] = []
            if k is not None:
                rep = k.service.stock_report()
                size = int(rep.get("key_size", self.plan.key_bits))
                stock = [{"pair": f"{p['master']}->{p['slave']}", "bits": int(p["ready"]) * size}
                         for p in rep.get("pairs", []) if p.get("target_keys")]  # fmt: skip
            out.append({
                "node": node, "url": self.lab.url(node), "up": k is not None,
                "keys_served": self._served.get(node, 0),
                "errors": self._errors.get(node, 0) + self.metrics_errors(node),
                "stock": stock, "audit_ok": self._audit_ok.get(node, True),
            })  # fmt: skip
        return out

    def metrics_errors(self, node: str) -> int:
        """Requests of the applications to ``node`` that failed (client side)."""
        return int(self.client_errors.get(node, 0))

    def tenants(self) -> list[dict[str, Any]]:
        """The contract's ``tenants`` list (quota: bits a minute)."""
        quotas = self.lab.config.tenants
        return [
            {"name": name, "quota_bits": int(q.bits_per_minute), "used_bits": self._used_bits}
            for name, q in sorted(quotas.items())
        ]
