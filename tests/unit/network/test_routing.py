"""Routing: capacities recomputed independently by brute force over all simple paths."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from quaykey.errors import NoRouteError
from quaykey.network.presets import load_preset_topology
from quaykey.network.routing import disjoint_route, key_aware_route
from quaykey.network.topology import Topology, topology_from_dict


def _grid(seed: int) -> tuple[Topology, dict[str, float]]:
    g = nx.grid_2d_graph(3, 4)
    names = {n: f"n{n[0]}{n[1]}" for n in g}
    t = topology_from_dict(
        {
            "name": "grid",
            "nodes": [{"name": names[n], "lat_deg": n[0] * 0.3, "lon_deg": n[1] * 0.3} for n in g],
            "links": [{"a": names[u], "b": names[v]} for u, v in g.edges],
        }
    )
    rng = np.random.default_rng(seed)
    rates = {link.name: float(rng.integers(1, 100)) * 100.0 for link in t.links}
    return t, rates


def _brute_widest(t: Topology, rates: dict[str, float], src: str, dst: str) -> float:
    best = 0.0
    for path in nx.all_simple_paths(t.graph, src, dst):
        width = min(rates[t.link_between(u, v).name] for u, v in itertools.pairwise(path))
        best = max(best, width)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_route_capacity_is_the_bottleneck_and_the_widest(seed: int) -> None:
    t, rates = _grid(seed)
    r = key_aware_route(t, "n00", "n23", rates)
    path = r.paths[0]
    recomputed = min(rates[t.link_between(u, v).name] for u, v in itertools.pairwise(path))
    assert r.capacity_bps == recomputed
    assert rates[r.limiting_links[0]] == recomputed
    assert r.capacity_bps == _brute_widest(t, rates, "n00", "n23")


def test_pool_levels_steer_traffic_away_from_drained_links() -> None:
    t = topology_from_dict(
        {
            "nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 10} for i, n in enumerate("abcd")],
            "links": [
                {"a": "a", "b": "b"},
                {"a": "b", "b": "d"},
                {"a": "a", "b": "c"},
                {"a": "c", "b": "d"},
            ],
        }
    )
    rates = {"a--b": 100.0, "b--d": 100.0, "a--c": 100.0, "c--d": 100.0}
    pools = {"a--b": 1e6, "b--d": 1e6, "a--c": 0.0, "c--d": 1e6}
    assert key_aware_route(t, "a", "d", rates, pools).paths[0] == ("a", "b", "d")
    pools = {"a--b": 0.0, "b--d": 1e6, "a--c": 1e6, "c--d": 1e6}
    assert key_aware_route(t, "a", "d", rates, pools).paths[0] == ("a", "c", "d")
    with pytest.raises(NoRouteError):
        key_aware_route(t, "a", "d", rates, exclude_links={"a--b", "a--c"})


def test_multipath_capacity_is_sum_of_path_bottlenecks_on_preset() -> None:
    t = load_preset_topology("beijing-shanghai")
    rng = np.random.default_rng(11)
    rates = {link.name: float(rng.uniform(1e3, 1e5)) for link in t.links}
    r = disjoint_route(t, "bonded-warehouse", "shanghai-customs", rates)
    assert len(r.paths) == 2
    inner = [set(p[1:-1]) for p in r.paths]
    assert not inner[0] & inner[1]
    expected = sum(
        min(rates[t.link_between(u, v).name] for u, v in itertools.pairwise(p)) for p in r.paths
    )
    assert r.capacity_bps == pytest.approx(expected)
    # Across the trunk (a chain) there is only one node-disjoint path.
    across = disjoint_route(t, "customs-hq-beijing", "shanghai-customs", rates)
    assert len(across.paths) == 1
    assert nx.node_connectivity(t.graph, "hefei", "nanjing") == 1


def test_user_nodes_are_not_transit() -> None:
    t = load_preset_topology("beijing-shanghai")
    rates = {link.name: 1.0 for link in t.links}
    r = key_aware_route(t, "sipg-ops", "waigaoqiao-terminal", rates)
    users = {n.name for n in t.nodes if n.kind == "user"}
    assert not set(r.paths[0][1:-1]) & users
