"""Studies a planner runs on a topology: every single-fibre cut, and parameter sweeps.

Both work from the link model (:func:`quaykey.network.links.statistical.link_model`: the
expected key rate of a block of ``block_s``) and :func:`quaykey.network.routing.demand_route`
(THE route capacity), exactly as ``quaykey network plan`` does; a sweep point may also run
a statistical simulation. Each cut chunk and each sweep point is one task for
:func:`quaykey.network.distributed.map_tasks` (a module-level function with picklable
arguments), so a study runs the same in this process, on a local cluster or on a remote
one.

A demand is *broken* by a cut when no route is left, *short* when the route left makes
less key than the demand asks (``key_bits / interval_s``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from quaykey.errors import NoRouteError
from quaykey.network.demands import Demand
from quaykey.network.distributed import map_tasks
from quaykey.network.links.statistical import link_model
from quaykey.network.routing import demand_route
from quaykey.network.sim import NetworkSimulation, SimulationConfig
from quaykey.network.topology import Topology
from quaykey.physics.config import apply_overrides

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "HOP_KEYS",
    "CutImpact",
    "DemandCut",
    "SweepPoint",
    "check_sweep_key",
    "model_rates",
    "parse_sweep_values",
    "single_cuts",
    "study_demands",
    "sweep",
    "swept_topology",
]

#: Sweep keys that change the hops rather than the link hardware: every fibre hop set to
#: a length, or every hop's length scaled.
HOP_KEYS: tuple[str, ...] = ("hop.length_km", "hop.length_scale")
_LINK_FIELDS = {"channel.attenuation_db_per_km", "channel.fixed_loss_db"}


def model_rates(topology: Topology, block_s: float) -> dict[str, float]:
    """Modelled key rate of every fibre link (blocks of ``block_s``), as ``network plan``."""
    return {
        link.name: link_model(link.params(), block_s).key_rate_bps
        for link in topology.links
        if link.kind == "fibre"
    }


def study_demands(topology: Topology) -> tuple[Demand, ...]:
    """The topology's demands, else one between every pair of user nodes."""
    if topology.demands:
        return topology.demands
    users = [n.name for n in topology.nodes if n.kind == "user"]
    return tuple(Demand(a, b) for i, a in enumerate(users) for b in users[i + 1 :])


def _capacity(
    t: Topology, d: Demand, rates: dict[str, float], out: frozenset[str]
) -> tuple[float, tuple[str, ...]]:
    try:
        r = demand_route(t, d.src, d.dst, rates, d.multipath, out)
    except NoRouteError:
        return 0.0, ()
    return r.capacity_bps, r.paths[0]


@dataclass(frozen=True)
class DemandCut:
    """One demand before and after a cut."""

    src: str
    dst: str
    demand_bps: float
    before_bps: float
    after_bps: float

    @property
    def broken(self) -> bool:
        """No route is left."""
        return self.before_bps > 0 and self.after_bps <= 0

    @property
    def short(self) -> bool:
        """A route is left, but it makes less key than the demand asks (and did not before)."""
        return 0 < self.after_bps < self.demand_bps <= self.before_bps


@dataclass(frozen=True)
class CutImpact:
    """What cutting one fibre does to every demand (only the demands it changes)."""

    link: str
    length_km: float
    demands: tuple[DemandCut, ...]

    @property
    def broken(self) -> tuple[str, ...]:
        """``SRC->DST`` of the demands left without a route."""
        return tuple(f"{d.src}->{d.dst}" for d in self.demands if d.broken)

    @property
    def short(self) -> tuple[str, ...]:
        """``SRC->DST`` of the demands left short of key."""
        return tuple(f"{d.src}->{d.dst}" for d in self.demands if d.short)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "link": self.link,
            "length_km": self.length_km,
            "broken": list(self.broken),
            "short": list(self.short),
            "demands": [asdict(d) for d in self.demands],
        }


_CutTask = tuple[Topology, dict[str, float], tuple[Demand, ...], tuple[str, ...]]


def _cut_chunk(task: _CutTask) -> list[CutImpact]:
    """The impacts of cutting each link of a chunk, one at a time (a task)."""
    t, rates, demands, links = task
    down = frozenset(n for n, r in rates.items() if r <= 0)
    before: dict[tuple[str, str], float] = {}
    used: dict[tuple[str, str], set[str] | None] = {}
    for d in demands:
        before[d.pair], path = _capacity(t, d, rates, down)
        # A single-path demand keeps its widest path, and its capacity, when a fibre off
        # that path is cut; the node-disjoint paths of a multipath demand may all change.
        used[d.pair] = None if d.multipath else {link.name for link in t.path_links(path)}
    out = []
    for name in links:
        rows = []
        for d in demands:
            on_path = used[d.pair]
            if on_path is not None and name not in on_path:
                continue
            after = _capacity(t, d, rates, down | {name})[0]
            if not math.isclose(after, before[d.pair], rel_tol=1e-12, abs_tol=0.0):
                want = d.key_bits / d.interval_s
                rows.append(DemandCut(d.src, d.dst, want, before[d.pair], after))
        out.append(CutImpact(name, t.link(name).length_km, tuple(rows)))
    return out


def single_cuts(
    topology: Topology,
    block_s: float = 600.0,
    client: Client | None = None,
    chunks: int = 16,
) -> list[CutImpact]:
    """Cut every fibre link in turn (one at a time) and see which demands it breaks.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 4,
    ...     "kind": "user" if n in "ac" else "trusted"} for i, n in enumerate("abc")],
    ...     "links": [{"a": "a", "b": "b"}, {"a": "b", "b": "c"}]})
    >>> [c.broken for c in single_cuts(t)]
    [('a->c',), ('a->c',)]
    """
    rates = model_rates(topology, block_s)
    demands = study_demands(topology)
    names = [link.name for link in topology.links if link.kind == "fibre"]
    size = max(1, math.ceil(len(names) / max(1, chunks)))
    tasks = [
        (topology, rates, demands, tuple(names[i : i + size])) for i in range(0, len(names), size)
    ]
    return [impact for part in map_tasks(client, _cut_chunk, tasks) for impact in part]


def parse_sweep_values(text: str) -> tuple[float, ...]:
    """``"0.1,0.2,0.4"`` (a list) or ``"0.1:0.5:5"`` (START:STOP:COUNT, evenly spaced).

    Example
    -------
    >>> parse_sweep_values("0.1:0.5:5")
    (0.1, 0.2, 0.3, 0.4, 0.5)
    """
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 2:
                raise ValueError
            values = tuple(float(round(v, 12)) for v in np.linspace(float(start), float(stop), n))
        else:
            values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"values must be V1,V2,... or START:STOP:COUNT (COUNT >= 2), got {text!r}"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite numbers, got {text!r}")
    return values


def swept_topology(topology: Topology, key: str, value: float) -> Topology:
    """``topology`` with ``key`` set to ``value`` on every fibre link.

    ``key`` is a link parameter (``detector.efficiency``, ``source.repetition_rate_hz``,
    ... as ``--param`` reads it) or one of :data:`HOP_KEYS`.
    """
    links = []
    for link in topology.links:
        if link.kind != "fibre":
            links.append(link)
        elif key == "hop.length_km":
            links.append(replace(link, length_km=value))
        elif key == "hop.length_scale":
            links.append(replace(link, length_km=link.length_km * value))
        elif key == "channel.attenuation_db_per_km":
            links.append(replace(link, attenuation_db_per_km=value))
        elif key == "channel.fixed_loss_db":
            links.append(replace(link, fixed_loss_db=value))
        else:
            overrides = (*(kv for kv in link.overrides if kv[0] != key), (key, value))
            links.append(replace(link, overrides=overrides))
    return Topology(topology.name, topology.nodes, tuple(links), topology.demands)


def check_sweep_key(topology: Topology, key: str, value: float) -> None:
    """ValueError naming ``key`` when it is not a sweepable parameter or ``value`` is bad."""
    if key in HOP_KEYS:
        if not value > 0:
            raise ValueError(f"{key} must be > 0, got {value!r}")
        return
    fibre = [link for link in topology.links if link.kind == "fibre"]
    if not fibre:
        raise ValueError(f"topology {topology.name!r} has no fibre link to sweep")
    if key in _LINK_FIELDS:
        if not value >= 0:
            raise ValueError(f"{key} must be >= 0, got {value!r}")
        return
    apply_overrides(fibre[0].params(), {key: value}, source="")


@dataclass(frozen=True)
class SweepPoint:
    """One value of a sweep: what the links and each demand's route make."""

    value: float
    mean_hop_km: float
    links_with_key: int
    fibre_links: int
    min_link_rate_bps: float
    mean_link_rate_bps: float
    routes: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        out = asdict(self)
        out["routes"] = [dict(r) for r in self.routes]
        return out


def _sweep_point(task: tuple[Topology, str, float, float, float | None, int]) -> SweepPoint:
    """One sweep value (a task): the model plan, and a statistical run if ``hours``."""
    base, key, value, block_s, hours, seed = task
    t = swept_topology(base, key, value)
    rates = model_rates(t, block_s)
    down = frozenset(n for n, r in rates.items() if r <= 0)
    delivered: dict[tuple[str, str], float] = {}
    demands = study_demands(t)
    if hours:
        cfg = SimulationConfig(duration_s=hours * 3600.0, block_duration_s=block_s, seed=seed,
                               demands=demands)  # fmt: skip
        rep = NetworkSimulation(t, cfg).run()
        delivered = {(r.src, r.dst): r.delivered_bits / cfg.duration_s for r in rep.routes}
    routes = []
    for d in demands:
        cap, path = _capacity(t, d, rates, down)
        row: dict[str, Any] = {
            "src": d.src,
            "dst": d.dst,
            "capacity_bps": cap,
            "demand_bps": d.key_bits / d.interval_s,
            "hops": max(0, len(path) - 1),
        }
        if hours:
            row["delivered_bps"] = delivered.get(d.pair, 0.0)
        routes.append(row)
    fibre = [link for link in t.links if link.kind == "fibre"]
    values = list(rates.values())
    return SweepPoint(
        value=value,
        mean_hop_km=sum(link.length_km for link in fibre) / len(fibre),
        links_with_key=sum(r > 0 for r in values),
        fibre_links=len(values),
        min_link_rate_bps=min(values),
        mean_link_rate_bps=sum(values) / len(values),
        routes=tuple(routes),
    )


def sweep(
    topology: Topology,
    key: str,
    values: Sequence[float],
    block_s: float = 600.0,
    client: Client | None = None,
    hours: float | None = None,
    seed: int = 1,
) -> list[SweepPoint]:
    """Set ``key`` to each of ``values`` on every fibre link; one :class:`SweepPoint` each.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": n, "lat_deg": 0, "lon_deg": i / 4,
    ...     "kind": "user"} for i, n in enumerate("ab")], "links": [{"a": "a", "b": "b"}]})
    >>> pts = sweep(t, "detector.efficiency", [0.1, 0.2])
    >>> pts[1].routes[0]["capacity_bps"] > pts[0].routes[0]["capacity_bps"]
    True
    """
    for v in values:
        check_sweep_key(topology, key, v)
    tasks = [(topology, key, float(v), block_s, hours, seed) for v in values]
    return map_tasks(client, _sweep_point, tasks)
