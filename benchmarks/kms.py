"""Benchmark: ETSI 014 Get key + Get key with key IDs pairs over mTLS with keep-alive.

Each KME runs as its own ``quaykey kme serve`` process on 127.0.0.1; client threads each
hold one keep-alive connection per KME. A *pair* is one Get key (GET ``enc_keys``) by the
master followed by one Get key with key IDs (GET ``dec_keys?key_ID=``) by the slave.

Scenarios: ``same-node`` (master and slave at one KME), ``relay-3-hop`` (master at
node a, slave at node d, path a-b-c-d, one-time pad on every hop, relayed at request time)
and ``stock-3-hop`` (the same route with the key stock on at node a: keys relayed ahead of
demand, filled before the clock starts and refilled in the background during the run), for
SQLite and, when ``--postgres-url`` (or ``QUAYKEY_TEST_POSTGRES_URL``) is given,
PostgreSQL. The last lines give each scenario's pairs/s as a ratio to ``same-node`` in the
same run, and the share of ``stock-3-hop`` Get keys the stock served.

Run::

    .venv/bin/python benchmarks/kms.py --seconds 10 --threads 4

Not a test: it prints a table. Link key material is fed with identical random bytes at
both ends before the servers start (benchmark only).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from quaykey.kms.client import KmeClient
from quaykey.kms.config import load_network_config
from quaykey.kms.pki import init_dev_pki
from quaykey.kms.service import KmeService
from quaykey.kms.store import create_master_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_schema_url(base: str, node: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"qkbench_{uuid.uuid4().hex[:8]}_{node}"
    eng = create_engine(base)
    with eng.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{name}"'))
    eng.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{name}"


def build(
    root: Path,
    nodes: list[str],
    links: list[list[str]],
    saes: dict[str, str],
    pairs: list[list[str]],
    db: str | None,
    stock: dict[str, Any] | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "pki_dir": "pki",
        "limits": {"key_size": 256, "max_key_count": 10**9},
        "nodes": {
            n: {
                "kme_id": f"KME-{n.upper()}",
                "port": free_port(),
                "database_url": pg_schema_url(db, n) if db else f"sqlite:///state/{n}.db",
                "master_key_file": f"state/{n}.key",
            }
            for n in nodes
        },
        "links": links,
        "tenants": {"bench": {"keys_outstanding": 10**9, "bits_per_minute": 10**13}},
        "saes": {s: {"node": n, "tenant": "bench"} for s, n in saes.items()},
        "pairs": pairs,
    }
    if stock:
        doc["stock"] = stock
    root.mkdir(parents=True)
    cfg = root / "network.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    init_dev_pki(root / "pki", nodes, list(saes), {n: f"KME-{n.upper()}" for n in nodes})
    for n in nodes:
        create_master_key(root / "state" / f"{n}.key")
    return cfg


def feed(cfg: Path, links: list[list[str]], n_bytes: int) -> None:
    net = load_network_config(cfg)
    svcs = {n: KmeService.from_settings(net.settings_for(n)) for n in net.nodes}
    block = 1 << 16
    for a, b in links:
        for i in range(n_bytes // block + 1):
            m = secrets.token_bytes(block)
            svcs[a].deposit_link_key(b, f"{a}{b}{i}", m)
            svcs[b].deposit_link_key(a, f"{a}{b}{i}", m)
    for s in svcs.values():
        s.close()


def serve(cfg: Path, workers: int = 1) -> list[subprocess.Popen[bytes]]:
    net = load_network_config(cfg)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quaykey.cli.main",
                "kme",
                "serve",
                "--node",
                n,
                "--config",
                str(cfg),
                "--log-level",
                "warning",
                "--workers",
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in net.nodes
    ]
    return procs


def client(cfg: Path, sae: str) -> KmeClient:
    net = load_network_config(cfg)
    node = net.nodes[net.saes[sae].node]
    pki = cfg.parent / "pki"
    return KmeClient(
        f"https://127.0.0.1:{node.port}",
        ca=pki / "ca.pem",
        cert=pki / f"sae-{sae}.pem",
        key=pki / f"sae-{sae}.key",
    )


def wait_ready(c: KmeClient, slave: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            c.status(slave)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_ports(cfg: Path) -> None:
    """Wait until every KME of the network accepts TCP connections."""
    net = load_network_config(cfg)
    deadline = time.monotonic() + 60
    for node in net.nodes.values():
        while True:
            try:
                socket.create_connection(("127.0.0.1", node.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class RawClient:
    """One mTLS keep-alive connection with :mod:`http.client` (much cheaper than httpx)."""

    def __init__(self, cfg: Path, sae: str) -> None:
        import http.client

        from quaykey.kms.pki import client_ssl_context

        net = load_network_config(cfg)
        node = net.nodes[net.saes[sae].node]
        pki = cfg.parent / "pki"
        ctx = client_ssl_context(pki / "ca.pem", pki / f"sae-{sae}.pem", pki / f"sae-{sae}.key")
        self.conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=ctx, timeout=30)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> dict[str, Any]:
        self.conn.request("GET", "/api/v1/keys/" + path)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
        out: dict[str, Any] = json.loads(body)
        return out

    def close(self) -> None:
        self.conn.close()


def _raw_worker(
    cfg: Path, master: str, slave: str, threads: int, start_at: float, stop_at: float
) -> tuple[list[float], float, float]:
    """One client process: ``threads`` threads, each with its own two connections."""
    lat: list[float] = []
    lock = threading.Lock()
    last = [start_at]

    def worker() -> None:
        m, s = RawClient(cfg, master), RawClient(cfg, slave)
        k = m.get(f"{slave}/enc_keys")["keys"][0]  # warm-up: open both connections
        s.get(f"{master}/dec_keys?key_ID={k['key_ID']}")
        time.sleep(max(0.0, start_at - time.time()))
        mine = []
        while time.time() < stop_at:
            t0 = time.perf_counter()
            k = m.get(f"{slave}/enc_keys")["keys"][0]
            got = s.get(f"{master}/dec_keys?key_ID={k['key_ID']}")["keys"][0]
            mine.append(time.perf_counter() - t0)
            assert got == k
        with lock:
            lat.extend(mine)
            last[0] = max(last[0], time.time())
        m.close()
        s.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    for t in ts:
        t.join()
    return lat, last[0], time.process_time() - cpu0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its worker processes so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(proc_cpu_s(int(k)) for k in kids)


def run_raw(
    cfg: Path,
    master: str,
    slave: str,
    seconds: float,
    threads: int,
    procs: int,
    server_pids: list[int],
) -> dict[str, float]:
    """Like :func:`run` with :class:`RawClient` connections spread over ``procs`` processes."""
    import multiprocessing

    start_at = time.time() + 3.0
    stop_at = start_at + seconds
    per = [threads // procs + (1 if i < threads % procs else 0) for i in range(procs)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        pending = [
            pool.apply_async(_raw_worker, (cfg, master, slave, n, start_at, stop_at))
            for n in per
            if n
        ]
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = sum(proc_cpu_s(p) for p in server_pids)
        res = [p.get(seconds + 60) for p in pending]
        cpu1 = sum(proc_cpu_s(p) for p in server_pids)
    lat = sorted(x for r in res for x in r[0])
    wall = max(r[1] for r in res) - start_at
    return {
        "pairs": len(lat),
        "pairs_per_s": len(lat) / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "server_cpu_ms_per_pair": 1000 * (cpu1 - cpu0) / max(1, len(lat)),
        "server_cores": (cpu1 - cpu0) / wall,
        "client_cpu_ms_per_pair": 1000 * sum(r[2] for r in res) / max(1, len(lat)),
    }


def run(cfg: Path, master: str, slave: str, seconds: float, threads: int) -> dict[str, float]:
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    warm = threading.Barrier(threads + 1)

    def worker() -> None:
        m, s = client(cfg, master), client(cfg, slave)
        k = m.get_key(slave).keys[0]  # warm-up: open both connections
        s.get_key_with_key_ids(master, [k.key_ID])
        warm.wait()
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            k = m.get_key(slave).keys[0]
            got = s.get_key_with_key_ids(master, [k.key_ID]).keys[0]
            mine.append(time.perf_counter() - t0)
            assert got.key == k.key
        with lock:
            lat.extend(mine)
        m.close()
        s.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    warm.wait()
    t0 = time.monotonic()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    return {
        "pairs": len(lat),
        "pairs_per_s": len(lat) / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    }


SCENARIOS = {
    "same-node": {
        "nodes": ["a"],
        "links": [],
        "saes": {"m": "a", "s": "a"},
        "pairs": [["m", "s"]],
    },
    "relay-3-hop": {
        "nodes": ["a", "b", "c", "d"],
        "links": [["a", "b"], ["b", "c"], ["c", "d"]],
        "saes": {"m": "a", "s": "d"},
        "pairs": [["m", "s"]],
    },
    "stock-3-hop": {
        "nodes": ["a", "b", "c", "d"],
        "links": [["a", "b"], ["b", "c"], ["c", "d"]],
        "saes": {"m": "a", "s": "d"},
        "pairs": [["m", "s"]],
        "stock": {
            "enabled": True,
            "target_keys": 4096,
            "refill_batch": 128,
            "refill_interval_s": 0.05,
        },
    },
}


def wait_stock_full(cfg: Path, node: str, timeout_s: float = 120.0) -> KmeService:
    """Wait until the stocks of ``node`` are at their bound; returns a reader of its store."""
    svc = KmeService.from_settings(load_network_config(cfg).settings_for(node))
    deadline = time.monotonic() + timeout_s
    while True:
        by_node = svc.stock_report()["by_node"]
        if by_node and all(v["ready_keys"] >= v["target_keys"] for v in by_node.values()):
            return svc
        if time.monotonic() > deadline:
            svc.close()
            raise RuntimeError(f"key stock of {node} did not fill: {by_node}")
        time.sleep(0.2)


def stock_share(svc: KmeService) -> float:
    """Share of the Get keys delivered at this KME that the stock served."""
    sources = [
        r.detail.get("source") for r in svc.store.audit_records() if r.event == "delivered_master"
    ]
    return sum(1 for x in sources if x == "stock") / max(1, len(sources))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4, help="client connections (pairs in flight)")
    ap.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: http.client keep-alive connections (light); httpx: quaykey's KmeClient",
    )
    ap.add_argument("--procs", type=int, default=1, help="client processes (raw client only)")
    ap.add_argument("--postgres-url", default=os.environ.get("QUAYKEY_TEST_POSTGRES_URL"))
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    ap.add_argument(
        "--stock-keys",
        type=int,
        default=4096,
        help="bound of the stock in stock-3-hop (smaller than the run's demand: sustained refill)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes per KME (`kme serve --workers`; above 1: PostgreSQL only)",
    )
    args = ap.parse_args()
    if args.stock_keys < 128:
        ap.error("--stock-keys must be at least 128 (one refill batch)")
    SCENARIOS["stock-3-hop"]["stock"]["target_keys"] = args.stock_keys
    backends: list[tuple[str, str | None]] = [("sqlite", None)] if args.workers == 1 else []
    if args.workers > 1 and not args.postgres_url:
        ap.error("--workers above 1 needs --postgres-url (SQLite serves one process)")
    if args.postgres_url:
        backends.append(("postgresql", args.postgres_url))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for bname, url in backends:
            for sname in args.scenario or list(SCENARIOS):
                sc = SCENARIOS[sname]
                cfg = build(
                    Path(tmp) / f"{bname}-{sname}",
                    sc["nodes"],
                    sc["links"],
                    sc["saes"],
                    sc["pairs"],
                    url,
                    sc.get("stock"),
                )
                # enough link key for ~3000 pairs/s over the run (64 bytes per relayed key)
                feed(cfg, sc["links"], int(64 * 3000 * (args.seconds + 2)))
                procs = serve(cfg, args.workers)
                try:
                    wait_ports(cfg)
                    probe = client(cfg, "m")
                    try:
                        wait_ready(probe, "s")
                    finally:
                        # an idle keep-alive connection left open (and inherited by forked
                        # client processes) holds up the KME's graceful TLS shutdown
                        probe.close()
                    reader = wait_stock_full(cfg, "a") if sc.get("stock") else None
                    if args.client == "raw":
                        r = run_raw(
                            cfg,
                            "m",
                            "s",
                            args.seconds,
                            args.threads,
                            args.procs,
                            [p.pid for p in procs],
                        )
                    else:
                        r = run(cfg, "m", "s", args.seconds, args.threads)
                    if reader is not None:
                        r["from_stock"] = stock_share(reader)
                        reader.close()
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        try:
                            p.wait(20)
                        except subprocess.TimeoutExpired:
                            print(
                                f"KME process {p.pid} ignored SIGTERM; killing it", file=sys.stderr
                            )
                            p.kill()
                            p.wait()
                rows.append((bname, sname, r))
    print(
        f"cores: {os.cpu_count()}  client: {args.client} ({args.procs} process(es))  "
        f"connections per KME: {args.threads}  seconds: {args.seconds}  "
        f"workers per KME: {args.workers}  "
        "(pair = GET enc_keys + GET dec_keys, 256-bit key, mTLS keep-alive)"
    )
    print(
        f"{'backend':<11} {'scenario':<12} {'pairs':>7} {'pairs/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'srv ms/pair':>11} {'srv cores':>9} {'cli ms/pair':>11}"
    )
    for bname, sname, r in rows:
        print(
            f"{bname:<11} {sname:<12} {r['pairs']:>7} {r['pairs_per_s']:>9.1f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            f" {r.get('server_cpu_ms_per_pair', float('nan')):>11.2f}"
            f" {r.get('server_cores', float('nan')):>9.2f}"
            f" {r.get('client_cpu_ms_per_pair', float('nan')):>11.2f}"
        )
    for bname in dict.fromkeys(b for b, _, _ in rows):
        by = {sname: r for b, sname, r in rows if b == bname}
        if "same-node" not in by:
            continue
        local = by["same-node"]["pairs_per_s"]
        for sname, r in by.items():
            if sname != "same-node":
                extra = f" (served from stock: {r['from_stock']:.0%})" if "from_stock" in r else ""
                print(
                    f"{bname}: {sname} / same-node = {r['pairs_per_s'] / local:.2f}"
                    f" (local is {local / r['pairs_per_s']:.2f}x){extra}"
                )


if __name__ == "__main__":
    main()
