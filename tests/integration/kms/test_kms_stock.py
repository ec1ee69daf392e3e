"""End-to-end key stock over real mTLS KMEs: served from stock, refills, bound, expiry, 503.

Each test reads the audit chains of the KMEs to check the stock's invariants: a stocked key
is delivered at most once at each end, the stock never holds more than its bound, and an
expired entry is voided at both ends.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from quaykey.kms.client import KmeClientError
from quaykey.kms.store import keys_t

LINE4 = {
    "nodes": ["a", "b", "c", "d"],
    "links": [("a", "b"), ("b", "c"), ("c", "d")],
    "saes": {"alice": ("a", "finance"), "alice2": ("a", "government"), "dave": ("d", "finance")},
    "pairs": [("alice", "dave"), ("alice2", "dave")],
}
STOCK = {"enabled": True, "target_keys": 8, "refill_batch": 4, "refill_interval_s": 0.2}


def feed_all(net: Any, n_blocks: int = 2) -> None:
    for x, y in LINE4["links"]:
        net.feed(x, y, n_blocks, block_bytes=16384)


def stock_of(net: Any, node: str, master: str = "alice") -> dict[str, Any]:
    pairs = net.kmes[node].service.pools()["stock"]["pairs"]
    return next(p for p in pairs if p["master"] == master)


def wait_for(cond: Any, timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def events(net: Any, node: str, name: str) -> list[dict[str, Any]]:
    return [r.detail for r in net.kmes[node].service.store.audit_records() if r.event == name]


def max_level_from_audit(net: Any, node: str, master: str) -> int:
    """Replay the audit chain: the most entries the stock of ``master`` ever held."""
    level, top, pair_of = 0, 0, {}
    for r in net.kmes[node].service.store.audit_records():
        d = r.detail
        if r.event == "stock_reserved" and d["master"] == master:
            level += len(d["key_IDs"])
            pair_of.update(dict.fromkeys(d["key_IDs"], master))
        elif r.event == "stock_voided" or (
            r.event == "delivered_master" and d.get("source") == "stock"
        ):
            level -= sum(1 for k in d["key_IDs"] if pair_of.get(k) == master)
        top = max(top, level)
    return top


def test_remote_get_key_served_from_stock_matches_slave_and_refills(make_net):
    net = make_net(stock=STOCK, **LINE4)
    feed_all(net)
    wait_for(lambda: stock_of(net, "a")["ready"] == 8, what="the stock to fill")
    alice, dave = net.client("alice"), net.client("dave")
    c = alice.get_key("dave", number=3)
    served = events(net, "a", "delivered_master")[-1]
    assert served["source"] == "stock" and served["key_IDs"] == [k.key_ID for k in c.keys]
    # the keys were relayed ahead: they sit ready at the slave's KME
    refilled = {k for d in events(net, "a", "stock_refilled") for k in d["key_IDs"]}
    assert {k.key_ID for k in c.keys} <= refilled
    assert dave.get_key_with_key_ids("alice", [k.key_ID for k in c.keys]) == c
    with pytest.raises(KmeClientError) as e:  # at most once at the slave's end
        dave.get_key_with_key_ids("alice", [c.keys[0].key_ID])
    assert e.value.status_code == 400
    # drain it: requests the stock cannot serve fall back to an on-demand relay
    got = [alice.get_key("dave", number=4) for _ in range(4)]
    sources = [d.get("source") for d in events(net, "a", "delivered_master")[-4:]]
    assert "stock" in sources and None in sources
    for g in got:
        assert dave.get_key_with_key_ids("alice", [k.key_ID for k in g.keys]) == g
    # topped up in whole batches of 4: back above 8 - 4 once no request takes from it
    wait_for(lambda: stock_of(net, "a")["ready"] > 4, what="the stock to refill")
    time.sleep(0.5)  # two more refill passes: nothing more to relay
    assert 4 < stock_of(net, "a")["ready"] <= 8 and stock_of(net, "a")["reserved"] == 0
    assert max_level_from_audit(net, "a", "alice") <= 8
    report = net.kmes["a"].service.pools()["stock"]
    ready = stock_of(net, "a")["ready"] + stock_of(net, "a", "alice2")["ready"]
    assert report["by_node"]["d"]["ready_bits"] == ready * 256  # alice's and alice2's stocks
    assert report["counters"]["refills"] >= 5
    master_ids = [k for d in events(net, "a", "delivered_master") for k in d["key_IDs"]]
    assert len(master_ids) == len(set(master_ids))


def test_expiry_voids_both_ends(make_net):
    stock = STOCK | {"ttl_s": 1.0, "refill_interval_s": 0.3}
    net = make_net(stock=stock, **LINE4)
    feed_all(net)
    wait_for(lambda: stock_of(net, "a")["ready"] == 8, what="the stock to fill")
    first = [k for d in events(net, "a", "stock_refilled") for k in d["key_IDs"]][:8]
    voided = lambda: {k for d in events(net, "a", "stock_voided") for k in d["key_IDs"]}  # noqa: E731
    wait_for(lambda: set(first) <= voided(), what="the expired entries to be voided")
    assert all(d["far_end_told"] for d in events(net, "a", "stock_voided"))
    with net.kmes["d"].service.store.read() as conn:
        left = conn.execute(select(keys_t.c.key_id).where(keys_t.c.key_id.in_(first))).all()
    assert left == []
    with pytest.raises(KmeClientError) as e:
        net.client("dave").get_key_with_key_ids("alice", first[:1])
    assert e.value.status_code == 400


def test_empty_stock_fails_closed_when_configured(make_net):
    net = make_net(stock=STOCK | {"on_empty": "fail"}, **LINE4)  # no link key: never fills
    with pytest.raises(KmeClientError) as e:
        net.client("alice").get_key("dave")
    assert e.value.status_code == 503
    assert "stock" in e.value.error.message
    wait_for(
        lambda: net.kmes["a"].service.pools()["stock"]["counters"].get("refill_failures", 0) > 0,
        what="a failed refill",
    )
    # a size the stock does not hold is relayed on demand (and here fails: no link key)
    with pytest.raises(KmeClientError) as e:
        net.client("alice").get_key("dave", size=512)
    assert e.value.status_code == 503 and "link key" in e.value.error.message


def test_several_masters_concurrently_no_duplicate_ids_or_bytes(make_net):
    net = make_net(stock=STOCK | {"target_keys": 16, "refill_batch": 8}, **LINE4)
    feed_all(net, n_blocks=4)
    wait_for(lambda: stock_of(net, "a", "alice2")["ready"] == 16, what="the stocks to fill")
    results: list[tuple[str, Any]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(master: str) -> None:
        try:
            c = net.client(master)
            for _ in range(6):
                got = c.get_key("dave", number=2)
                with lock:
                    results.append((master, got))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(m,)) for m in ("alice", "alice2") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ids = [k.key_ID for _, c in results for k in c.keys]
    keys = [k.key for _, c in results for k in c.keys]
    assert len(ids) == 48 and len(set(ids)) == 48 and len(set(keys)) == 48
    dave = net.client("dave")
    for master, c in results:
        assert dave.get_key_with_key_ids(master, [k.key_ID for k in c.keys]) == c
    assert any(d.get("source") == "stock" for d in events(net, "a", "delivered_master"))
    for m in ("alice", "alice2"):
        assert max_level_from_audit(net, "a", m) <= 16


def test_expiry_voids_only_the_keys_not_served_from_a_batch(make_net):
    stock = STOCK | {"target_keys": 4, "refill_batch": 4, "ttl_s": 1.5}
    net = make_net(stock=stock, **LINE4)
    feed_all(net)
    wait_for(lambda: stock_of(net, "a")["ready"] == 4, what="the stock to fill")
    batch = events(net, "a", "stock_refilled")[0]["key_IDs"]
    c = net.client("alice").get_key("dave", number=2)
    served = [k.key_ID for k in c.keys]
    assert set(served) < set(batch)
    rest = set(batch) - set(served)
    voided = lambda: {k for d in events(net, "a", "stock_voided") for k in d["key_IDs"]}  # noqa: E731
    wait_for(lambda: rest <= voided(), what="the unserved keys to be voided")
    assert not set(served) & voided()
    far = [d for d in events(net, "d", "relay_voided") if set(d["key_IDs"] or []) & rest]
    assert far and all(set(d["key_IDs"]) <= rest for d in far)
    # the keys served from the same relay stay with the slave
    assert net.client("dave").get_key_with_key_ids("alice", served) == c
