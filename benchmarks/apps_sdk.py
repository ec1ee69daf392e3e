"""Benchmark: the secure-messaging SDK per protection class against a same-node KME.

One ``quaykey kme serve`` process on 127.0.0.1 (started with ``quaykey pki init`` and the
CLI, as an integrator would), two SAEs at that KME. Baseline: raw ETSI GS QKD 014 pairs
(one *Get key* by the master, one *Get key with key IDs* by the slave, 256-bit keys).
Per class: one ``SecureChannel.send`` plus one ``receive`` per message, in one thread,
latency measured around both. Not a test: it prints a table (and JSON with ``--json``).

Run::

    .venv/bin/python benchmarks/apps_sdk.py --messages 200 --payload-bytes 700
    .venv/bin/python benchmarks/apps_sdk.py --classes aes --messages 5000  # with key rolls
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from quaykey.kms.client import KmeClient
from quaykey.logistics.sdk import SecureChannel

MASTER, SLAVE = "terminal-sh", "customs-sh"
CLASS_TYPES = {"aes": "edi", "hybrid": "customs_declaration", "otp": "customs_decision"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_kme(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Write a one-node config, run ``quaykey pki init`` and ``quaykey kme serve``."""
    port = _free_port()
    doc = {
        "pki_dir": "pki",
        "limits": {"key_size": 256, "max_key_size": 1024, "max_key_per_request": 128},
        "nodes": {
            "port": {
                "kme_id": "KME-PORT", "host": "127.0.0.1", "port": port,
                "database_url": "sqlite:///state/port.db",
                "master_key_file": "state/port.master.key",
            }
        },
        "links": [],
        "tenants": {"logistics": {"keys_outstanding": 10**6, "bits_per_minute": 10**12}},
        "saes": {s: {"node": "port", "tenant": "logistics"} for s in (MASTER, SLAVE)},
        "pairs": [[MASTER, SLAVE]],
    }  # fmt: skip
    (root / "network.yaml").write_text(yaml.safe_dump(doc))
    cli = [sys.executable, "-m", "quaykey.cli.main"]
    subprocess.run([*cli, "pki", "init", "--out", str(root / "pki"), "--config",
                    str(root / "network.yaml")], check=True, capture_output=True)  # fmt: skip
    proc = subprocess.Popen(
        [*cli, "kme", "serve", "--node", "port", "--config", str(root / "network.yaml"),
         "--log-level", "warning"], env=os.environ.copy(),
    )  # fmt: skip
    return proc, port


def client(root: Path, port: int, sae: str) -> KmeClient:
    pki = root / "pki"
    return KmeClient(
        f"https://127.0.0.1:{port}", ca=pki / "ca.pem", cert=pki / f"sae-{sae}.pem",
        key=pki / f"sae-{sae}.key",
    )  # fmt: skip


def wait_ready(kme: KmeClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            kme.status(SLAVE)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def measure(n: int, step: Callable[[], None]) -> dict[str, float]:
    """Run ``step`` n times (after 10 warm-up runs); rate and latency percentiles."""
    for _ in range(10):
        step()
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        step()
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    return {"per_s": n / wall, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3}


def run(
    root: Path, n: int, payload_bytes: int, classes: tuple[str, ...] = tuple(CLASS_TYPES)
) -> dict[str, dict[str, float]]:
    proc, port = start_kme(root)
    try:
        km, ks = client(root, port, MASTER), client(root, port, SLAVE)
        wait_ready(km)

        def pair() -> None:
            c = km.get_key(SLAVE, number=1, size=256)
            ks.get_key_with_key_ids(MASTER, [c.keys[0].key_ID])

        out = {"kme_pair (baseline)": measure(n, pair)}
        kem = MLKEM768PrivateKey.generate()
        tx = SecureChannel(km, SLAVE, state=root / "tx.db", peer_mlkem_public=kem.public_key())
        rx = SecureChannel(ks, MASTER, state=root / "rx.db", mlkem_key=kem)
        payload = os.urandom(payload_bytes)
        for cls in classes:

            def message(msg_type: str = CLASS_TYPES[cls]) -> None:
                if rx.receive(tx.send(msg_type, payload)) != payload:
                    raise AssertionError("round trip changed the payload")

            out[cls] = measure(n, message)
        km.close()
        ks.close()
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200, help="messages (or pairs) per row")
    ap.add_argument("--payload-bytes", type=int, default=700, help="payload per message")
    ap.add_argument(
        "--classes", default=",".join(CLASS_TYPES), help="comma-separated classes to measure"
    )
    ap.add_argument(
        "--state-dir", type=Path, default=None,
        help="directory for the KME and SDK state (SQLite fsync cost depends on its disk)",
    )  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args(argv)
    if a.messages < 10 or a.payload_bytes < 0:
        ap.error("--messages must be >= 10 and --payload-bytes >= 0")
    classes = tuple(c.strip() for c in a.classes.split(",") if c.strip())
    if not classes or any(c not in CLASS_TYPES for c in classes):
        ap.error(f"--classes must name some of {', '.join(CLASS_TYPES)}")
    if a.state_dir is not None and not a.state_dir.is_dir():
        ap.error(f"--state-dir {a.state_dir} is not a directory")
    with tempfile.TemporaryDirectory(dir=a.state_dir) as d:
        res = run(Path(d), a.messages, a.payload_bytes, classes)
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{a.messages} per row, payload {a.payload_bytes} B, same-node KME, one thread")
        print(f"{'row':<22}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
        for name, r in res.items():
            print(f"{name:<22}{r['per_s']:>10.1f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}")
    return res


if __name__ == "__main__":
    main()
