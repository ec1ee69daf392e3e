"""Network topology: trusted nodes, user nodes, ground stations, satellites and their links.

A topology is plain data (frozen dataclasses) with a :mod:`networkx` graph underneath. It is
built from a mapping (what a YAML file parses to) by :func:`topology_from_dict`, which
validates everything and raises :class:`~quaykey.errors.TopologyError` naming the problem.
This module reads no files: the CLI (or :func:`quaykey.network.presets.load_preset_topology`)
reads YAML and passes the mapping in.

File format (YAML)::

    name: rotterdam-feasibility          # free text
    defaults:                            # optional, apply to every fibre link
      preset: backbone                   # a quaykey.physics.params preset name
      attenuation_db_per_km: 0.25
      fixed_loss_db: 2.0
      route_factor: 1.2                  # fibre length = route_factor x geodesic distance
      overrides: {"source.repetition_rate_hz": 1.0e9}   # optional LinkParams overrides
    nodes:
      - {name: maasvlakte, lat_deg: 51.96, lon_deg: 4.03, kind: user}
      - {name: botlek, lat_deg: 51.88, lon_deg: 4.28, kind: trusted}
    links:
      - {a: maasvlakte, b: botlek}                 # length from the coordinates
      - {a: botlek, b: customs, length_km: 21.5}   # or given explicitly
    demands:                             # optional: end-to-end key wanted (network.demands)
      - {src: maasvlakte, dst: customs, rate_bps: 64000, multipath: false, priority: 0}

Node ``kind`` is one of ``trusted`` (a relay), ``user`` (an end point that does not relay),
``ground-station`` and ``satellite``. Link ``kind`` is ``fibre`` (default), ``free-space``
(satellite to ground; such a link yields key only during passes) or ``entangled`` (two
ground stations sharing entangled pairs from the satellite named by ``via``, BBM92: the
satellite holds no key, so the link's key is an end-to-end secret of its two ends; its key
comes from :mod:`quaykey.network.dual_downlink`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import networkx as nx
from geographiclib.geodesic import Geodesic

from quaykey.errors import TopologyError
from quaykey.network.demands import Demand, demands_from_entries
from quaykey.physics.params import FibreChannel, LinkParams, load_preset

__all__ = [
    "NODE_KINDS",
    "Link",
    "Node",
    "Topology",
    "geodesic_km",
    "topology_from_dict",
]

NodeKind = Literal["trusted", "user", "ground-station", "satellite"]
LinkKind = Literal["fibre", "free-space", "entangled"]
NODE_KINDS: tuple[str, ...] = ("trusted", "user", "ground-station", "satellite")
_LINK_KINDS: tuple[str, ...] = ("fibre", "free-space", "entangled")


def geodesic_km(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Shortest distance on the WGS84 ellipsoid between two points (Karney's geodesic).

    Examples
    --------
    >>> round(geodesic_km(39.904, 116.407, 31.230, 121.474), 1)
    1065.9

    References
    ----------
    Karney, "Algorithms for geodesics", J. Geodesy 87, 43 (2013).
    """
    inverse = Geodesic.WGS84.Inverse(lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    return float(inverse["s12"]) / 1000.0


@dataclass(frozen=True)
class Node:
    """A node of the network.

    Parameters
    ----------
    name
        Unique identifier (lower case, no spaces by convention).
    lat_deg, lon_deg
        Geodetic latitude and longitude (WGS84), degrees. ``nan`` for a satellite.
    kind
        ``trusted``, ``user``, ``ground-station`` or ``satellite``.
    label
        Human-readable name for maps and reports.
    altitude_m
        Height above the ellipsoid (ground stations), metres.
    note
        Provenance of the coordinates (e.g. "exact site not public; city centre").
    """

    name: str
    lat_deg: float
    lon_deg: float
    kind: NodeKind = "trusted"
    label: str = ""
    altitude_m: float = 0.0
    note: str = ""

    @property
    def relays(self) -> bool:
        """Whether this node may act as a trusted relay for other nodes' keys."""
        return self.kind in ("trusted", "satellite", "ground-station")


@dataclass(frozen=True)
class Link:
    """A QKD link between two nodes (undirected; ``a`` is Alice's end, ``b`` Bob's).

    Parameters
    ----------
    name
        Unique identifier; defaults to ``"a--b"``.
    a, b
        Node names.
    length_km
        Fibre length (fibre links) or nominal slant range (free-space links).
    kind
        ``fibre``, ``free-space`` or ``entangled``.
    preset
        Name of the :mod:`quaykey.physics.params` preset for the link hardware.
    attenuation_db_per_km, fixed_loss_db
        Fibre loss model (fibre links only).
    overrides
        Dotted-path parameter overrides applied to the preset
        (``(("source.repetition_rate_hz", 1e8),)``; see ``LinkParams.with_overrides``).
    """

    name: str
    a: str
    b: str
    length_km: float
    kind: LinkKind = "fibre"
    preset: str = "backbone"
    attenuation_db_per_km: float = 0.25
    fixed_loss_db: float = 2.0
    overrides: tuple[tuple[str, Any], ...] = ()
    via: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_params", self._resolve())

    @property
    def loss_db(self) -> float:
        """Channel loss of a fibre link in dB, from its physics channel (0 for free space)."""
        if self.kind != "fibre":
            return 0.0
        return float(self.params().channel.loss_db)

    def other(self, node: str) -> str:
        """The node at the other end from ``node``."""
        if node == self.a:
            return self.b
        if node == self.b:
            return self.a
        raise ValueError(f"node {node!r} is not an end of link {self.name!r}")

    @property
    def end_to_end(self) -> bool:
        """Whether no node other than the two ends ever holds this link's key (``entangled``)."""
        return self.kind == "entangled"

    def params(self) -> LinkParams:
        """The physics parameters of this link, resolved once when the link was built.

        Raises
        ------
        TopologyError
            For an ``entangled`` link, whose key comes from the two-photon model of
            :mod:`quaykey.network.dual_downlink`, not from one link's parameters.
        """
        resolved: LinkParams | None = self.__dict__["_params"]
        if resolved is None:
            raise TopologyError(
                f"link {self.name!r} is entangled: its key comes from "
                "quaykey.network.dual_downlink, not from one link's parameters"
            )
        return resolved

    def _resolve(self) -> LinkParams | None:
        if self.kind == "entangled":
            return None
        try:
            if self.kind == "free-space":
                p = load_preset(self.preset, loss_db=30.0)
                return p.with_overrides(dict(self.overrides))
            p = load_preset(self.preset, distance_km=self.length_km)
            p = p.with_overrides(dict(self.overrides))
        except (ValueError, TypeError) as exc:
            raise TopologyError(f"link {self.name!r}: bad parameter: {exc}") from None
        if not isinstance(p.channel, FibreChannel):
            raise TopologyError(f"link {self.name!r}: preset {self.preset!r} is not a fibre link")
        return replace(
            p,
            name=f"{self.preset}:{self.name}",
            channel=replace(
                p.channel,
                attenuation_db_per_km=self.attenuation_db_per_km,
                fixed_loss_db=self.fixed_loss_db,
            ),
        )


@dataclass(frozen=True)
class Topology:
    """A validated network: nodes, links and an undirected networkx graph.

    Build one with :func:`topology_from_dict`; construct directly only with
    already-validated parts (the constructor re-validates).
    """

    name: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    demands: tuple[Demand, ...] = ()
    graph: nx.Graph = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self.nodes, self.links)
        names = {n.name for n in self.nodes}
        for d in self.demands:
            for end in d.pair:
                if end not in names:
                    raise TopologyError(f"demand {d.src} -> {d.dst}: unknown node {end!r}")
        g: nx.Graph = nx.Graph()
        for n in self.nodes:
            g.add_node(n.name, node=n)
        for link in self.links:
            g.add_edge(link.a, link.b, link=link, name=link.name)
        if g.number_of_nodes() > 1 and not nx.is_connected(g):
            parts = sorted((sorted(c) for c in nx.connected_components(g)), key=len)
            raise TopologyError(
                f"topology {self.name!r} is disconnected: {parts[0]} cannot reach the rest"
            )
        object.__setattr__(self, "graph", g)

    def node(self, name: str) -> Node:
        """The node called ``name`` (ValueError naming it if unknown)."""
        if name not in self.graph:
            raise ValueError(f"unknown node {name!r} in topology {self.name!r}")
        node: Node = self.graph.nodes[name]["node"]
        return node

    def link(self, name: str) -> Link:
        """The link called ``name``; ``"a--b"`` and ``"b--a"`` also find it."""
        for link in self.links:
            if link.name == name:
                return link
        if "--" in name:
            a, b = name.split("--", 1)
            if self.graph.has_edge(a, b):
                found: Link = self.graph.edges[a, b]["link"]
                return found
        raise ValueError(f"unknown link {name!r} in topology {self.name!r}")

    def link_between(self, a: str, b: str) -> Link:
        """The link joining nodes ``a`` and ``b``."""
        if not self.graph.has_edge(a, b):
            raise ValueError(f"no link between {a!r} and {b!r}")
        found: Link = self.graph.edges[a, b]["link"]
        return found

    def path_links(self, path: Iterable[str]) -> list[Link]:
        """The links along a node path."""
        p = list(path)
        return [self.link_between(u, v) for u, v in itertools.pairwise(p)]

    def merged(self, other: Topology, name: str | None = None) -> Topology:
        """Union of two topologies; nodes of the same name must be identical."""
        nodes = {n.name: n for n in self.nodes}
        for n in other.nodes:
            if n.name in nodes and nodes[n.name] != n:
                raise TopologyError(f"node {n.name!r} differs between {self.name} and {other.name}")
            nodes[n.name] = n
        return Topology(
            name=name or f"{self.name}+{other.name}",
            nodes=tuple(nodes.values()),
            links=self.links + other.links,
            demands=self.demands + other.demands,
        )

    @property
    def fibre_km(self) -> float:
        """Total fibre length."""
        return sum(link.length_km for link in self.links if link.kind == "fibre")


def _validate(nodes: tuple[Node, ...], links: tuple[Link, ...]) -> None:
    names: set[str] = set()
    for n in nodes:
        if not n.name or not isinstance(n.name, str):
            raise TopologyError(f"node name must be a non-empty string, got {n.name!r}")
        if n.name in names:
            raise TopologyError(f"duplicate node {n.name!r}")
        if n.kind not in NODE_KINDS:
            raise TopologyError(
                f"node {n.name!r}: kind must be one of {NODE_KINDS}, got {n.kind!r}"
            )
        if n.kind != "satellite" and not (
            -90.0 <= n.lat_deg <= 90.0 and -180.0 <= n.lon_deg <= 180.0
        ):
            raise TopologyError(
                f"node {n.name!r}: latitude/longitude out of range ({n.lat_deg}, {n.lon_deg})"
            )
        names.add(n.name)
    link_names: set[str] = set()
    pairs: set[frozenset[str]] = set()
    for link in links:
        for end in (link.a, link.b):
            if end not in names:
                raise TopologyError(f"link {link.name!r} refers to unknown node {end!r}")
        if link.a == link.b:
            raise TopologyError(f"link {link.name!r} joins node {link.a!r} to itself")
        if link.name in link_names:
            raise TopologyError(f"duplicate link name {link.name!r}")
        pair = frozenset((link.a, link.b))
        if pair in pairs:
            raise TopologyError(f"duplicate link between {link.a!r} and {link.b!r}")
        if not (math.isfinite(link.length_km) and link.length_km >= 0.0):
            raise TopologyError(f"link {link.name!r}: length_km must be >= 0, got {link.length_km}")
        if link.kind not in _LINK_KINDS:
            raise TopologyError(f"link {link.name!r}: kind must be one of {_LINK_KINDS}")
        if link.via and link.via not in names:
            raise TopologyError(f"link {link.name!r}: via refers to unknown node {link.via!r}")
        if link.attenuation_db_per_km < 0 or link.fixed_loss_db < 0:
            raise TopologyError(f"link {link.name!r}: losses must be >= 0")
        link_names.add(link.name)
        pairs.add(pair)


def _num(entry: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    if key not in entry:
        if default is None:
            raise TopologyError(f"{where}: missing {key!r}")
        return default
    try:
        return float(entry[key])
    except (TypeError, ValueError):
        raise TopologyError(f"{where}: {key!r} must be a number, got {entry[key]!r}") from None


def _overrides(raw: Mapping[str, Any], where: str) -> tuple[tuple[str, Any], ...]:
    """Overrides as sorted pairs; the link checks them when it resolves its parameters."""
    if not isinstance(raw, Mapping):
        raise TopologyError(f"{where}: 'overrides' must be a mapping")
    return tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in raw.items()))


def _nodes(raw_nodes: list[Any]) -> list[Node]:
    nodes: list[Node] = []
    for i, entry in enumerate(raw_nodes):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise TopologyError(f"nodes[{i}] must be a mapping with a 'name'")
        where = f"node {entry['name']!r}"
        kind = str(entry.get("kind", "trusted"))
        nan = math.nan if kind == "satellite" else None
        nodes.append(
            Node(
                name=str(entry["name"]),
                lat_deg=_num(entry, "lat_deg", where, nan),
                lon_deg=_num(entry, "lon_deg", where, nan),
                kind=kind,  # type: ignore[arg-type]
                label=str(entry.get("label", "")),
                altitude_m=_num(entry, "altitude_m", where, 0.0),
                note=str(entry.get("note", "")),
            )
        )
    return nodes


def _link(i: int, entry: Any, by_name: Mapping[str, Node], defaults: Mapping[str, Any]) -> Link:
    if not isinstance(entry, Mapping) or "a" not in entry or "b" not in entry:
        raise TopologyError(f"links[{i}] must be a mapping with 'a' and 'b'")
    a, b = str(entry["a"]), str(entry["b"])
    lname = str(entry.get("name", f"{a}--{b}"))
    where = f"link {lname!r}"
    for end in (a, b):
        if end not in by_name:
            raise TopologyError(f"{where} refers to unknown node {end!r}")
    kind = str(entry.get("kind", "fibre"))
    if "length_km" in entry:
        length = _num(entry, "length_km", where)
    elif kind == "fibre":
        na, nb = by_name[a], by_name[b]
        factor = _num(entry, "route_factor", where, float(defaults.get("route_factor", 1.2)))
        length = round(factor * geodesic_km(na.lat_deg, na.lon_deg, nb.lat_deg, nb.lon_deg), 1)
    elif kind == "entangled":  # the separation of the two ground stations
        na, nb = by_name[a], by_name[b]
        length = round(geodesic_km(na.lat_deg, na.lon_deg, nb.lat_deg, nb.lon_deg), 1)
    else:
        length = 0.0
    attenuation = _num(
        entry, "attenuation_db_per_km", where, float(defaults.get("attenuation_db_per_km", 0.25))
    )
    fixed = _num(entry, "fixed_loss_db", where, float(defaults.get("fixed_loss_db", 2.0)))
    if not (math.isfinite(length) and length >= 0.0):
        raise TopologyError(f"{where}: length_km must be >= 0, got {length}")
    if attenuation < 0 or fixed < 0:
        raise TopologyError(f"{where}: losses must be >= 0")
    if kind not in _LINK_KINDS:
        raise TopologyError(f"{where}: kind must be one of {_LINK_KINDS}")
    return Link(
        name=lname,
        a=a,
        b=b,
        length_km=length,
        kind=kind,  # type: ignore[arg-type]
        preset=str(entry.get("preset", defaults.get("preset", "backbone"))),
        attenuation_db_per_km=attenuation,
        fixed_loss_db=fixed,
        overrides=_overrides(
            {**(defaults.get("overrides") or {}), **(entry.get("overrides") or {})}, where
        ),
        via=str(entry.get("via", "")),
    )


def topology_from_dict(data: Mapping[str, Any]) -> Topology:
    """Build and validate a topology from a parsed YAML mapping (format in the module doc).

    Parameters
    ----------
    data
        Mapping with ``name``, optional ``defaults``, ``nodes``, ``links`` and optional
        ``demands`` (:func:`quaykey.network.demands.demands_from_entries`).

    Returns
    -------
    Topology

    Raises
    ------
    TopologyError
        Unknown node, duplicate node or link, negative length, disconnected graph, a
        missing or malformed field, a demand between unknown nodes.

    Example
    -------
    >>> t = topology_from_dict({"name": "toy", "nodes": [
    ...     {"name": "a", "lat_deg": 51.9, "lon_deg": 4.0},
    ...     {"name": "b", "lat_deg": 51.9, "lon_deg": 4.5}],
    ...     "links": [{"a": "a", "b": "b", "length_km": 40}]})
    >>> t.link("a--b").loss_db
    12.0
    """
    if not isinstance(data, Mapping):
        raise TopologyError("a topology must be a mapping with 'nodes' and 'links'")
    name = str(data.get("name", "custom"))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise TopologyError("'defaults' must be a mapping")
    raw_nodes = data.get("nodes")
    raw_links = data.get("links") or []
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise TopologyError(f"topology {name!r}: 'nodes' must be a non-empty list")
    if not isinstance(raw_links, list):
        raise TopologyError(f"topology {name!r}: 'links' must be a list")
    nodes = _nodes(raw_nodes)
    by_name = {n.name: n for n in nodes}
    links = [_link(i, entry, by_name, defaults) for i, entry in enumerate(raw_links)]
    try:
        demands = demands_from_entries(data.get("demands"))
    except ValueError as exc:
        raise TopologyError(f"topology {name!r}: {exc}") from None
    return Topology(name=name, nodes=tuple(nodes), links=tuple(links), demands=demands)
