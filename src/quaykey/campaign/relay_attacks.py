"""A compromised trusted node, with and without multipath relay.

Trusted relay (:func:`quaykey.network.relay.relay_key`) hands every intermediate node the
end-to-end key: a compromised node on the path learns it whole. Multipath relay
(:func:`quaykey.network.relay.relay_multipath`, Salvail et al., J. Comput. Secur. 18, 61
(2010)) sends XOR shares over node-disjoint paths: one compromised node holds one share,
which is uniformly random and independent of the key. The scenario relays keys from ``s``
to ``d`` over a square ``s -- a -- d``, ``s -- b -- d`` and measures what node ``a`` holds:
the fraction of key bits it knows for certain, and how often its share's bits agree with
the key's (1/2 for an independent share; the tolerance is four standard deviations).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from quaykey.campaign.findings import ScenarioResult
from quaykey.network.pool import PoolSet
from quaykey.network.relay import relay_key, relay_multipath
from quaykey.network.topology import Topology, topology_from_dict

__all__ = ["compromised_node"]

Progress = Callable[[str], None]

_KEY_BITS = 256


def _square() -> Topology:
    nodes = [
        {"name": "s", "lat_deg": 31.0, "lon_deg": 121.0, "kind": "user"},
        {"name": "a", "lat_deg": 31.2, "lon_deg": 121.2},
        {"name": "b", "lat_deg": 30.8, "lon_deg": 121.2},
        {"name": "d", "lat_deg": 31.0, "lon_deg": 121.4, "kind": "user"},
    ]
    links = [{"a": "s", "b": "a"}, {"a": "a", "b": "d"}, {"a": "s", "b": "b"}, {"a": "b", "b": "d"}]
    return topology_from_dict({"nodes": nodes, "links": links})


def _pools(topology: Topology, trials: int, rng: np.random.Generator) -> PoolSet:
    pools = PoolSet(materialised=True)
    need = 2 * trials * (2 * _KEY_BITS + 256)
    for link in topology.links:
        pools.add_link(link.name, link.a, link.b)
        k = rng.integers(0, 2, need, dtype=np.uint8)
        pools.deposit(link.name, alice_bits=k, bob_bits=k.copy())
    return pools


def compromised_node(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """What a compromised relay node learns of keys relayed through it."""
    trials = {"short": 50, "full": 2000}[size]
    res = ScenarioResult(
        "compromised-node", "A compromised trusted node, single path and multipath"
    )
    res.settings = {"topology": "s-a-d, s-b-d", "key_bits": _KEY_BITS, "trials": trials}
    rng = np.random.default_rng(seed)
    topo = _square()
    pools = _pools(topo, trials, rng)
    known_single = agree = total = mismatched = 0
    for i in range(trials):
        single = relay_key(topo, pools, ["s", "a", "d"], _KEY_BITS, rng)
        assert single.src_key is not None
        known_single += int(np.array_equal(single.seen["a"], single.src_key))
        multi = relay_multipath(topo, pools, [["s", "a", "d"], ["s", "b", "d"]], _KEY_BITS, rng)
        assert multi.src_key is not None and multi.dst_key is not None
        share = multi.shares[0].seen["a"]
        agree += int(np.sum(share == multi.src_key))
        total += _KEY_BITS
        mismatched += int(not np.array_equal(multi.src_key, multi.dst_key))
        if (i + 1) % 50 == 0:
            progress(f"compromised node: {i + 1}/{trials}")
    frac = agree / total
    tol = 4 * math.sqrt(0.25 / total)
    res.add(
        "single path: keys the compromised node holds whole",
        known_single,
        f"{trials} (trusted relay: every node on the path holds the key)",
        known_single == trials,
        trials,
    )
    res.add(
        "multipath: agreement of the node's share with the key, per bit",
        round(frac, 5),
        f"0.5 +/- {tol:.4f} (independent of the key)",
        abs(frac - 0.5) <= tol,
        total,
    )
    res.add(
        "multipath: keys the two ends hold differently", mismatched, "0", mismatched == 0, trials
    )
    return res
