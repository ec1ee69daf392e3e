"""KMEs of any set of nodes on 127.0.0.1: dev PKI, master keys, a KMS network file, SQLite.

:class:`KmeLab` is what ``quaykey apps run`` and ``quaykey up`` start: one
:class:`~quaykey.kms.app.ThreadedKme` per node (uvicorn, HTTPS with mutual TLS), each with its
own SQLite store and master key under a state directory. The state directory is kept: a
second lab on the same directory reuses the PKI, the master keys and the databases (the
ports are new; the network file is rewritten with them), so a restarted KME serves the keys
it held.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from quaykey.kms.app import ThreadedKme
from quaykey.kms.client import KmeClient
from quaykey.kms.config import NetworkConfig, load_network_config
from quaykey.kms.pki import PkiLayout, init_dev_pki
from quaykey.kms.store import create_master_key

__all__ = ["KmeLab", "kme_id"]


def kme_id(node: str) -> str:
    """The KME ID of ``node`` in a lab (``KME-<NODE>``)."""
    return f"KME-{node.upper()}"


def _bind(port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    return s


class KmeLab:
    """KMEs of ``nodes`` on 127.0.0.1 with mTLS, a dev PKI and SQLite, under ``root``.

    Parameters
    ----------
    root
        State directory: ``pki/``, ``state/<node>.db``, ``state/<node>.master.key``,
        ``network.yaml``. Reused when it already holds them.
    nodes
        KME nodes.
    links
        KMS links between nodes (each a pair of nodes): where link key is deposited and
        keys are relayed hop by hop.
    saes
        SAE ID -> the node of its KME.
    pairs
        SAE pairs that exchange keys.
    stock
        The ``stock:`` section of the network file (``None``: no key stock).
    key_bits
        Default key size; with ``fixed_key_size`` also the only size served.
    """

    def __init__(
        self,
        root: Path,
        nodes: Iterable[str],
        links: Iterable[tuple[str, str]],
        saes: Mapping[str, str],
        pairs: Iterable[tuple[str, str]],
        *,
        stock: Mapping[str, Any] | None = None,
        key_bits: int = 256,
        fixed_key_size: bool = False,
    ) -> None:
        self.root = root
        self.nodes = nodes = tuple(nodes)
        root.mkdir(parents=True, exist_ok=True)
        socks = {n: _bind() for n in nodes}
        self.ports = {n: s.getsockname()[1] for n, s in socks.items()}
        self.sites = dict(saes)
        doc: dict[str, Any] = {
            "pki_dir": "pki",
            "limits": {"key_size": key_bits, "max_key_per_request": 128,
                       "max_key_size": key_bits if fixed_key_size else 1024,
                       "min_key_size": key_bits if fixed_key_size else 64,
                       "reservation_ttl_s": 30, "expiry_interval_s": 1.0},
            "nodes": {n: {"kme_id": kme_id(n), "host": "127.0.0.1", "port": self.ports[n],
                          "database_url": f"sqlite:///state/{n}.db",
                          "master_key_file": f"state/{n}.master.key"} for n in nodes},
            "links": [list(p) for p in links],
            "tenants": {"logistics": {"keys_outstanding": 1_000_000, "bits_per_minute": 10**11}},
            "saes": {s: {"node": n, "tenant": "logistics"} for s, n in self.sites.items()},
            "pairs": [list(p) for p in pairs],
        }  # fmt: skip
        if stock is not None:
            doc["stock"] = dict(stock)
        cfg = root / "network.yaml"
        cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
        pki = PkiLayout(root / "pki")
        if pki.ca_cert.exists():
            self.pki = pki
        else:
            self.pki = init_dev_pki(
                root / "pki", list(nodes), sorted(self.sites), {n: kme_id(n) for n in nodes}
            )
        for n in nodes:
            create_master_key(root / "state" / f"{n}.master.key")
        self.config: NetworkConfig = load_network_config(cfg)
        self.kmes: dict[str, ThreadedKme] = {}
        self._clients: list[KmeClient] = []
        try:
            for n in nodes:
                self.kmes[n] = ThreadedKme(self.config.settings_for(n), sock=socks[n]).start()
        except Exception:
            self.close()
            raise

    def url(self, node: str) -> str:
        """The KME's ETSI 014 base URL."""
        return f"https://127.0.0.1:{self.ports[node]}"

    def client(self, sae: str) -> KmeClient:
        """An ETSI GS QKD 014 client of ``sae`` at its own KME (its certificate, mTLS)."""
        cert, key = self.pki.sae(sae)
        c = KmeClient(self.url(self.sites[sae]), ca=self.pki.ca_cert, cert=cert, key=key)
        self._clients.append(c)
        return c

    def is_up(self, node: str) -> bool:
        """Whether the KME of ``node`` is serving."""
        return node in self.kmes

    def stop_node(self, node: str) -> None:
        """Stop the KME of ``node`` (its database stays; :meth:`start_node` brings it back)."""
        k = self.kmes.pop(node, None)
        if k is not None:
            k.stop()

    def start_node(self, node: str) -> None:
        """Start the KME of ``node`` again on its port, from its database."""
        if node in self.kmes:
            return
        if node not in self.ports:
            raise ValueError(f"no KME at node {node!r}")
        sock = _bind(self.ports[node])
        self.kmes[node] = ThreadedKme(self.config.settings_for(node), sock=sock).start()

    def pools(self) -> dict[str, Any]:
        """Each KME's link pools (sendable/receivable bytes per neighbour) and held keys."""
        return {n: k.service.pools() for n, k in self.kmes.items()}

    def stock(self) -> dict[str, Any]:
        """Each KME's key stock: ready keys per pair against the bound, and its counters."""
        out: dict[str, Any] = {}
        for n, k in self.kmes.items():
            rep = k.service.pools().get("stock") or {}
            if not rep.get("enabled") or not any(p["target_keys"] for p in rep["pairs"]):
                continue
            out[n] = {
                "pairs": {f"{p['master']}>{p['slave']}": {"ready": p["ready"],
                          "target_keys": p["target_keys"]} for p in rep["pairs"]
                          if p["target_keys"]},
                "counters": rep["counters"],
            }  # fmt: skip
        return out

    def close(self) -> None:
        """Close the clients and stop the KMEs."""
        for c in self._clients:
            c.close()
        for k in self.kmes.values():
            k.stop()
