"""`quaykey kme serve --workers 4` on PostgreSQL: exactly-once delivery across processes.

Both KMEs run as ``kme serve --workers 4`` subprocesses. Several clients per SAE open fresh
connections often, so their requests land on different worker processes. Checked: every
key ID is delivered once to its master and once to its slave, byte-equal; a key ID asked
for by four slaves' connections at once is delivered once; the key-rate quota holds for
the KME as a whole; a SIGKILL of one worker, then of the whole KME, under load, loses no
key the master received and delivers none twice. SQLite refuses ``--workers``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from kms_harness import PG_ENV, KmeProcess, PgSchemas, free_socket, wait_ready, write_network

from quaykey.kms.client import KmeClient, KmeClientError
from quaykey.kms.config import load_network_config
from quaykey.kms.service import KmeService
from quaykey.kms.store import verify_audit_chain

WORKERS = 4
N_MASTERS = 6
#: pairs per master (QUAYKEY_KMS_WORKERS_N overrides, for a quick run)
N_PAIRS = int(os.environ.get("QUAYKEY_KMS_WORKERS_N", "120"))
#: a client opens a new connection (likely another worker) every this many requests
RECONNECT_EVERY = 5
METERED_KEYS = 12  # the metered master's quota, in 256-bit keys per minute


class Kmes:
    """Network a-b on PostgreSQL, each KME served by ``--workers 4`` subprocesses."""

    def __init__(self, tmp_path: Path, pg: PgSchemas) -> None:
        self.masters = [f"m{i}" for i in range(N_MASTERS)]
        # even masters pair with a slave at KME a, odd ones with a slave at KME b
        self.slave_of = {m: f"s{i}" for i, m in enumerate(self.masters)}
        saes = {m: ("a", "logistics") for m in self.masters}
        saes |= {
            s: ("a" if i % 2 == 0 else "b", "logistics")
            for i, s in enumerate(self.slave_of.values())
        }
        saes |= {"q": ("a", "metered"), "qs": ("a", "metered")}
        socks = {n: free_socket() for n in ("a", "b")}
        self.ports = {n: s.getsockname()[1] for n, s in socks.items()}
        for s in socks.values():
            s.close()
        tenants = {
            "logistics": {"keys_outstanding": 100_000, "bits_per_minute": 10**10},
            "metered": {"keys_outstanding": 100_000, "bits_per_minute": 256 * METERED_KEYS},
        }
        self.cfg, self.pki = write_network(
            tmp_path,
            nodes=["a", "b"],
            links=[("a", "b")],
            saes=saes,
            pairs=[(m, s) for m, s in self.slave_of.items()] + [("q", "qs")],
            ports=self.ports,
            db_urls={n: pg.url_for(n) for n in ("a", "b")},
            tenants=tenants,
        )
        net = load_network_config(self.cfg)
        self.node_of = {s: e.node for s, e in net.saes.items()}
        svcs = {n: KmeService.from_settings(net.settings_for(n)) for n in ("a", "b")}
        for i in range(16):  # 1 MiB: far more link key than the relayed keys need
            material = secrets.token_bytes(65536)
            svcs["a"].deposit_link_key("b", f"blk{i}", material)
            svcs["b"].deposit_link_key("a", f"blk{i}", material)
        for s in svcs.values():
            s.close()
        self.procs = {n: KmeProcess(self.cfg, n, tmp_path / f"{n}.log", WORKERS) for n in "ab"}

    def client(self, sae: str) -> KmeClient:
        cert, key = self.pki.sae(sae)
        port = self.ports[self.node_of[sae]]
        return KmeClient(
            f"https://127.0.0.1:{port}", ca=self.pki.ca_cert, cert=cert, key=key, timeout_s=30
        )

    def start(self, *nodes: str) -> None:
        for n in nodes:
            self.procs[n].start()
        for n in nodes:
            probe = self.client("m0" if n == "a" else "s1")
            try:
                wait_ready(probe, "s0" if n == "a" else "m1", self.procs[n])
            finally:
                probe.close()

    def records(self, node: str) -> list[Any]:
        svc = KmeService.from_settings(load_network_config(self.cfg).settings_for(node))
        try:
            records = svc.store.audit_records()
            verify_audit_chain(records)
            return records
        finally:
            svc.close()

    def delivered(self, node: str, event: str) -> list[str]:
        return [k for r in self.records(node) if r.event == event for k in r.detail["key_IDs"]]

    def close(self) -> None:
        for p in self.procs.values():
            p.kill()


def workers_of(proc: KmeProcess) -> list[int]:
    assert proc.proc is not None
    pid = proc.proc.pid
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def kmes(tmp_path: Path) -> Any:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} not set")
    pg = PgSchemas(os.environ[PG_ENV])
    k = Kmes(tmp_path, pg)
    try:
        yield k
    finally:
        k.close()
        pg.drop()


class Pairs:
    """Masters and slaves doing Get key + Get key with key IDs, reconnecting often, and
    riding out a KME that is killed (a request cut off is retried on a new connection)."""

    def __init__(self, kmes: Kmes) -> None:
        self.kmes = kmes
        self.master_got: dict[str, tuple[str, str]] = {}  # key ID -> (master, key)
        self.slave_got: list[tuple[str, str]] = []
        self.cut_off: list[str] = []  # a slave's answer lost with its connection
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _slave_fetch(self, master: str, kid: str) -> None:
        slave = self.kmes.slave_of[master]
        deadline = time.monotonic() + 180
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            c = self.kmes.client(slave)
            try:
                got = c.get_key_with_key_ids(master, [kid]).keys[0]
                with self.lock:
                    self.slave_got.append((got.key_ID, got.key))
                return
            except httpx.TransportError:
                time.sleep(0.2)  # the slave's KME is down; the answer may have been lost
            except KmeClientError as exc:
                assert exc.status_code == 400 and attempt > 1, exc
                with self.lock:  # delivered by a request whose answer was cut off
                    self.cut_off.append(kid)
                return
            finally:
                c.close()
        raise AssertionError("slave KME did not come back")

    def run(self, master: str, n_pairs: int | None) -> None:
        try:
            done = 0
            slave = self.kmes.slave_of[master]
            c = self.kmes.client(master)
            while not self.stop.is_set() and (n_pairs is None or done < n_pairs):
                if done % RECONNECT_EVERY == 0:
                    c.close()
                    c = self.kmes.client(master)
                try:
                    k = c.get_key(slave).keys[0]
                except (httpx.TransportError, KmeClientError):
                    if n_pairs is not None:
                        raise
                    c.close()
                    c = self.kmes.client(master)
                    time.sleep(0.2)
                    continue
                with self.lock:
                    assert k.key_ID not in self.master_got, "a key ID was delivered twice"
                    self.master_got[k.key_ID] = (master, k.key)
                self._slave_fetch(master, k.key_ID)
                done += 1
            c.close()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def start(self, n_pairs: int | None = None) -> list[threading.Thread]:
        ts = [threading.Thread(target=self.run, args=(m, n_pairs)) for m in self.kmes.masters]
        for t in ts:
            t.start()
        return ts


def check_exactly_once(kmes: Kmes, pairs: Pairs) -> None:
    """Every key the master got reached its slave once, byte-equal; audits agree."""
    got = Counter(k for k, _ in pairs.slave_got)
    assert not [k for k, n in got.items() if n > 1], "a key was delivered twice to a slave"
    for kid, key in pairs.slave_got:
        assert pairs.master_got[kid][1] == key
    assert set(got) | set(pairs.cut_off) == set(pairs.master_got), "a key was lost"
    master_ids = kmes.delivered("a", "delivered_master")
    slave_ids = kmes.delivered("a", "delivered_slave") + kmes.delivered("b", "delivered_slave")
    assert len(master_ids) == len(set(master_ids)), "audit: delivered twice to a master"
    assert len(slave_ids) == len(set(slave_ids)), "audit: delivered twice to a slave"
    assert set(pairs.master_got) <= set(master_ids)
    assert set(slave_ids) <= set(master_ids)
    # a key the master got whose slave's answer was cut off was delivered (audited) once
    assert set(pairs.cut_off) <= set(slave_ids)


@pytest.mark.postgres
@pytest.mark.slow
def test_workers_deliver_each_key_once_under_concurrency(kmes: Kmes) -> None:
    kmes.start("b", "a")
    assert len(workers_of(kmes.procs["a"])) == WORKERS
    pairs = Pairs(kmes)
    for t in pairs.start(N_PAIRS):
        t.join(600)
    assert not pairs.errors, pairs.errors[:3]
    assert len(pairs.master_got) == N_MASTERS * N_PAIRS
    assert not pairs.cut_off
    check_exactly_once(kmes, pairs)

    # one key ID asked for by four connections of its slave at once: delivered once
    for master in ("m0", "m1"):  # slave at the same KME, slave one hop away
        mc = kmes.client(master)
        ids = [k.key_ID for k in mc.get_key(kmes.slave_of[master], number=8).keys]
        mc.close()
        for kid in ids:
            outcome: list[int] = []
            barrier = threading.Barrier(4)

            def race(
                kid: str = kid,
                master: str = master,
                outcome: list[int] = outcome,
                barrier: threading.Barrier = barrier,
            ) -> None:
                c = kmes.client(kmes.slave_of[master])
                c.status(master)  # connect first, so the four requests meet
                barrier.wait()
                try:
                    c.get_key_with_key_ids(master, [kid])
                    outcome.append(200)
                except KmeClientError as exc:
                    outcome.append(exc.status_code)
                finally:
                    c.close()

            ts = [threading.Thread(target=race) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            assert sorted(outcome) == [200, 400, 400, 400], outcome

    # the key-rate quota holds for the KME, not per worker
    granted = Counter[int]()

    def metered() -> None:
        for _ in range(METERED_KEYS):
            c = kmes.client("q")
            try:
                c.get_key("qs")
                granted[200] += 1
            except KmeClientError as exc:
                granted[exc.status_code] += 1
            finally:
                c.close()

    ts = [threading.Thread(target=metered) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert granted == {200: METERED_KEYS, 503: 2 * METERED_KEYS}


@pytest.mark.postgres
@pytest.mark.slow
def test_sigkill_of_a_worker_and_of_the_kme_under_load(kmes: Kmes) -> None:
    kmes.start("b", "a")
    pairs = Pairs(kmes)
    threads = pairs.start()
    time.sleep(3)
    victim = workers_of(kmes.procs["a"])[0]
    os.kill(victim, signal.SIGKILL)  # one worker: the supervisor starts another
    time.sleep(3)
    deadline = time.monotonic() + 30
    while len(workers_of(kmes.procs["a"])) != WORKERS or victim in workers_of(kmes.procs["a"]):
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    n_before = len(pairs.master_got)
    kmes.procs["a"].kill()  # the supervisor: its workers die with it
    time.sleep(1)
    kmes.procs["b"].kill()
    kmes.start("b", "a")
    deadline = time.monotonic() + 60
    while len(pairs.master_got) < n_before + 30:
        assert time.monotonic() < deadline and not pairs.errors, pairs.errors[:3]
        time.sleep(0.2)
    pairs.stop.set()
    for t in threads:
        t.join(300)
    assert not pairs.errors, pairs.errors[:3]
    check_exactly_once(kmes, pairs)


def test_sqlite_refuses_several_workers(tmp_path: Path) -> None:
    cfg, _ = write_network(
        tmp_path,
        nodes=["a"],
        links=[],
        saes={"m": ("a", "logistics"), "s": ("a", "logistics")},
        pairs=[("m", "s")],
    )
    cmd = [sys.executable, "-m", "quaykey.cli.main", "kme", "serve", "--node", "a"]
    r = subprocess.run(
        [*cmd, "--config", str(cfg), "--workers", "2"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "--workers 2" in r.stderr + r.stdout and "PostgreSQL" in r.stderr + r.stdout
