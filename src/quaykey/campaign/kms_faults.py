"""KME scenarios: kill -9 during relay, a partition, a full disk under the audit log, replay.

Every KME here is a real one: ``quaykey kme serve`` in its own process (kill -9 scenario) or
a :class:`~quaykey.kms.app.ThreadedKme` (the others), HTTPS with mutual TLS on 127.0.0.1,
SQLite, and a three-node chain ``a -- m -- b`` so that every key crosses the middle KME by
hop-by-hop relay (ETSI GS QKD 014 for the SAEs ``alice`` at ``a`` and ``bob`` at ``b``).
Link key is deposited as identical random bytes at both ends of each link.

The invariants, checked from the KMEs' own audit chains after the run:

* no key ID is delivered twice to the master, nor twice to the slave;
* every key the master received is served to the slave, with the same bytes (none lost);
* no link-key byte pays for two relays;
* every audit chain verifies.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from quaykey.campaign.findings import ScenarioResult
from quaykey.errors import KmeClientError
from quaykey.kms.client import KmeClient
from quaykey.kms.config import FAULT_ENV
from quaykey.kms.lab import KmeLab
from quaykey.kms.service import KmeService
from quaykey.kms.store import verify_audit_chain

__all__ = ["add_chains", "add_twice", "check_chains", "kill_during_relay", "partition"]

Progress = Callable[[str], None]

NODES = ("a", "m", "b")
LINKS = (("a", "m"), ("m", "b"))
SAES = {"alice": "a", "bob": "b"}
#: Link key deposited per link: 1,024 blocks of 64 bytes pay for 1,024 relays of 256 bits.
_LINK_BYTES = 64 * 1024
#: Crash points on the master's side of a relay, and on the slave's.
MASTER_POINTS = ("after_far_reservation", "after_confirm", "after_local_commit", "before_response")
SLAVE_POINTS = ("after_slave_commit",)
_CYCLES = {"short": 4, "full": 100}
_PEER = {"a": "bob", "b": "alice"}


def _lab(root: Path, serve: bool) -> KmeLab:
    return KmeLab(root, NODES, LINKS, SAES, [("alice", "bob")], serve=serve)


def _deposit(lab: KmeLab, block: str) -> None:
    """The same random link key at both ends of every link (written to the KMEs' stores)."""
    for u, v in LINKS:
        material = secrets.token_bytes(_LINK_BYTES)
        for node, peer in ((u, v), (v, u)):
            svc = lab.kmes[node].service if node in lab.kmes else None
            owned = svc is None
            if svc is None:
                svc = KmeService.from_settings(lab.config.settings_for(node))
            try:
                svc.deposit_link_key(peer, f"{block}-{u}{v}", material)
            finally:
                if owned:
                    svc.close()


def _delivered_to_slave(lab: KmeLab) -> set[str]:
    """Key IDs the slave's KME (node ``b``) recorded as delivered."""
    svc = KmeService.from_settings(lab.config.settings_for("b"))
    try:
        records = svc.store.audit_records()
    finally:
        svc.close()
    return {k for r in records if r.event == "delivered_slave" for k in r.detail["key_IDs"]}


def add_twice(
    res: ScenarioResult,
    counts: dict[str, int],
    trials: int,
    figure: str = "key IDs delivered twice",
) -> None:
    """The finding that no key ID was delivered twice (by :func:`check_chains`' counts)."""
    n = counts["master_twice"] + counts["slave_twice"]
    res.add(figure, n, "0", n == 0, trials)


def add_chains(res: ScenarioResult, counts: dict[str, int]) -> None:
    """The finding that every KME's audit chain verifies (by :func:`check_chains`' counts)."""
    res.add(
        "audit chains that fail to verify",
        counts["chains_broken"],
        "0",
        counts["chains_broken"] == 0,
        len(NODES),
    )


def check_chains(lab: KmeLab) -> dict[str, int]:
    """Count invariant violations in the KMEs' audit chains (closed KMEs: read the stores)."""
    counts = {"master_twice": 0, "slave_twice": 0, "link_bytes_twice": 0, "chains_broken": 0}
    master: list[str] = []
    slave: list[str] = []
    for node in NODES:
        svc = KmeService.from_settings(lab.config.settings_for(node))
        try:
            records = svc.store.audit_records()
        finally:
            svc.close()
        try:
            verify_audit_chain(records)
        except Exception:
            counts["chains_broken"] += 1
        used: set[tuple[str, int]] = set()
        for r in records:
            if r.event == "delivered_master":
                master.extend(r.detail["key_IDs"])
            elif r.event == "delivered_slave":
                slave.extend(r.detail["key_IDs"])
            elif r.event == "relay_sent":
                for block_id, start, length in r.detail["segments"]:
                    for i in range(start, start + length):
                        counts["link_bytes_twice"] += (block_id, i) in used
                        used.add((block_id, i))
    counts["master_twice"] = len(master) - len(set(master))
    counts["slave_twice"] = len(slave) - len(set(slave))
    return counts


class _Proc:
    """``quaykey kme serve`` for one node, in its own process."""

    def __init__(self, lab: KmeLab, node: str) -> None:
        self.lab, self.node = lab, node
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = lab.root / f"{node}.log"

    def start(self, fault: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
        if fault:
            env[FAULT_ENV] = fault
        cmd = [
            sys.executable,
            "-m",
            "quaykey.cli.main",
            "kme",
            "serve",
            "--node",
            self.node,
            "--config",
            str(self.lab.root / "network.yaml"),
            "--log-level",
            "warning",
        ]
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, client: KmeClient, peer: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"KME {self.node} exited: {self.log.read_text()[-800:]}")
            try:
                client.status(peer)
                return
            except (httpx.TransportError, KmeClientError):
                time.sleep(0.1)
        raise RuntimeError(f"KME {self.node} did not become ready in {timeout_s:.0f} s")

    def wait_killed(self, timeout_s: float = 20.0) -> bool:
        assert self.proc is not None
        return self.proc.wait(timeout_s) == -signal.SIGKILL

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(20)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="quaykey-campaign-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _clients(lab: KmeLab) -> tuple[KmeClient, KmeClient]:
    def one(sae: str) -> KmeClient:
        cert, key = lab.pki.sae(sae)
        return KmeClient(lab.url(SAES[sae]), ca=lab.pki.ca_cert, cert=cert, key=key, timeout_s=20)

    return one("alice"), one("bob")


def kill_during_relay(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """SIGKILL a KME at a point inside a relay, restart it, again and again; then audit."""
    cycles = _CYCLES[size]
    res = ScenarioResult("kill-9", "KME kill -9 during relay")
    res.settings = {
        "nodes": list(NODES),
        "cycles": cycles,
        "points": [*MASTER_POINTS, *SLAVE_POINTS],
    }
    rnd = random.Random(seed)
    with _workdir() as root:
        lab = _lab(root, serve=False)
        _deposit(lab, "blk")
        procs = {n: _Proc(lab, n) for n in NODES}
        alice, bob = _clients(lab)
        received: dict[str, bytes] = {}
        crashed_slave: set[str] = set()
        killed = 0
        try:
            for n in NODES:
                procs[n].start()
            procs["a"].wait_ready(alice, "bob")
            procs["b"].wait_ready(bob, "alice")
            clients = {"a": alice, "b": bob}
            for i in range(cycles):
                killed += _one_kill(i, rnd, procs, clients, crashed_slave)
                progress(f"kill -9 during relay: {i + 1}/{cycles}")
            for node in ("a", "b"):
                if not procs[node].running:
                    procs[node].start()
                    procs[node].wait_ready(clients[node], _PEER[node])
            for _ in range(3):  # after the crashes, keys still flow
                k = alice.get_key("bob").keys[0]
                received[k.key_ID] = KmeClient.key_bytes(k)
            lost = 0
            for key_id, material in received.items():
                with contextlib.suppress(KmeClientError):
                    got = bob.get_key_with_key_ids("alice", [key_id]).keys[0]
                    lost += KmeClient.key_bytes(got) != material
                    continue
                lost += 1
            # a slave KME killed after committing the delivery, before answering: the key
            # counts as delivered and is never served again (exactly once, not at least once)
            served_again = 0
            for key_id in crashed_slave:
                with contextlib.suppress(KmeClientError):
                    bob.get_key_with_key_ids("alice", [key_id])
                    served_again += 1
        finally:
            alice.close()
            bob.close()
            for p in procs.values():
                p.stop()
        counts = check_chains(lab)
        committed = _delivered_to_slave(lab) & crashed_slave
    res.add(
        "KMEs killed inside a relay (SIGKILL seen)", killed, f"{cycles}", killed == cycles, cycles
    )
    res.add(
        "keys the master received that the slave could not get (lost)",
        lost,
        "0",
        lost == 0,
        len(received),
    )
    res.add(
        "slave KME killed after committing a delivery: deliveries in its audit chain",
        len(committed),
        f"{len(crashed_slave)} (committed, so never served again)",
        len(committed) == len(crashed_slave),
        len(crashed_slave),
    )
    res.add(
        "those keys served again after the restart",
        served_again,
        "0 (exactly once: the response was lost, the key is not re-served)",
        served_again == 0,
        len(crashed_slave),
    )
    add_twice(res, counts, len(received), "key IDs delivered twice (master or slave)")
    res.add(
        "link-key bytes used for two relays",
        counts["link_bytes_twice"],
        "0",
        counts["link_bytes_twice"] == 0,
        cycles,
    )
    add_chains(res, counts)
    return res


def _one_kill(
    cycle: int,
    rnd: random.Random,
    procs: dict[str, _Proc],
    clients: dict[str, KmeClient],
    crashed_slave: set[str],
) -> int:
    """One crash: (re)start a KME with a crash point armed and drive a request into it.

    The victim stays down afterwards; a KME that is down when another is the victim is
    restarted clean first.
    """
    # every fourth crash is the slave's; the others at a random point of the master's relay
    victim, point = ("b", SLAVE_POINTS[0]) if cycle % 4 == 3 else ("a", rnd.choice(MASTER_POINTS))
    for node in ("a", "b"):
        if node != victim and not procs[node].running:
            procs[node].start()
            procs[node].wait_ready(clients[node], _PEER[node])
    procs[victim].stop()
    procs[victim].start(fault=point)
    procs[victim].wait_ready(clients[victim], _PEER[victim])
    if victim == "a":
        with contextlib.suppress(httpx.TransportError):
            clients["a"].get_key("bob")
    else:
        k = clients["a"].get_key("bob").keys[0]
        crashed_slave.add(k.key_ID)
        with contextlib.suppress(httpx.TransportError):
            clients["b"].get_key_with_key_ids("alice", [k.key_ID])
    return int(procs[victim].wait_killed())


def partition(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """The middle KME unreachable (a partition, or its fibre cut) while the master asks for keys."""
    trials = {"short": 3, "full": 50}[size]
    res = ScenarioResult("partition", "A partition between KMEs (fibre cut during relay)")
    res.settings = {"nodes": list(NODES), "trials": trials}
    with _workdir() as root:
        lab = _lab(root, serve=True)
        _deposit(lab, "blk")
        alice, bob = _clients(lab)
        errors: dict[int, int] = {}
        delivered_during = lost = 0
        try:
            before = lab.kmes["a"].service.pools()
            lab.stop_node("m")
            for i in range(trials):
                try:
                    alice.get_key("bob")
                    delivered_during += 1
                except KmeClientError as exc:
                    errors[exc.status_code] = errors.get(exc.status_code, 0) + 1
                progress(f"partition: request {i + 1}/{trials}")
            after = lab.kmes["a"].service.pools()
            lab.start_node("m")
            k = alice.get_key("bob").keys[0]
            got = bob.get_key_with_key_ids("alice", [k.key_ID]).keys[0]
            lost += KmeClient.key_bytes(got) != KmeClient.key_bytes(k)
        finally:
            alice.close()
            bob.close()
            lab.close()
        counts = check_chains(lab)
    unavailable = errors.get(503, 0)
    res.add(
        "requests during the partition answered 503 (named, retryable)",
        unavailable,
        f"{trials}",
        unavailable == trials,
        trials,
    )
    res.add(
        "keys delivered during the partition", delivered_during, "0", delivered_during == 0, trials
    )
    spent = before["links"]["m"]["sendable_bytes"] - after["links"]["m"]["sendable_bytes"]
    per = spent / trials
    # a pad that may have left is never reused: a failed hop burns its pad and tag, no more
    res.add(
        "link-key bytes burnt per failed relay (never reused)",
        per,
        "<= 64 (one hop)",
        per <= 64,
        trials,
    )
    res.add("keys lost once the partition healed", lost, "0", lost == 0, 1)
    add_twice(res, counts, trials, "key IDs delivered twice")
    return res
