"""`quaykey network simulate --kme-config`: the command alone fills running KMEs.

Two KMEs run as `quaykey kme serve` subprocesses (uvicorn, HTTPS with mutual TLS, SQLite in
WAL mode). `quaykey network simulate --fidelity exact --kme-config FILE` runs a one-link
topology whose nodes are the KMEs' nodes; each end's post-processed key goes into its own
node's KME. An SAE at one end then gets a key for an SAE at the other end over ETSI GS QKD
014. The same seeded simulation run again in this process, with a recording sink, gives the
link's key block by block: the KMEs hold exactly those bytes, and the relay that delivered
the SAE key spent (and zeroed) bytes of the link's first block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from kms_harness import free_socket, write_network
from sqlalchemy import select
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.kms.client import KmeClient, KmeClientError
from quaykey.kms.config import FAULT_ENV, load_network_config
from quaykey.kms.relay import MAC_KEY_BYTES
from quaykey.kms.service import KmeService
from quaykey.kms.store import Store, link_blocks_t
from quaykey.network.presets import load_topology_file
from quaykey.network.sim import NetworkSimulation, SimulationConfig

TOPOLOGY = """\
name: one-link
defaults: {preset: backbone, overrides: {"source.repetition_rate_hz": 1000000}}
nodes:
  - {name: a, lat_deg: 30.62, lon_deg: 122.06}
  - {name: b, lat_deg: 30.90, lon_deg: 121.93}
links:
  - {a: a, b: b, length_km: 20.0}
"""
SEED = 7
KEY_BITS = 256


def _serve(cfg: Path, node: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop(FAULT_ENV, None)
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "quaykey.cli.main", "kme", "serve", "--node", node,
             "--config", str(cfg), "--log-level", "warning"],
            stdout=fh, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def _wait_ready(client: KmeClient, slave: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            client.status(slave)
            return
        except (httpx.TransportError, KmeClientError):
            time.sleep(0.2)
    raise AssertionError("KME did not become ready")


def _stored(cfg: Path, node: str, peer: str) -> dict[str, bytes]:
    svc = KmeService.from_settings(load_network_config(cfg).settings_for(node))
    try:
        store: Store = svc.store
        with store.read() as conn:
            rows = conn.execute(
                select(link_blocks_t.c.block_id, link_blocks_t.c.blob).where(
                    link_blocks_t.c.peer == peer
                )
            ).all()
        return {
            r.block_id: bytes(store.sealer.open(f"link|{peer}|{r.block_id}", r.blob)) for r in rows
        }
    finally:
        svc.close()


def _recorded(topology_file: Path) -> dict[str, bytes]:
    """The link's key per block, from the same seeded run in this process (end a's copy)."""
    got: dict[str, bytes] = {}

    def sink(link: str, node: str, peer: str, block_id: str, key: bytes) -> None:
        if node == "a":
            got[block_id] = key

    cfg = SimulationConfig(
        duration_s=600, fidelity="exact", block_duration_s=300, seed=SEED, demands=()
    )
    NetworkSimulation(load_topology_file(topology_file), cfg, key_sink=sink).run()
    return got


@pytest.mark.slow
def test_network_simulate_fills_running_kmes_and_an_sae_pair_gets_link_key(
    tmp_path: Path,
) -> None:
    socks = {n: free_socket() for n in ("a", "b")}
    ports = {n: s.getsockname()[1] for n, s in socks.items()}
    for s in socks.values():
        s.close()  # the servers bind these ports themselves
    cfg, pki = write_network(
        tmp_path / "kms",
        nodes=["a", "b"],
        links=[("a", "b")],
        saes={"terminal": ("a", "logistics"), "customs": ("b", "logistics")},
        pairs=[("terminal", "customs")],
        ports=ports,
    )
    topo = tmp_path / "one-link.yaml"
    topo.write_text(TOPOLOGY)
    logs = {n: tmp_path / f"kme-{n}.log" for n in ("a", "b")}
    procs = {n: _serve(cfg, n, logs[n]) for n in ("a", "b")}
    clients: list[KmeClient] = []
    try:

        def client(sae: str, node: str) -> KmeClient:
            cert, key = pki.sae(sae)
            c = KmeClient(f"https://127.0.0.1:{ports[node]}", ca=pki.ca_cert, cert=cert, key=key)
            clients.append(c)
            return c

        master, slave = client("terminal", "a"), client("customs", "b")
        _wait_ready(master, "customs", procs["a"], logs["a"])
        _wait_ready(slave, "terminal", procs["b"], logs["b"])
        assert master.status("customs").stored_key_count == 0  # nothing before the run

        args = ["network", "simulate", "--topology", str(topo), "--hours", str(600 / 3600),
                "--block-s", "300", "--fidelity", "exact", "--seed", str(SEED),
                "--kme-config", str(cfg), "--json"]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["kme_feed"]["deposited_blocks"] == 4 and out["kme_feed"]["skipped_blocks"] == 0

        # The KMEs hold the link's post-processed key, block by block, at both ends.
        recorded = _recorded(topo)
        assert set(recorded) == {"a--b/1", "a--b/2"}
        at_a, at_b = _stored(cfg, "a", "b"), _stored(cfg, "b", "a")
        assert at_a == at_b == recorded

        # An SAE pair at the two ends of the link gets a key over ETSI GS QKD 014.
        container = master.get_key("customs", number=1, size=KEY_BITS)
        same = slave.get_key_with_key_ids("terminal", [container.keys[0].key_ID])
        key = KmeClient.key_bytes(container.keys[0])
        assert len(key) == KEY_BITS // 8 and key == KmeClient.key_bytes(same.keys[0])

        # ... paid with the link's key: the relay zeroed the first MAC + key bytes of a's
        # send half of block 1 at both ends; every other byte is still the recorded key.
        need = MAC_KEY_BYTES + KEY_BITS // 8
        first = recorded["a--b/1"]
        lo, _ = Store.send_half(len(first), True)
        for spent in (_stored(cfg, "a", "b")["a--b/1"], _stored(cfg, "b", "a")["a--b/1"]):
            assert spent[lo : lo + need] == bytes(need) != first[lo : lo + need]
            assert spent[:lo] == first[:lo] and spent[lo + need :] == first[lo + need :]
    finally:
        for c in clients:
            c.close()
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
