"""Real KMEs for the logistics integration tests: dev PKI, YAML config, HTTPS with mTLS.

The pattern is the KMS integration tests' harness: each KME is served by uvicorn on
127.0.0.1 on an ephemeral port, and the test feeder deposits identical random link-key
blocks at both ends of a link (the QKD link process does this in the product). The
applications under test reach their KME only through ``quaykey.kms.client.KmeClient``.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from quaykey.kms.app import ThreadedKme
from quaykey.kms.client import KmeClient
from quaykey.kms.config import load_network_config
from quaykey.kms.pki import PkiLayout, init_dev_pki
from quaykey.kms.store import create_master_key

#: Two KMEs on one QKD link; SAEs at both; ``mallory`` is a provisioned SAE at ``a``.
NODES = ["a", "b"]
SAES = {"terminal": "a", "customs": "a", "mallory": "a", "customs-b": "b"}
PAIRS = [("terminal", "customs"), ("mallory", "customs"), ("terminal", "customs-b")]


@dataclass
class KmsNet:
    """KMEs under test, their clients and the link-key feeder."""

    root: Path
    pki: PkiLayout
    ports: dict[str, int]
    kmes: dict[str, ThreadedKme] = field(default_factory=dict)
    clients: list[KmeClient] = field(default_factory=list)
    blocks: int = 0
    saes: dict[str, str] = field(default_factory=lambda: dict(SAES))

    def client(self, sae: str) -> KmeClient:
        """An ETSI GS QKD 014 client for ``sae`` at its own KME."""
        cert, key = self.pki.sae(sae)
        url = f"https://127.0.0.1:{self.ports[self.saes[sae]]}"
        c = KmeClient(url, ca=self.pki.ca_cert, cert=cert, key=key)
        self.clients.append(c)
        return c

    def feed(self, a: str, b: str, block_bytes: int) -> None:
        """Deposit one identical random block at both ends of link a-b."""
        self.blocks += 1
        block_id = f"blk-{a}-{b}-{self.blocks:06d}"
        material = secrets.token_bytes(block_bytes)
        self.kmes[a].service.deposit_link_key(b, block_id, material)
        self.kmes[b].service.deposit_link_key(a, block_id, material)

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for kme in self.kmes.values():
            kme.stop()


def start_net(
    root: Path,
    limits: dict[str, Any] | None = None,
    *,
    saes: dict[str, str] | None = None,
    pairs: list[tuple[str, str]] | None = None,
) -> KmsNet:
    """Write PKI, master keys and config under ``root`` and start one KME per node.

    ``saes`` (SAE -> node) and ``pairs`` replace the module's defaults when given.
    """
    saes = SAES if saes is None else saes
    pairs = PAIRS if pairs is None else pairs
    root.mkdir(parents=True, exist_ok=True)
    socks = {}
    for n in NODES:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        socks[n] = s
    ports = {n: s.getsockname()[1] for n, s in socks.items()}
    quota = {"keys_outstanding": 100_000, "bits_per_minute": 10**10}
    doc = {
        "pki_dir": "pki",
        "limits": {"key_size": 256, "reservation_ttl_s": 30, "expiry_interval_s": 0.5}
        | (limits or {}),
        "nodes": {
            n: {
                "kme_id": f"KME-{n.upper()}",
                "host": "127.0.0.1",
                "port": ports[n],
                "database_url": f"sqlite:///state/{n}.db",
                "master_key_file": f"state/{n}.master.key",
            }
            for n in NODES
        },
        "links": [["a", "b"]],
        "tenants": {"logistics": quota},
        "saes": {s: {"node": n, "tenant": "logistics"} for s, n in saes.items()},
        "pairs": [list(p) for p in pairs],
    }
    cfg = root / "network.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    layout = init_dev_pki(root / "pki", NODES, list(saes), {n: f"KME-{n.upper()}" for n in NODES})
    for n in NODES:
        create_master_key(root / "state" / f"{n}.master.key")
    net = KmsNet(root, layout, ports, saes=dict(saes))
    config = load_network_config(cfg)
    for n in NODES:
        net.kmes[n] = ThreadedKme(config.settings_for(n), sock=socks[n]).start()
    return net


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmsNet]:
    """Two running KMEs shared by the tests of one module (fresh channel state per test)."""
    net = start_net(tmp_path_factory.mktemp("kms"))
    yield net
    net.close()


@pytest.fixture
def fresh_kms(tmp_path: Path) -> Iterator[KmsNet]:
    """Two running KMEs for one test (no link key yet)."""
    net = start_net(tmp_path / "kms")
    yield net
    net.close()
