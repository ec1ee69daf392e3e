"""What a network run produced: typed, JSON-ready through ``to_dict`` (no key material).

Route capacity has one definition, the same in ``quaykey network plan`` and
``quaykey network simulate``: the sum, over the paths a demand uses (one path, or its
node-disjoint paths when the demand is multipath), of the smallest link key rate on each
path (:func:`quaykey.network.routing.demand_route`). ``plan`` takes the link rates from the
model (:func:`quaykey.network.links.link_model`), ``simulate`` from what each link made
while it was up; they differ by the sampling spread of the blocks only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "FaultReport",
    "LinkReport",
    "RouteImpact",
    "RouteReport",
    "SimulationReport",
]


@dataclass(frozen=True)
class LinkReport:
    """One link over the run.

    ``secret_key_rate_bps`` is key bits per second of the time the link was up (fibre) or
    per second of the run (free-space, whose key comes in passes). ``analytic_*`` and
    ``plob_bound_bps`` are the model's figures for fibre links (``None`` otherwise).
    """

    name: str
    a: str
    b: str
    kind: str
    length_km: float
    loss_db: float | None
    pool_bits: int
    qber: float | None
    status: str
    secret_key_rate_bps: float
    key_bits: int
    blocks: int = 0
    aborted_blocks: int = 0
    passes_with_key: int = 0
    analytic_key_rate_bps: float | None = None
    analytic_qber: float | None = None
    plob_bound_bps: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)


@dataclass(frozen=True)
class RouteReport:
    """One demand's route at the end of the run and what it delivered.

    ``trusted_nodes`` are the nodes other than the two ends that held the route's key (the
    relaying nodes of its paths): empty for a route over one ``entangled`` link, whose key
    no node but its two ends ever held.
    """

    src: str
    dst: str
    capacity_bps: float
    hops: int
    paths: tuple[tuple[str, ...], ...]
    limiting_links: tuple[str, ...]
    multipath: bool
    requests: int
    delivered_bits: int
    failed_requests: int
    no_route_requests: int
    trusted_nodes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (paths as lists)."""
        d = asdict(self)
        d["paths"] = [list(p) for p in self.paths]
        d["limiting_links"] = list(self.limiting_links)
        d["trusted_nodes"] = list(self.trusted_nodes)
        return d


@dataclass(frozen=True)
class RouteImpact:
    """A demand's route capacity just before and just after a fault (modelled link rates).

    ``capacity_lost_bps`` is ``max(0, before - after)``: the capacity the fault took away.
    """

    src: str
    dst: str
    capacity_before_bps: float
    capacity_after_bps: float
    path_before: tuple[str, ...]
    path_after: tuple[str, ...]

    @property
    def capacity_lost_bps(self) -> float:
        """Capacity the fault took away (never negative)."""
        return max(0.0, self.capacity_before_bps - self.capacity_after_bps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping, ``capacity_lost_bps`` included."""
        d = asdict(self)
        d["path_before"] = list(self.path_before)
        d["path_after"] = list(self.path_after)
        d["capacity_lost_bps"] = self.capacity_lost_bps
        return d


@dataclass(frozen=True)
class FaultReport:
    """One fault and every demand's route capacity around it."""

    kind: str
    link: str
    at_hour: float
    attack: str | None
    routes: tuple[RouteImpact, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "kind": self.kind,
            "link": self.link,
            "at_hour": self.at_hour,
            "attack": self.attack,
            "routes": [r.to_dict() for r in self.routes],
        }


@dataclass(frozen=True)
class SimulationReport:
    """What a run produced."""

    links: tuple[LinkReport, ...]
    routes: tuple[RouteReport, ...]
    faults: tuple[FaultReport, ...]
    simulated_s: float
    wall_s: float
    fidelity: str

    def link(self, name: str) -> LinkReport:
        """The report of link ``name``."""
        for row in self.links:
            if row.name == name:
                return row
        raise ValueError(f"no link {name!r} in the report")

    def to_dict(self) -> dict[str, Any]:
        """Mapping with ``links``, ``routes``, ``faults``, ``simulated_s``, ``wall_s``."""
        return {
            "fidelity": self.fidelity,
            "simulated_s": self.simulated_s,
            "wall_s": self.wall_s,
            "realtime_factor": self.simulated_s / self.wall_s if self.wall_s > 0 else None,
            "links": [r.to_dict() for r in self.links],
            "routes": [r.to_dict() for r in self.routes],
            "faults": [f.to_dict() for f in self.faults],
        }
