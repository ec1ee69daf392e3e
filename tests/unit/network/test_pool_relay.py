"""Key pools, trusted-node relay (single and multipath) and its accounting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from quaykey.errors import KeyExhaustedError
from quaykey.network.pool import KeyPool, PoolSet
from quaykey.network.relay import AUTH_COST_BITS, relay_key, relay_multipath
from quaykey.network.topology import Topology, topology_from_dict


def _kind(name: str) -> str:
    return "user" if name == "u" else "trusted"


def _ring() -> Topology:
    # s - a - d and s - b - d (two node-disjoint paths), plus a user node u on a.
    names = ["s", "a", "b", "d", "u"]
    return topology_from_dict(
        {
            "name": "ring",
            "nodes": [
                {
                    "name": n,
                    "lat_deg": 10.0,
                    "lon_deg": i / 10,
                    "kind": "user" if n == "u" else "trusted",
                }
                for i, n in enumerate(names)
            ],
            "links": [
                {"a": "s", "b": "a"},
                {"a": "a", "b": "d"},
                {"a": "s", "b": "b"},
                {"a": "b", "b": "d"},
                {"a": "u", "b": "a"},
            ],
        }
    )


def _filled(t: Topology, bits: int, seed: int = 0) -> PoolSet:
    ps = PoolSet(materialised=True)
    rng = np.random.default_rng(seed)
    for link in t.links:
        ps.add_link(link.name, link.a, link.b)
        k = rng.integers(0, 2, bits, dtype=np.uint8)
        ps.deposit(link.name, alice_bits=k, bob_bits=k.copy())
    return ps


def test_pool_take_reserve_commit_release_never_negative() -> None:
    p = KeyPool("x--y", "x", materialised=True)
    p.append(bits=np.array([1, 0, 1, 1], dtype=np.uint8))
    p.append(bits=np.array([0, 0, 1], dtype=np.uint8))
    r = p.reserve(5)
    assert (p.available_bits, p.reserved_bits, p.total_bits) == (2, 5, 7)
    with pytest.raises(KeyExhaustedError):
        p.reserve(3)
    assert p.available_bits == 2  # a failed reserve changes nothing
    p.release(r)
    assert p.available_bits == 7
    np.testing.assert_array_equal(p.take(5), [1, 0, 1, 1, 0])
    np.testing.assert_array_equal(p.take(2), [0, 1])
    assert p.total_bits == 0
    with pytest.raises(KeyExhaustedError):
        p.take(1)
    with pytest.raises(ValueError):
        p.take(-1)
    assert "bits=" not in repr(p).replace("total_bits=", "").replace("reserved_bits=", "")


def test_relayed_key_identical_and_pools_shrink_by_exact_cost() -> None:
    t = _ring()
    ps = _filled(t, 5000)
    before = {(ln, n): ps.pool(ln, n).total_bits for ln in ps.links() for n in ps.ends(ln)}
    r = relay_key(t, ps, ["s", "a", "d"], 1000, np.random.default_rng(3))
    assert r.src_key is not None and r.dst_key is not None
    np.testing.assert_array_equal(r.src_key, r.dst_key)
    used = {"s--a", "a--d"}
    for (ln, n), b in before.items():
        expected = b - (1000 + AUTH_COST_BITS) if ln in used else b
        assert ps.pool(ln, n).total_bits == expected
        assert ps.pool(ln, n).reserved_bits == 0
    # Both ends of each link stay in step: the next relay works too.
    r2 = relay_key(t, ps, ["d", "a", "s"], 500, np.random.default_rng(4))
    np.testing.assert_array_equal(r2.src_key, r2.dst_key)


def test_relay_that_runs_out_fails_cleanly_and_releases() -> None:
    t = _ring()
    ps = _filled(t, 5000)
    ps.pool("a--d", "a").take(4500)
    ps.pool("a--d", "d").take(4500)
    levels = {(ln, n): ps.pool(ln, n).available_bits for ln in ps.links() for n in ps.ends(ln)}
    with pytest.raises(KeyExhaustedError, match="relay cannot be paid"):
        relay_key(t, ps, ["s", "a", "d"], 1000, np.random.default_rng(0))
    for (ln, n), lvl in levels.items():
        assert ps.pool(ln, n).available_bits == lvl
        assert ps.pool(ln, n).reserved_bits == 0


def test_user_nodes_do_not_relay() -> None:
    t = topology_from_dict(
        {
            "nodes": [
                {"name": "a", "lat_deg": 0, "lon_deg": 0},
                {"name": "u", "lat_deg": 0, "lon_deg": 0.1, "kind": "user"},
                {"name": "b", "lat_deg": 0, "lon_deg": 0.2},
            ],
            "links": [{"a": "a", "b": "u"}, {"a": "u", "b": "b"}],
        }
    )
    with pytest.raises(ValueError, match="does not relay"):
        relay_key(t, _filled(t, 1000), ["a", "u", "b"], 10)


def test_statistical_pools_account_the_same_way() -> None:
    t = _ring()
    ps = PoolSet(materialised=False)
    for link in t.links:
        ps.add_link(link.name, link.a, link.b)
        ps.deposit(link.name, 2000)
    r = relay_key(t, ps, ["s", "b", "d"], 256)
    assert r.src_key is None
    assert ps.level("s--b") == ps.level("b--d") == 2000 - 256 - AUTH_COST_BITS
    assert ps.level("s--a") == 2000


def test_multipath_key_identical_and_cost_on_every_path() -> None:
    t = _ring()
    ps = _filled(t, 3000)
    m = relay_multipath(t, ps, [["s", "a", "d"], ["s", "b", "d"]], 512, np.random.default_rng(9))
    np.testing.assert_array_equal(m.src_key, m.dst_key)
    for ln in ("s--a", "a--d", "s--b", "b--d"):
        assert ps.level(ln) == 3000 - 512 - AUTH_COST_BITS
    with pytest.raises(ValueError, match="node-disjoint"):
        relay_multipath(t, ps, [["s", "a", "d"], ["s", "a", "d"]], 8)


def test_what_one_intermediate_node_sees_is_independent_of_the_key() -> None:
    # Relay 2-bit keys many times over two node-disjoint paths; tabulate the key against
    # the share node "a" decrypts. Independence: chi-square test on the 4x4 table.
    # Seeded; at 4000 trials a dependent share (e.g. a sees the key) gives p ~ 0, while
    # the XOR shares give p well above 1e-3 (the threshold; false-failure rate 0.1 %).
    t = _ring()
    ps = _filled(t, 4001 * (2 + AUTH_COST_BITS), seed=1)
    rng = np.random.default_rng(2024)
    table = np.zeros((4, 4))
    for _ in range(4000):
        m = relay_multipath(t, ps, [["s", "a", "d"], ["s", "b", "d"]], 2, rng)
        assert m.src_key is not None
        k = int(m.src_key[0]) * 2 + int(m.src_key[1])
        seen = m.shares[0].seen["a"]
        table[k, int(seen[0]) * 2 + int(seen[1])] += 1
    _, p_value, _, _ = chi2_contingency(table)
    assert p_value > 1e-3
    # Single-path relay, by contrast, shows the key itself to "a".
    r = relay_key(t, ps, ["s", "a", "d"], 2, rng)
    np.testing.assert_array_equal(r.seen["a"], r.src_key)


def test_hop_tag_is_the_one_time_mac_over_the_ciphertext_and_costs_256_bits() -> None:
    from quaykey.mac import OneTimeMac, bits_message

    assert AUTH_COST_BITS == 256  # 128 bits of GF(2^128) hash key + 128 of pad
    t = _ring()
    ps = _filled(t, 2000, seed=9)
    head = ps.pool("s--a", "s").take(ps.pool("s--a", "s").total_bits).copy()
    ps = _filled(t, 2000, seed=9)
    r = relay_key(t, ps, ["s", "a", "d"], 300, np.random.default_rng(1))
    hop = r.hops[0]
    assert hop.ciphertext is not None and len(hop.tag) == 16
    # The tag is OneTimeMac keyed with the 256 link-key bits after the pad, over the
    # ciphertext as bits_message encodes it: an independent recomputation agrees.
    mac_key = np.packbits(head[300 : 300 + 256]).tobytes()
    OneTimeMac(mac_key).verify(bits_message(hop.ciphertext), hop.tag)
    np.testing.assert_array_equal(hop.ciphertext, r.src_key ^ head[:300])


def test_hop_with_mismatched_link_keys_fails_authentication_and_releases_later_hops() -> None:
    from quaykey.errors import AuthenticationError

    t = _ring()
    ps = PoolSet(materialised=True)
    rng = np.random.default_rng(2)
    for link in t.links:
        ps.add_link(link.name, link.a, link.b)
        k = rng.integers(0, 2, 3000, dtype=np.uint8)
        bob = k.copy()
        if link.name == "s--a":
            bob[300 + 5] ^= 1  # one bit of the MAC key differs between the two ends
        ps.deposit(link.name, alice_bits=k, bob_bits=bob)
    with pytest.raises(AuthenticationError, match="s->a"):
        relay_key(t, ps, ["s", "a", "d"], 300, np.random.default_rng(1))
    # the second hop's reservation was released, nothing of it spent
    assert ps.pool("a--d", "a").total_bits == ps.pool("a--d", "d").total_bits == 3000
    assert ps.pool("a--d", "a").reserved_bits == 0
