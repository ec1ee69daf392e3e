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
  ``customs.decide``, the CUSRES (``otp``) back on the keys the CUSDEC drew for it (the
  stock rows also time the CUSRES on fresh keys of its own, two more KME calls).

Then, in the same run, a second set of KMEs with the end-to-end key stock (``docs/kms.md``,
"Key stock") for ``sipg-ops`` <-> ``customs-hq-beijing`` (``--stock-keys`` per direction,
batches of 128, a pass every 0.05 s, 256-bit keys only), full before the clock starts:
the Shanghai <-> Beijing baseline, ``otp`` and customs rows again (the two customs variants
taking turns exchange by exchange, so that the machine's load falls on both alike), and the
share of Get keys the stock served.

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

from quaykey.cli.apps_run import ExactFeeder, KmeLab, StockPlan, chain_topology, profile_sites
from quaykey.kms.client import KmeClient
from quaykey.logistics.profiles import load_profile
from quaykey.logistics.run import PayloadFactory, percentiles_ms
from quaykey.logistics.sdk import SecureChannel
from quaykey.logistics.sdk.protect import otp_key_bytes

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


def _time_interleaved(n: int, ones: dict[str, Callable[[], Any]]) -> dict[str, dict[str, Any]]:
    """Each of ``ones`` ``n`` times, taking turns (one of each per round), so that the load
    the machine is under falls on every variant alike; msg/s counts each variant's own time."""
    lat: dict[str, list[float]] = {k: [] for k in ones}
    for _ in range(n):
        for name, one in ones.items():
            s = time.perf_counter()
            one()
            lat[name].append(time.perf_counter() - s)
    return {k: {"n": n, "msg_per_s": round(n / sum(v), 1)} | percentiles_ms(v)
            for k, v in lat.items()}  # fmt: skip


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


def _round_trip(tx: SecureChannel, rx: SecureChannel, reply_keys: bool) -> Callable[[], None]:
    """CUSDEC (hybrid) Shanghai -> Beijing, customs decides, CUSRES (otp) back.

    ``reply_keys``: the CUSDEC draws the CUSRES's keys too (one Get key and one Get key with
    key IDs per exchange, ``SecureChannel.send(reply_bytes=..., reply_to=...)``); else the
    CUSRES takes its own (two more KME calls).
    """
    factory = PayloadFactory({})
    reply = otp_key_bytes(len(factory.cusres(factory.cusdec(None)))) if reply_keys else 0

    def one() -> None:
        req = tx.send("customs_declaration", factory.cusdec(None), reply_bytes=reply)
        got = rx.receive_message(req)
        answer = factory.cusres(got.payload)
        tx.receive(rx.send("customs_decision", answer, reply_to=got if reply_keys else None))

    return one


def _lab(root: Path, prefill_s: float, stock: StockPlan | None = None) -> KmeLab:
    sites, pairs = profile_sites(load_profile("ci"))
    lab = KmeLab(root, sites, pairs, stock=stock)
    try:
        feeder = ExactFeeder(chain_topology(lab.chain), lab, 10.0, seed=1)
        t0 = time.perf_counter()
        feeder.prefill(prefill_s)
    except BaseException:
        lab.close()
        raise
    net = feeder.report()
    print(f"prefill: {net['link_s']:g} link s of exact blocks in {time.perf_counter() - t0:.1f} s;"
          f" {net['delivered_bytes']} B", file=sys.stderr)  # fmt: skip
    return lab


def _stock_full(lab: KmeLab, batch: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pairs = [p for st in lab.stock().values() for p in st["pairs"].values()]
        # refills come in whole batches: full means less than one batch below the bound
        if pairs and all(p["ready"] > p["target_keys"] - batch for p in pairs):
            return
        time.sleep(0.2)
    # link key short in one direction: time the row anyway, the share served says how it went
    print(f"the key stock did not fill in {timeout_s:g} s: {lab.stock()}", file=sys.stderr)


def _served(lab: KmeLab) -> tuple[int, int]:
    taken = sum(st["counters"].get("taken_keys", 0) for st in lab.stock().values())
    fallbacks = sum(st["counters"].get("fallbacks", 0) for st in lab.stock().values())
    return taken, fallbacks


def stock_rows(
    messages: int, payload: bytes, prefill_s: float, root: Path, stock_keys: int
) -> list[dict[str, Any]]:
    """The Shanghai <-> Beijing rows over KMEs keeping a key stock for that pair."""
    route = "Shanghai<->Beijing, stock"
    a, b = ROUTES["Shanghai<->Beijing"]
    plan = StockPlan({f"{a}>{b}": stock_keys, f"{b}>{a}": stock_keys}, 128, 0.05)
    lab = _lab(root / "kms-stock", prefill_s, plan)
    rows: list[dict[str, Any]] = []
    try:
        _stock_full(lab, plan.refill_batch)
        ma, sb = lab.client(a), lab.client(b)
        tx, rx = _channels(lab, a, b, root / "stock")
        timed: list[tuple[str, Callable[[], None], int]] = [
            ("KME Get key pair (baseline)", _key_pair(ma, sb, a, b), messages),
            ("otp", _one_message(tx, rx, CLASS_TYPES["otp"], payload, "otp"), messages),
        ]
        for row, one, n in timed:
            taken0, fb0 = _served(lab)
            _stock_full(lab, plan.refill_batch)  # each row starts with a full stock
            r = {"route": route, "row": row} | _time(n, one)
            taken, fb = _served(lab)
            r["stock_served"] = f"{taken - taken0} keys, {fb - fb0} relayed on demand"
            rows.append(r)
        # the customs exchange both ways, taking turns: answer on the CUSDEC's reply keys
        # (2 KME calls) and answer on fresh keys of its own (4 KME calls)
        taken0, fb0 = _served(lab)
        _stock_full(lab, plan.refill_batch)
        both = _time_interleaved(max(1, messages // 2), {
            "customs CUSDEC->CUSRES": _round_trip(tx, rx, True),
            "customs CUSDEC->CUSRES, answer on fresh keys": _round_trip(tx, rx, False),
        })  # fmt: skip
        taken, fb = _served(lab)
        for row, r in both.items():
            served = f"{taken - taken0} keys (both rows), {fb - fb0} relayed on demand"
            rows.append({"route": route, "row": row} | r | {"stock_served": served})
    finally:
        lab.close()
    return rows


def run(
    messages: int,
    payload_bytes: int,
    prefill_s: float,
    root: Path,
    threads: int = 4,
    stock_keys: int = 512,
) -> list[dict[str, Any]]:
    """All rows; KMEs started and prefilled under ``root`` (0 ``stock_keys``: no stock rows)."""
    lab = _lab(root / "kms", prefill_s)
    rows: list[dict[str, Any]] = []
    try:
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
                            | _time(max(1, messages // 2), _round_trip(tx, rx, True)))  # fmt: skip
    finally:
        lab.close()
    if stock_keys > 0:
        rows += stock_rows(messages, payload, prefill_s, root, stock_keys)
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Remote Get key pair rate with and without stock, against the same-node pair."""
    base = {r["route"]: r["msg_per_s"] for r in rows if r["row"] == "KME Get key pair (baseline)"}
    local = base.get("same node")
    out = []
    for route in ("Shanghai<->Beijing", "Shanghai<->Beijing, stock"):
        if local and route in base:
            out.append(f"{route} Get key pair / same node = {base[route] / local:.2f}"
                       f" ({base[route]} vs {local} pairs/s)")  # fmt: skip
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = ["| route | row | n | msg/s | p50 ms | p99 ms | from stock |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['route']} | {r['row']} | {r['n']} | {r['msg_per_s']} | "
                     f"{r['p50_ms']} | {r['p99_ms']} | {r.get('stock_served', '')} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=200, help="messages per row")
    p.add_argument("--payload-bytes", type=int, default=700, help="payload of the class rows")
    p.add_argument("--prefill-s", type=float, default=900.0, help="link seconds of key first")
    p.add_argument("--threads", type=int, default=4, help="parallel aes sessions (1: no row)")
    p.add_argument(
        "--stock-keys",
        type=int,
        default=1024,
        help="key stock per direction of the stock rows (0: no stock rows)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args()
    if a.messages < 1 or a.payload_bytes < 1 or a.prefill_s < 0 or a.stock_keys < 0:
        p.error("--messages and --payload-bytes must be >= 1, --prefill-s, --stock-keys >= 0")
    with tempfile.TemporaryDirectory(prefix="bench-apps-") as tmp:
        rows = run(a.messages, a.payload_bytes, a.prefill_s, Path(tmp), a.threads, a.stock_keys)
    print(json.dumps(rows, indent=1) if a.json else "\n".join([table(rows), *ratios(rows)]))


if __name__ == "__main__":
    main()
