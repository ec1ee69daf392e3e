"""Harness for KMS integration tests: dev PKI, YAML config, uvicorn HTTPS servers.

Every server listens on 127.0.0.1 on an ephemeral port with mutual TLS. The link-key feeder
here deposits identical random bytes at both ends of a link (tests only; in the product the
QKD link process deposits each side's own key).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from quaykey.kms.app import ThreadedKme
from quaykey.kms.client import KmeClient, KmeClientError
from quaykey.kms.config import FAULT_ENV, KmeSettings, NetworkConfig, load_network_config
from quaykey.kms.pki import PkiLayout, init_dev_pki
from quaykey.kms.store import create_master_key

PG_ENV = "QUAYKEY_TEST_POSTGRES_URL"


class KmeProcess:
    """``quaykey kme serve`` in a subprocess (``workers``: ``--workers``)."""

    def __init__(self, cfg: Path, node: str, log: Path, workers: int = 1) -> None:
        self.cfg, self.node, self.log, self.workers = cfg, node, log, workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, fault: str | None = None) -> None:
        env = dict(os.environ)
        env.pop(FAULT_ENV, None)
        if fault:
            env[FAULT_ENV] = fault
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "quaykey.cli.main",
                    "kme",
                    "serve",
                    "--node",
                    self.node,
                    "--config",
                    str(self.cfg),
                    "--log-level",
                    "info",
                    "--workers",
                    str(self.workers),
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def wait_exit(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(20)


def wait_ready(client: KmeClient, slave: str, proc: KmeProcess, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.proc is not None and proc.proc.poll() is None, proc.log.read_text()[-2000:]
        try:
            client.status(slave)
            return
        except (httpx.TransportError, KmeClientError):
            time.sleep(0.2)
    raise AssertionError(f"KME {proc.node} did not become ready")


def free_socket() -> socket.socket:
    """A listening-ready socket bound to an ephemeral loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


class PgSchemas:
    """Creates one PostgreSQL schema per KME and drops them afterwards."""

    def __init__(self, base_url: str) -> None:
        from sqlalchemy import create_engine

        self.base_url = base_url
        self.engine = create_engine(base_url)
        self.names: list[str] = []

    def url_for(self, node: str) -> str:
        from sqlalchemy import text

        name = f"qk_{uuid.uuid4().hex[:10]}_{node}"
        with self.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        self.names.append(name)
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}options=-csearch_path%3D{name}"

    def drop(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            for name in self.names:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.engine.dispose()


@dataclass
class Net:
    """A KMS network under test."""

    root: Path
    config_file: Path
    config: NetworkConfig
    pki: PkiLayout
    sockets: dict[str, socket.socket]
    kmes: dict[str, ThreadedKme] = field(default_factory=dict)
    clients: list[KmeClient] = field(default_factory=list)
    block_counter: int = 0

    def settings(self, node: str, **kw: Any) -> KmeSettings:
        return self.config.settings_for(node, **kw)

    def url(self, node: str) -> str:
        n = self.config.nodes[node]
        return f"https://127.0.0.1:{n.port}"

    def start(self, *nodes: str, **kw: Any) -> None:
        for node in nodes or tuple(self.config.nodes):
            sock = self.sockets.pop(node)
            self.kmes[node] = ThreadedKme(self.settings(node), sock=sock, **kw).start()

    def stop(self, node: str) -> None:
        self.kmes.pop(node).stop()

    def client(self, sae: str, **kw: Any) -> KmeClient:
        node = self.config.saes[sae].node
        cert, key = self.pki.sae(sae)
        c = KmeClient(self.url(node), ca=self.pki.ca_cert, cert=cert, key=key, **kw)
        self.clients.append(c)
        return c

    def feed(self, a: str, b: str, n_blocks: int = 1, block_bytes: int = 4096) -> list[bytes]:
        """Deposit identical random blocks at both ends of link a-b (test feeder)."""
        blocks = []
        for _ in range(n_blocks):
            self.block_counter += 1
            block_id = f"blk-{a}-{b}-{self.block_counter:06d}"
            material = secrets.token_bytes(block_bytes)
            self.kmes[a].service.deposit_link_key(b, block_id, material)
            self.kmes[b].service.deposit_link_key(a, block_id, material)
            blocks.append(material)
        return blocks

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for node in list(self.kmes):
            self.stop(node)
        for s in self.sockets.values():
            s.close()


def write_network(
    root: Path,
    *,
    nodes: list[str],
    links: list[tuple[str, str]],
    saes: dict[str, tuple[str, str]],
    pairs: list[tuple[str, str]],
    db_urls: dict[str, str] | None = None,
    limits: dict[str, Any] | None = None,
    tenants: dict[str, dict[str, int]] | None = None,
    ports: dict[str, int] | None = None,
    extra_saes_pki: list[str] | None = None,
    http: dict[str, Any] | None = None,
    stock: dict[str, Any] | None = None,
    node_stock: dict[str, dict[str, Any]] | None = None,
) -> tuple[Path, PkiLayout]:
    """Write PKI, master keys and a network YAML under ``root``; returns the YAML path."""
    root.mkdir(parents=True, exist_ok=True)
    tenants = tenants or {
        "government": {"keys_outstanding": 100_000, "bits_per_minute": 10**10},
        "finance": {"keys_outstanding": 100_000, "bits_per_minute": 10**10},
        "logistics": {"keys_outstanding": 100_000, "bits_per_minute": 10**10},
    }
    doc: dict[str, Any] = {
        "pki_dir": "pki",
        "limits": {"key_size": 256, "reservation_ttl_s": 30, "expiry_interval_s": 0.5}
        | (limits or {}),
        "nodes": {
            n: {
                "kme_id": f"KME-{n.upper()}",
                "host": "127.0.0.1",
                "port": (ports or {}).get(n, 1),
                "database_url": (db_urls or {}).get(n, f"sqlite:///state/{n}.db"),
                "master_key_file": f"state/{n}.master.key",
            }
            for n in nodes
        },
        "links": [list(link) for link in links],
        "tenants": tenants,
        "saes": {s: {"node": n, "tenant": t} for s, (n, t) in saes.items()},
        "pairs": [list(p) for p in pairs],
    }
    if http:
        doc["http"] = http
    if stock:
        doc["stock"] = stock
    for n, st in (node_stock or {}).items():
        doc["nodes"][n]["stock"] = st
    cfg = root / "network.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    layout = init_dev_pki(
        root / "pki",
        nodes,
        list(saes) + list(extra_saes_pki or []),
        {n: f"KME-{n.upper()}" for n in nodes},
    )
    for n in nodes:
        create_master_key(root / "state" / f"{n}.master.key")
    return cfg, layout


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Storage backend; PostgreSQL needs QUAYKEY_TEST_POSTGRES_URL."""
    if request.param == "postgres" and not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (make test starts a server)")
    return str(request.param)


@pytest.fixture
def make_net(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``make_net(backend, nodes=..., links=..., saes=..., pairs=...)`` -> Net."""
    nets: list[Net] = []
    pgs: list[PgSchemas] = []

    def factory(backend: str = "sqlite", start: bool = True, **kw: Any) -> Net:
        root = tmp_path / f"net{len(nets)}"
        nodes = kw["nodes"]
        socks = {n: free_socket() for n in nodes}
        ports = {n: s.getsockname()[1] for n, s in socks.items()}
        if backend == "postgres":
            pg = PgSchemas(os.environ[PG_ENV])
            pgs.append(pg)
            kw["db_urls"] = {n: pg.url_for(n) for n in nodes}
        cfg, layout = write_network(root, ports=ports, **kw)
        net = Net(root, cfg, load_network_config(cfg), layout, socks)
        nets.append(net)
        if start:
            net.start()
        return net

    yield factory
    for net in nets:
        net.close()
    for pg in pgs:
        pg.drop()


LINE3 = {
    "nodes": ["a", "b", "c"],
    "links": [("a", "b"), ("b", "c")],
    "saes": {
        "alice": ("a", "government"),
        "alice2": ("a", "finance"),
        "bob": ("b", "government"),
        "carol": ("c", "government"),
        "carol2": ("c", "finance"),
        "mallory": ("c", "logistics"),
    },
    "pairs": [
        ("alice", "alice2"),
        ("alice", "bob"),
        ("alice", "carol"),
        ("alice", "carol2"),
        ("alice2", "carol"),
    ],
    "extra_saes_pki": ["stranger"],
}
