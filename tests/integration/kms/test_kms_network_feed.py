"""Network layer -> KMEs: exact-fidelity link keys feed real KMEs that relay an SAE key.

Three trusted nodes in a line (two 20 km ``backbone`` fibre links at 1 MHz so that exact
fidelity runs in about a second per link), one real uvicorn HTTPS KME per node (mTLS,
SQLite files). The network's ``key_sink`` is :func:`quaykey.kms.feed.link_key_sink`; an
SAE at one end of the line then gets a key for an SAE at the other end, relayed over both
links with the QKD link keys the simulation produced.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from sqlalchemy import select

from quaykey.kms.client import KmeClient
from quaykey.kms.feed import link_key_sink
from quaykey.kms.relay import MAC_KEY_BYTES
from quaykey.kms.service import KmeService
from quaykey.kms.store import Store, link_blocks_t
from quaykey.network.sim import KeySink, NetworkSimulation, SimulationConfig, key_bytes
from quaykey.network.topology import Topology, topology_from_dict

NODES = ["yangshan", "lingang", "pudong"]
LINKS = [("yangshan", "lingang"), ("lingang", "pudong")]
LINK_NAMES = ["yangshan--lingang", "lingang--pudong"]
KMS_LINE = {
    "nodes": NODES,
    "links": LINKS,
    "saes": {"terminal": ("yangshan", "logistics"), "customs": ("pudong", "government")},
    "pairs": [("terminal", "customs")],
}
KEY_BITS = 256
N_KEYS = 2


def line_topology() -> Topology:
    """The KMS line as a network topology: 20 km hops of the backbone preset at 1 MHz."""
    return topology_from_dict(
        {
            "name": "yangshan-line",
            "defaults": {
                "preset": "backbone",
                "overrides": {"source.repetition_rate_hz": 1e6},
            },
            "nodes": [
                {"name": "yangshan", "lat_deg": 30.62, "lon_deg": 122.06},
                {"name": "lingang", "lat_deg": 30.90, "lon_deg": 121.93},
                {"name": "pudong", "lat_deg": 31.22, "lon_deg": 121.54},
            ],
            "links": [{"a": a, "b": b, "length_km": 20.0} for a, b in LINKS],
        }
    )


def run_exact(sink: KeySink, seed: int) -> tuple[NetworkSimulation, dict[str, Any]]:
    """Two 300 s exact blocks per link, no network-side demands (the KMEs relay)."""
    cfg = SimulationConfig(
        duration_s=600, fidelity="exact", block_duration_s=300, seed=seed, demands=()
    )
    sim = NetworkSimulation(line_topology(), cfg, key_sink=sink)
    return sim, sim.run().to_dict()


def stored_blocks(service: KmeService, peer: str) -> dict[str, bytes]:
    """The link key blocks this KME holds for ``peer``, unsealed (test read path)."""
    store: Store = service.store
    with store.read() as conn:
        rows = conn.execute(
            select(link_blocks_t.c.block_id, link_blocks_t.c.blob).where(
                link_blocks_t.c.peer == peer
            )
        ).all()
    return {r.block_id: bytes(store.sealer.open(f"link|{peer}|{r.block_id}", r.blob)) for r in rows}


def link_pool(service: KmeService, peer: str) -> tuple[int, int]:
    """``(sendable_bytes, receivable_bytes)`` of this KME towards ``peer``."""
    p = service.pools()["links"][peer]
    return p["sendable_bytes"], p["receivable_bytes"]


def leaked(blocks: list[bytes], text: str) -> list[int]:
    """Indices of the blocks whose 12-byte prefix is in ``text`` (raw, hex or base64)."""
    found = []
    for i, b in enumerate(blocks):
        head = b[:12]
        if head.hex() in text or base64.b64encode(head).decode() in text or repr(head) in text:
            found.append(i)
    return found


def test_network_link_keys_feed_kmes_that_relay_an_sae_key_end_to_end(
    make_net: Any, caplog: pytest.LogCaptureFixture
) -> None:
    net = make_net(**KMS_LINE)
    services = {n: net.kmes[n].service for n in NODES}
    sink = link_key_sink(services)
    with caplog.at_level(logging.DEBUG, logger="quaykey.kms"):
        _, report = run_exact(sink, seed=11)

    # every block of every link reached the KME at each of its two ends, none skipped
    counters = sink.counters
    assert counters.skipped_blocks == {} and counters.total_skipped_blocks == 0
    for link, row in zip(LINK_NAMES, report["links"], strict=True):
        assert row["name"] == link and row["blocks"] == 2 and row["aborted_blocks"] == 0
        a, b = link.split("--")
        assert counters.deposited_blocks[(link, a)] == counters.deposited_blocks[(link, b)] == 2
        # the network's key bits, packed into whole bytes, are what reached each KME
        assert counters.deposited_bytes[(link, a)] == counters.deposited_bytes[(link, b)]
        assert 0 <= row["key_bits"] - 8 * counters.deposited_bytes[(link, a)] < 8 * 2

    # both ends' KMEs hold the same blocks, byte for byte (Alice's key at one end, Bob's at
    # the other, each read back from its own KME's database)
    before: dict[tuple[str, str], dict[str, bytes]] = {}
    for link, (x, y) in zip(LINK_NAMES, LINKS, strict=True):
        at_x, at_y = stored_blocks(services[x], y), stored_blocks(services[y], x)
        assert set(at_x) == set(at_y) == {f"{link}/1", f"{link}/2"}
        for block_id in at_x:
            assert len(at_x[block_id]) > 1000
            assert at_x[block_id] == at_y[block_id], block_id
        assert sum(map(len, at_x.values())) == counters.deposited_bytes[(link, x)]
        before[(x, y)], before[(y, x)] = at_x, at_y

    # pool accounting: each end may send from its own half of every block
    pools0 = {(x, y): link_pool(services[x], y) for x, y in before}
    for (x, y), blocks in before.items():
        halves = [Store.send_half(len(v), x < y) for v in blocks.values()]
        assert pools0[(x, y)][0] == sum(hi - lo for lo, hi in halves)
        assert pools0[(x, y)][1] == pools0[(y, x)][0]

    master = net.client("terminal")
    slave = net.client("customs")
    status0 = master.status("customs")
    first_hop_bytes = pools0[("yangshan", "lingang")][0]
    assert status0.stored_key_count == (first_hop_bytes - MAC_KEY_BYTES) // (KEY_BITS // 8)

    # a master SAE at yangshan gets keys for a slave SAE at pudong, relayed over lingang
    container = master.get_key("customs", number=N_KEYS, size=KEY_BITS)
    got = slave.get_key_with_key_ids("terminal", [k.key_ID for k in container.keys])
    assert [k.key_ID for k in got.keys] == [k.key_ID for k in container.keys]
    for mine, theirs in zip(container.keys, got.keys, strict=True):
        key = KmeClient.key_bytes(mine)
        assert len(key) == KEY_BITS // 8 and key == KmeClient.key_bytes(theirs)

    # each hop spent exactly what the relay needs, at both ends, in the direction of travel
    need = MAC_KEY_BYTES + N_KEYS * KEY_BITS // 8
    pools1 = {(x, y): link_pool(services[x], y) for x, y in before}
    for x, y in LINKS:
        assert pools0[(x, y)][0] - pools1[(x, y)][0] == need, (x, y)  # sender's half
        assert pools0[(y, x)][1] - pools1[(y, x)][1] == need, (x, y)  # receiver's copy
        assert pools1[(y, x)][0] == pools0[(y, x)][0]  # the other direction is untouched
        assert pools1[(x, y)][1] == pools0[(x, y)][1]
    status1 = master.status("customs")
    assert status1.stored_key_count == (first_hop_bytes - need - MAC_KEY_BYTES) // (KEY_BITS // 8)
    assert services["lingang"].pools()["held_keys"] == {}  # the trusted relay keeps nothing

    # both ends zeroed the same bytes: the oldest block's sender half, first `need` bytes
    for x, y in LINKS:
        link = f"{x}--{y}"
        at_x, at_y = stored_blocks(services[x], y), stored_blocks(services[y], x)
        assert at_x == at_y
        spent = at_x[f"{link}/1"]
        lo, _ = Store.send_half(len(spent), x < y)
        assert spent[lo : lo + need] == bytes(need)
        old = before[(x, y)][f"{link}/1"]
        assert spent[:lo] == old[:lo] and spent[lo + need :] == old[lo + need :]
        assert at_x[f"{link}/2"] == before[(x, y)][f"{link}/2"]

    # the feed logged block IDs and lengths, never key material
    feed_lines = [r.getMessage() for r in caplog.records if r.name == "quaykey.kms.feed"]
    assert len(feed_lines) == 8 and all("bytes" in line for line in feed_lines)
    all_blocks = [v for per_peer in before.values() for v in per_peer.values()]
    assert leaked(all_blocks, "\n".join(r.getMessage() for r in caplog.records)) == []
    assert leaked(all_blocks, repr(sink) + repr(counters)) == []

    # Close the SAE clients, then stop the KMEs from the origin on, so that every KME's
    # idle keep-alive connection to the next one closes before that one stops. (In another
    # order a server waits for an idle TLS peer to answer its close_notify: tens of
    # seconds.)
    master.close()
    slave.close()
    for node in NODES:
        net.stop(node)


def test_ends_without_a_kme_are_skipped_counted_and_logged(
    make_net: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # KMEs at yangshan and lingang only: pudong is a node with no KME, so the
    # lingang--pudong link's key is unusable for the KMS at either end.
    net = make_net(
        nodes=NODES[:2],
        links=LINKS[:1],
        saes={"terminal": ("yangshan", "logistics")},
        pairs=[],
    )
    services = {n: net.kmes[n].service for n in NODES[:2]}
    sink = link_key_sink(services)
    with caplog.at_level(logging.INFO, logger="quaykey.kms.feed"):
        sim, report = run_exact(sink, seed=12)

    counters = sink.counters
    fed, cut_off = LINK_NAMES
    assert dict(counters.deposited_blocks) == {(fed, "yangshan"): 2, (fed, "lingang"): 2}
    assert dict(counters.skipped_blocks) == {(cut_off, "lingang"): 2, (cut_off, "pudong"): 2}
    skipped_bytes = counters.skipped_bytes[(cut_off, "lingang")]
    assert skipped_bytes == counters.skipped_bytes[(cut_off, "pudong")]
    assert 0 <= report["links"][1]["key_bits"] - 8 * skipped_bytes < 8 * 2
    # lingang's KME holds only the yangshan link's blocks; its pools know no pudong
    assert set(services["lingang"].pools()["links"]) == {"yangshan"}
    assert set(stored_blocks(services["lingang"], "pudong")) == set()
    assert set(stored_blocks(services["lingang"], "yangshan")) == {f"{fed}/1", f"{fed}/2"}

    skips = [r for r in caplog.records if r.name == "quaykey.kms.feed" and "skipped" in r.msg]
    assert len(skips) == 4 and all(r.levelno == logging.INFO for r in skips)
    text = "\n".join(r.getMessage() for r in skips)
    assert f"{cut_off}/1" in text and f"{cut_off}/2" in text
    assert "no KME at pudong" in text and "no KME at the other end, pudong" in text
    # the skipped key itself (the start of the network pool's copy at lingang) is not logged
    pool = sim.pools.pool(cut_off, "lingang")
    assert 0 <= pool.total_bits - 8 * skipped_bytes < 8 * 2
    assert leaked([key_bytes(pool.take(8 * 12))], text) == []
