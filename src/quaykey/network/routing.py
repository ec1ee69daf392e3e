"""Key-aware routing over the trusted-relay graph.

A route's *capacity* is the key rate it can sustain end to end: the smallest secret-key
rate of its links (its bottleneck), or for a multipath route the sum of its node-disjoint
paths' bottlenecks. User nodes never relay, so paths only pass through trusted nodes,
ground stations and satellites.

Path choice (:func:`key_aware_route`) is a *widest path*: the path whose weakest link is
strongest, where a link's strength is its key rate plus the key already waiting in its
pools spread over a horizon (``rate_bps + pool_bits / horizon_s``). Drained links thus
look weaker and traffic moves to links with key in stock. Ties go to fewer hops.

Where multipath is impossible: a chain has one node-disjoint path. On the
``beijing-shanghai`` preset the trunk is a chain of 32 trusted nodes, so any route that
crosses it (Beijing to Shanghai, say) has exactly one node-disjoint path: multipath only
helps inside the metro rings (e.g. bonded warehouse to Shanghai customs).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import networkx as nx

from quaykey.errors import NoRouteError
from quaykey.network.topology import Link, Topology

__all__ = [
    "Route",
    "demand_route",
    "disjoint_paths",
    "disjoint_route",
    "key_aware_route",
    "path_bottleneck",
    "relay_graph",
    "widest_path",
]


@dataclass(frozen=True)
class Route:
    """A route between two nodes.

    Attributes
    ----------
    src, dst
        End nodes.
    paths
        One path (single path) or several node-disjoint paths, each a tuple of node names.
    capacity_bps
        Sum over paths of the path's bottleneck key rate.
    limiting_links
        The bottleneck link of each path.
    """

    src: str
    dst: str
    paths: tuple[tuple[str, ...], ...]
    capacity_bps: float
    limiting_links: tuple[str, ...]

    @property
    def hops(self) -> int:
        """Hops of the (first) path."""
        return len(self.paths[0]) - 1

    @property
    def trusted_nodes(self) -> tuple[str, ...]:
        """Nodes other than the two ends that hold the relayed key (or a share of it).

        Empty for a route over one ``entangled`` link: the satellite that distributed the
        pairs is not on the path and holds no key.
        """
        return tuple(dict.fromkeys(n for path in self.paths for n in path[1:-1]))


def relay_graph(
    topology: Topology, src: str, dst: str, exclude_links: Collection[str] = ()
) -> nx.Graph:
    """The graph that may carry a relay between ``src`` and ``dst`` (a read-only view).

    User nodes other than the two end points are hidden (they do not relay) and so are
    the ``exclude_links`` (cut fibres, links under attack).
    """
    topology.node(src)
    topology.node(dst)
    g = topology.graph
    excluded = frozenset(exclude_links)

    def node_ok(n: str) -> bool:
        return n in (src, dst) or bool(g.nodes[n]["node"].relays)

    def edge_ok(u: str, v: str) -> bool:
        return g.edges[u, v]["name"] not in excluded

    view: nx.Graph = nx.subgraph_view(g, filter_node=node_ok, filter_edge=edge_ok)
    return view


def path_bottleneck(
    topology: Topology, path: tuple[str, ...] | list[str], rates_bps: Mapping[str, float]
) -> tuple[float, str]:
    """Smallest link rate along a path and the link that has it."""
    links = topology.path_links(path)
    worst = min(links, key=lambda link: rates_bps.get(link.name, 0.0))
    return float(rates_bps.get(worst.name, 0.0)), worst.name


def widest_path(
    g: nx.Graph, src: str, dst: str, strength: Mapping[str, float]
) -> tuple[tuple[str, ...], float]:
    """Maximum-bottleneck path (modified Dijkstra), ties broken by fewer hops.

    Parameters
    ----------
    g
        Graph whose edges carry the link name in attribute ``name``.
    strength
        Per link name, the quantity whose minimum along a path is maximised.

    Raises
    ------
    NoRouteError
        When ``dst`` cannot be reached from ``src``.
    """
    if src not in g or dst not in g:
        raise NoRouteError(f"no path between {src!r} and {dst!r}")
    best: dict[str, tuple[float, int]] = {src: (math.inf, 0)}
    prev: dict[str, str] = {}
    counter = itertools.count()
    heap: list[tuple[float, int, int, str]] = [(-math.inf, 0, next(counter), src)]
    done: set[str] = set()
    while heap:
        neg_w, hops, _, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u == dst:
            break
        for v in g.neighbors(u):
            if v in done:
                continue
            w = min(-neg_w, strength.get(g.edges[u, v]["name"], 0.0))
            cand = (w, hops + 1)
            cur = best.get(v)
            if cur is None or w > cur[0] or (w == cur[0] and hops + 1 < cur[1]):
                best[v] = cand
                prev[v] = u
                heapq.heappush(heap, (-w, hops + 1, next(counter), v))
    if dst not in done:
        raise NoRouteError(f"no path between {src!r} and {dst!r}")
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return tuple(reversed(path)), best[dst][0]


def key_aware_route(
    topology: Topology,
    src: str,
    dst: str,
    rates_bps: Mapping[str, float],
    pool_bits: Mapping[str, float] | None = None,
    horizon_s: float = 600.0,
    exclude_links: Collection[str] = (),
) -> Route:
    """The widest path by ``rate + pool / horizon``; capacity is its rate bottleneck.

    An ``entangled`` link joining ``src`` and ``dst`` (not excluded, with key) is used
    whenever it exists, whatever the rate of trusted paths: its key is an end-to-end
    secret (:attr:`Route.trusted_nodes` is empty).

    Parameters
    ----------
    topology
        The network.
    src, dst
        End nodes.
    rates_bps
        Current secret-key rate of each link.
    pool_bits
        Key waiting in each link's pools (the smaller end); ``None`` for rates only.
    horizon_s
        Over how long pooled key counts as rate.
    exclude_links
        Links not to use (cut, or aborting under attack).

    Raises
    ------
    NoRouteError
        No path avoids the excluded links, or every path has a dead link.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 10}
    ...     for i, n in enumerate("abcd")], "links": [{"a": "a", "b": "b"},
    ...     {"a": "b", "b": "d"}, {"a": "a", "b": "c"}, {"a": "c", "b": "d"}]})
    >>> r = key_aware_route(t, "a", "d", {"a--b": 5.0, "b--d": 1.0, "a--c": 3.0, "c--d": 4.0})
    >>> r.paths[0], r.capacity_bps, r.limiting_links
    (('a', 'c', 'd'), 3.0, ('a--c',))
    """
    if horizon_s <= 0:
        raise ValueError(f"horizon_s must be > 0, got {horizon_s!r}")
    g = relay_graph(topology, src, dst, exclude_links)
    pools = pool_bits or {}
    strength = {
        link.name: rates_bps.get(link.name, 0.0) + pools.get(link.name, 0.0) / horizon_s
        for link in topology.links
    }
    direct: Link | None = g.edges[src, dst]["link"] if g.has_edge(src, dst) else None
    if direct is not None and direct.end_to_end and strength[direct.name] > 0.0:
        # An entanglement-based link between the two ends: no node but them holds its key.
        rate = float(rates_bps.get(direct.name, 0.0))
        return Route(src, dst, ((src, dst),), rate, (direct.name,))
    path, width = widest_path(g, src, dst, strength)
    if width <= 0.0:
        raise NoRouteError(f"every path between {src!r} and {dst!r} has a link with no key")
    cap, limiting = path_bottleneck(topology, path, rates_bps)
    return Route(src, dst, (path,), cap, (limiting,))


def disjoint_paths(
    topology: Topology, src: str, dst: str, exclude_links: Collection[str] = ()
) -> list[tuple[str, ...]]:
    """Node-disjoint paths between two nodes, fewest hops first (relaying nodes only).

    Raises
    ------
    NoRouteError
        When the two nodes are not connected.
    """
    if src == dst:
        raise ValueError("src and dst must differ")
    g = nx.Graph(relay_graph(topology, src, dst, exclude_links))
    try:
        if g.has_edge(src, dst):
            # node_disjoint_paths needs no direct edge; use it as its own path.
            g.remove_edge(src, dst)
            found = [[src, dst]]
            if nx.has_path(g, src, dst):
                found += [list(p) for p in nx.node_disjoint_paths(g, src, dst)]
        else:
            found = [list(p) for p in nx.node_disjoint_paths(g, src, dst)]
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        raise NoRouteError(f"no path between {src!r} and {dst!r}") from None
    found.sort(key=len)
    return [tuple(p) for p in found]


def disjoint_route(
    topology: Topology,
    src: str,
    dst: str,
    rates_bps: Mapping[str, float],
    max_paths: int | None = None,
    exclude_links: Collection[str] = (),
) -> Route:
    """A multipath route over node-disjoint paths (fewest hops first).

    Capacity is the sum of the paths' bottlenecks. On a chain (e.g. across the
    Beijing–Shanghai trunk) there is only one such path.

    Raises
    ------
    NoRouteError
        When the two nodes are not connected.
    """
    found = disjoint_paths(topology, src, dst, exclude_links)
    if max_paths is not None:
        found = found[: max(1, int(max_paths))]
    caps = [path_bottleneck(topology, p, rates_bps) for p in found]
    return Route(
        src,
        dst,
        tuple(tuple(p) for p in found),
        float(sum(c for c, _ in caps)),
        tuple(name for _, name in caps),
    )


def demand_route(
    topology: Topology,
    src: str,
    dst: str,
    rates_bps: Mapping[str, float],
    multipath: bool = False,
    exclude_links: Collection[str] = (),
) -> Route:
    """THE route capacity of a demand, as ``network plan`` and ``network simulate`` report it.

    A multipath demand uses every node-disjoint path (:func:`disjoint_route`: the sum of
    the paths' bottlenecks); a single-path demand the widest path by key rate
    (:func:`key_aware_route` without pools: its bottleneck).

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 10}
    ...     for i, n in enumerate("abcd")], "links": [{"a": "a", "b": "b"},
    ...     {"a": "b", "b": "d"}, {"a": "a", "b": "c"}, {"a": "c", "b": "d"}]})
    >>> rates = {"a--b": 5.0, "b--d": 1.0, "a--c": 3.0, "c--d": 4.0}
    >>> demand_route(t, "a", "d", rates).capacity_bps
    3.0
    >>> demand_route(t, "a", "d", rates, multipath=True).capacity_bps
    4.0
    """
    if multipath:
        return disjoint_route(topology, src, dst, rates_bps, exclude_links=exclude_links)
    return key_aware_route(topology, src, dst, rates_bps, exclude_links=exclude_links)
