"""KME configuration: one YAML file describes the whole KMS network; each KME reads its node.

See ``docs/kms.md`` and ``quaykey/kms/examples/network.yaml`` for the format.
Relative paths in the file are resolved against the file's directory. Settings are
built by :func:`load_network_config` / :meth:`NetworkConfig.settings_for`, never at import.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from quaykey.kms.pki import PkiLayout

__all__ = [
    "FAULT_ENV",
    "HttpLimits",
    "KmeSettings",
    "Limits",
    "NetworkConfig",
    "NodeConfig",
    "SaeConfig",
    "StockConfig",
    "TenantQuota",
    "load_network_config",
]

FAULT_ENV = "QUAYKEY_KMS_FAULT"


class Limits(BaseModel):
    """Key sizes (bits), counts and lifetimes a KME offers (reported in Status)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 1024
    max_key_per_request: int = 128
    max_key_count: int = 100_000
    max_SAE_ID_count: int = 2  # noqa: N815  (ETSI name)
    key_ttl_s: float = 3600.0
    reservation_ttl_s: float = 30.0
    expiry_interval_s: float = 5.0
    relay_timeout_s: float = 10.0


class HttpLimits(BaseModel):
    """Limits on each HTTP connection and request, enforced before a request is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_header_bytes: int = Field(default=16384, ge=1024)
    max_header_count: int = Field(default=64, ge=8)
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_connections_per_client: int = Field(default=64, ge=1)


class StockConfig(BaseModel):
    """End-to-end key stock of one KME: keys relayed ahead of demand to remote slave SAEs.

    One stock per provisioned pair (master SAE at this KME, slave SAE at another KME). Off
    by default: a stock spends link key on every hop of the route before any application
    asks, and holds keys at the far KME (counted in the master's ``keys_outstanding``
    there), which a node without remote traffic would waste.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    #: keys kept per (master SAE here, remote slave SAE) pair: the stock's bound
    target_keys: int = Field(default=32, ge=0, le=100_000)
    #: overrides of ``target_keys`` by remote node name or by pair ``"<master>><slave>"``
    targets: dict[str, int] = Field(default_factory=dict)
    #: size of stocked keys in bits (default: ``limits.key_size``); other sizes are relayed
    key_size: int | None = Field(default=None, ge=8)
    #: keys per refill relay (at most ``limits.max_key_per_request``); a stock is topped up
    #: in whole batches, once it is at least this many keys below its bound
    refill_batch: int = Field(default=16, ge=1)
    #: seconds between refill passes (one starts early once a batch's worth was taken)
    refill_interval_s: float = Field(default=1.0, gt=0)
    #: seconds a stocked key may be handed to a master; must be below ``limits.key_ttl_s``
    #: so that the slave has ``key_ttl_s - ttl_s`` left to fetch it
    ttl_s: float = Field(default=1800.0, gt=0)
    #: when the stock cannot serve a request: ``relay`` on demand, or ``fail`` (503)
    on_empty: Literal["relay", "fail"] = "relay"

    @field_validator("targets")
    @classmethod
    def _targets_non_negative(cls, v: dict[str, int]) -> dict[str, int]:
        for name, n in v.items():
            if n < 0:
                raise ValueError(f"stock.targets[{name!r}] must be >= 0")
        return v

    def target_for(self, master: str, slave: str, slave_node: str) -> int:
        """The bound of the stock of one pair (0: no stock)."""
        return self.targets.get(f"{master}>{slave}", self.targets.get(slave_node, self.target_keys))


class TenantQuota(BaseModel):
    """Per-SAE quotas applied to every SAE of a tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys_outstanding: int = 10_000
    bits_per_minute: int = 100_000_000


class SaeConfig(BaseModel):
    """One registered SAE: the node whose KME serves it and its tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    tenant: str


class TlsFiles(BaseModel):
    """Certificate files of one KME (default: the ``pki_dir`` layout)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


class NodeConfig(BaseModel):
    """One KME: identity, address, storage and TLS files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kme_id: str
    host: str = "127.0.0.1"
    port: int
    database_url: str
    master_key_file: Path
    tls: TlsFiles | None = None
    stock: StockConfig | None = None


class NetworkConfig(BaseModel):
    """The whole KMS network as read from YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_dir: Path = Path(".")
    pki_dir: Path = Path("pki")
    limits: Limits = Field(default_factory=Limits)
    http: HttpLimits = Field(default_factory=HttpLimits)
    stock: StockConfig = Field(default_factory=StockConfig)
    nodes: dict[str, NodeConfig]
    links: list[tuple[str, str]] = Field(default_factory=list)
    routes: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    tenants: dict[str, TenantQuota] = Field(default_factory=dict)
    saes: dict[str, SaeConfig] = Field(default_factory=dict)
    pairs: list[tuple[str, str]] = Field(default_factory=list)

    @field_validator("links")
    @classmethod
    def _links_distinct(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for a, b in v:
            if a == b:
                raise ValueError(f"link {a}-{b} joins a node to itself")
        return v

    def model_post_init(self, _context: Any) -> None:
        for a, b in self.links:
            for n in (a, b):
                if n not in self.nodes:
                    raise ValueError(f"link names unknown node {n!r}; add it under nodes")
        for sae, entry in self.saes.items():
            if entry.node not in self.nodes:
                raise ValueError(f"SAE {sae!r} is served by unknown node {entry.node!r}")
            if entry.tenant not in self.tenants:
                raise ValueError(f"SAE {sae!r} has unknown tenant {entry.tenant!r}")
        for a, b in self.pairs:
            for s in (a, b):
                if s not in self.saes:
                    raise ValueError(f"pair names unknown SAE {s!r}; add it under saes")

    def _path(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p)

    def neighbours(self, node: str) -> set[str]:
        """Nodes joined to ``node`` by a QKD link."""
        out = set()
        for a, b in self.links:
            if a == node:
                out.add(b)
            elif b == node:
                out.add(a)
        return out

    def route(self, src: str, dst: str) -> list[str]:
        """Hops from ``src`` to ``dst`` (excluding ``src``): the routing table, else fewest hops."""
        if dst in self.routes.get(src, {}):
            return list(self.routes[src][dst])
        prev: dict[str, str | None] = {src: None}
        queue = deque([src])
        while queue:
            cur = queue.popleft()
            if cur == dst:
                break
            for nxt in sorted(self.neighbours(cur)):
                if nxt not in prev:
                    prev[nxt] = cur
                    queue.append(nxt)
        if dst not in prev:
            return []
        hops = []
        cur2: str | None = dst
        while cur2 is not None and cur2 != src:
            hops.append(cur2)
            cur2 = prev[cur2]
        return hops[::-1]

    def settings_for(
        self, node: str, *, fault_point: str | None = None, workers: int = 1
    ) -> KmeSettings:
        """Resolve the settings of one KME.

        Parameters
        ----------
        node : str
            Node name under ``nodes``.
        fault_point : str or None
            Test-only crash point (see :mod:`quaykey.kms.faults`).
        workers : int
            Worker processes serving this KME (``kme serve --workers``; above 1 needs
            PostgreSQL).

        Returns
        -------
        KmeSettings
        """
        if node not in self.nodes:
            raise ValueError(f"node {node!r} is not in the config; known: {sorted(self.nodes)}")
        nc = self.nodes[node]
        layout = PkiLayout(self._path(self.pki_dir))
        if nc.tls is not None:
            tls = TlsFiles(
                ca=self._path(nc.tls.ca),
                server_cert=self._path(nc.tls.server_cert),
                server_key=self._path(nc.tls.server_key),
                client_cert=self._path(nc.tls.client_cert),
                client_key=self._path(nc.tls.client_key),
            )
        else:
            sc, sk = layout.kme_server(node)
            cc, ck = layout.kme_client(node)
            tls = TlsFiles(
                ca=layout.ca_cert, server_cert=sc, server_key=sk, client_cert=cc, client_key=ck
            )
        db = nc.database_url
        if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
            rel = db[len("sqlite:///") :]
            db = "sqlite:///" + str(self._path(Path(rel)))
        routes = {d: self.route(node, d) for d in self.nodes if d != node}
        stock = nc.stock or self.stock
        if stock.enabled and stock.ttl_s >= self.limits.key_ttl_s:
            raise ValueError(
                f"stock.ttl_s ({stock.ttl_s}) of node {node!r} must be below limits.key_ttl_s "
                f"({self.limits.key_ttl_s}): the slave needs time to fetch a stocked key"
            )
        if stock.enabled and stock.refill_batch > self.limits.max_key_per_request:
            raise ValueError(
                f"stock.refill_batch of node {node!r} must be at most limits.max_key_per_request"
            )
        return KmeSettings(
            node=node,
            kme_id=nc.kme_id,
            host=nc.host,
            port=nc.port,
            database_url=db,
            master_key_file=self._path(nc.master_key_file),
            tls=tls,
            limits=self.limits,
            http=self.http,
            peers={n: f"https://{c.host}:{c.port}" for n, c in self.nodes.items() if n != node},
            kme_ids={n: c.kme_id for n, c in self.nodes.items()},
            neighbours=frozenset(self.neighbours(node)),
            routes=routes,
            tenants=dict(self.tenants),
            saes=dict(self.saes),
            pairs=frozenset(frozenset(p) for p in self.pairs),
            stock=stock,
            fault_point=fault_point,
            workers=workers,
        )


class KmeSettings(BaseModel):
    """Everything one KME needs, resolved (absolute paths, routes to every node)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    kme_id: str
    host: str
    port: int
    database_url: str
    master_key_file: Path
    tls: TlsFiles
    limits: Limits
    http: HttpLimits = Field(default_factory=HttpLimits)
    peers: dict[str, str]
    kme_ids: dict[str, str]
    neighbours: frozenset[str]
    routes: dict[str, list[str]]
    tenants: dict[str, TenantQuota]
    saes: dict[str, SaeConfig]
    pairs: frozenset[frozenset[str]]
    stock: StockConfig = Field(default_factory=StockConfig)
    fault_point: str | None = None
    #: worker processes serving this KME: above 1, the key-rate window lives in the
    #: database and one worker at a time refills the key stock
    workers: int = Field(default=1, ge=1)

    def may_pair(self, a: str, b: str) -> bool:
        """Whether SAEs ``a`` and ``b`` are provisioned to share keys."""
        return frozenset((a, b)) in self.pairs

    def quota(self, sae: str) -> TenantQuota:
        """The quota of an SAE's tenant."""
        return self.tenants[self.saes[sae].tenant]


def load_network_config(path: Path | str, *, base_dir: Path | None = None) -> NetworkConfig:
    """Read and validate a KMS network YAML file.

    Parameters
    ----------
    path : Path or str
        The YAML file.
    base_dir : Path or None
        Directory relative paths are resolved against (default: the file's directory).

    Returns
    -------
    NetworkConfig
    """
    p = Path(path)
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a YAML mapping at the top level")
    data["base_dir"] = base_dir or p.resolve().parent
    return NetworkConfig.model_validate(data)


def fault_point_from_env() -> str | None:
    """The crash point named by ``QUAYKEY_KMS_FAULT`` (tests only), or ``None``."""
    return os.environ.get(FAULT_ENV) or None
