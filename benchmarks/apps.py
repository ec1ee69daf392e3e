"""Benchmark: the applications' messages per protection class, same node and Shanghai <-> Beijing.

Three KMEs (Shanghai -- Hefei -- Beijing) on 127.0.0.1 with mutual TLS, started and fed as
``quaykey apps run`` does (:mod:`quaykey.cli.apps_run`: uvicorn in threads of this process,
SQLite; link key from exact QKD blocks, prefilled before timing). Two routes:

* same node: ``yangshan-terminal`` -> ``sipg-ops``, both at the Shanghai KME (keys from the
  KME's CSPRNG, no relay);
* Shanghai <-> Beijing: ``sipg-ops`` -> ``customs-hq-beijing``, every key relayed hop by hop
  through Hefei by the KMEs (one-time padded and MACed per hop).

Rows, each in one thread, latency around one send plus one receive:

* baseline: the raw ETSI GS QKD 014 pair (*Get key* by the master, *Get key with key IDs*
  by the slave, one 256-bit key);
* ``aes``, ``hybrid``, ``otp``: ``SecureChannel.send`` + ``receive`` of a ``--payload-bytes``
  message;
* ``aes`` in ``--threads`` independent sessions of the same SAE pair, one thread each
  (aggregate msg/s);
* customs round trip (Shanghai <-> Beijing only): a real CUSDEC (``hybrid``) to Beijing,
  ``customs.decide``, the CUSRES (``otp``) back.

Not a test; it prints a table (``--json`` for the rows). Run::

    .venv/bin/python benchmarks/apps.py --messages 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from quaykey.cli.apps_run import ExactFeeder, KmeLab, chain_topology, profile_sites
from quaykey.kms.client import KmeClient
from quaykey.logistics.profiles import load_profile
from quaykey.logistics.run import PayloadFactory, percentiles_ms
from quaykey.logistics.sdk import SecureChannel

ROUTES = {
    "same node": ("yangshan-terminal", "sipg-ops"),
    "Shanghai<->Beijing": ("sipg-ops", "customs-hq-beijing"),
}
CLASS_TYPES = {"aes": "edi", "hybrid": "customs_declaration", "otp": "customs_decision"}


def _time(n: int, one: Callable[[], Any]) -> dict[str, Any]:
    lat: list[float] = []
    t0 = time.perf_counter()
    for _ in range(n):
        s = time.perf_counter()
        one()
        lat.append(time.perf_counter() - s)
    wall = time.perf_counter() - t0
    return {"n": n, "msg_per_s": round(n / wall, 1)} | percentiles_ms(lat)


def _key_pair(master: KmeClient, slave: KmeClient, a: str, b: str) -> Callable[[], None]:
    def one() -> None:
        got = master.get_key(b, number=1, size=256)
        slave.get_key_with_key_ids(a, [got.keys[0].key_ID])

    return one


def _channels(lab: KmeLab, a: str, b: str, state: Path) -> tuple[SecureChannel, SecureChannel]:
    state.mkdir(parents=True, exist_ok=True)
    kem_a, kem_b = MLKEM768PrivateKey.generate(), MLKEM768PrivateKey.generate()
    tx = SecureChannel(lab.client(a), b, state=state / f"{a}-{b}.db", sae_id=a,
                       mlkem_key=kem_a, peer_mlkem_public=kem_b.public_key())  # fmt: skip
    rx = SecureChannel(lab.client(b), a, state=state / f"{b}-{a}.db", sae_id=b,
                       mlkem_key=kem_b, peer_mlkem_public=kem_a.public_key())  # fmt: skip
    return tx, rx


def _one_message(
    tx: SecureChannel, rx: SecureChannel, mtype: str, payload: bytes, cls: str
) -> Callable[[], None]:
    def one() -> None:
        rx.receive(tx.send(mtype, payload, protection=cls))

    return one


def _parallel_aes(
    lab: KmeLab, a: str, b: str, state: Path, threads: int, messages: int, payload: bytes
) -> dict[str, Any]:
    """``threads`` independent aes sessions of the same SAE pair, one thread each."""
    pairs = [_channels(lab, a, b, state / f"aes-{i}") for i in range(threads)]
    lat: list[list[float]] = [[] for _ in range(threads)]

    def work(i: int) -> None:
        tx, rx = pairs[i]
        for _ in range(messages):
            s = time.perf_counter()
            rx.receive(tx.send("edi", payload, protection="aes"))
            lat[i].append(time.perf_counter() - s)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    every = [x for part in lat for x in part]
    return {"n": len(every), "msg_per_s": round(len(every) / wall, 1)} | percentiles_ms(every)


def _round_trip(tx: SecureChannel, rx: SecureChannel) -> Callable[[], None]:
    """CUSDEC (hybrid) Shanghai -> Beijing, customs decides, CUSRES (otp) back."""
    factory = PayloadFactory({})

    def one() -> None:
        got = rx.receive(tx.send("customs_declaration", factory.cusdec(None)))
        tx.receive(rx.send("customs_decision", factory.cusres(got)))

    return one


def run(
    messages: int, payload_bytes: int, prefill_s: float, root: Path, threads: int = 4
) -> list[dict[str, Any]]:
    """All rows; KMEs started and prefilled under ``root``."""
    profile = load_profile("ci")
    sites, pairs = profile_sites(profile)
    lab = KmeLab(root / "kms", sites, pairs)
    rows: list[dict[str, Any]] = []
    try:
        feeder = ExactFeeder(chain_topology(lab.chain), lab, 10.0, seed=1)
        t0 = time.perf_counter()
        feeder.prefill(prefill_s)
        net = feeder.report()
        took_s = time.perf_counter() - t0
        print(f"prefill: {net['link_s']:g} link s of exact blocks in {took_s:.1f} s; "
              f"{net['delivered_bytes']} B", file=sys.stderr)  # fmt: skip
        payload = bytes(range(256)) * (payload_bytes // 256 + 1)
        payload = payload[:payload_bytes]
        for route, (a, b) in ROUTES.items():
            ma, sb = lab.client(a), lab.client(b)
            rows.append({"route": route, "row": "KME Get key pair (baseline)"}
                        | _time(messages, _key_pair(ma, sb, a, b)))  # fmt: skip
            tx, rx = _channels(lab, a, b, root / route.replace("<->", "-").replace(" ", "-"))
            for cls, mtype in CLASS_TYPES.items():
                one = _one_message(tx, rx, mtype, payload, cls)
                rows.append({"route": route, "row": cls} | _time(messages, one))
            if threads > 1:
                par = _parallel_aes(
                    lab, a, b, root / f"par-{len(rows)}", threads, messages, payload
                )
                rows.append({"route": route, "row": f"aes, {threads} sessions in threads"} | par)
            if route != "same node":
                rows.append({"route": route, "row": "customs CUSDEC->CUSRES"}
                            | _time(max(1, messages // 2), _round_trip(tx, rx)))  # fmt: skip
    finally:
        lab.close()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = ["| route | row | n | msg/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['route']} | {r['row']} | {r['n']} | {r['msg_per_s']} | "
                     f"{r['p50_ms']} | {r['p99_ms']} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=200, help="messages per row")
    p.add_argument("--payload-bytes", type=int, default=700, help="payload of the class rows")
    p.add_argument("--prefill-s", type=float, default=900.0, help="link seconds of key first")
    p.add_argument("--threads", type=int, default=4, help="parallel aes sessions (1: no row)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args()
    if a.messages < 1 or a.payload_bytes < 1 or a.prefill_s < 0:
        p.error("--messages and --payload-bytes must be >= 1, --prefill-s >= 0")
    with tempfile.TemporaryDirectory(prefix="bench-apps-") as tmp:
        rows = run(a.messages, a.payload_bytes, a.prefill_s, Path(tmp), a.threads)
    print(json.dumps(rows, indent=1) if a.json else table(rows))


if __name__ == "__main__":
    main()
