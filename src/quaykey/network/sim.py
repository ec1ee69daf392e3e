"""Discrete-event simulation of the whole network (SimPy processes only).

:class:`NetworkSimulation` runs one SimPy process per fibre link (blocks through the seam,
:class:`~quaykey.network.links.runner.LinkRunner`, key into the pools at both ends), one
per satellite link (a pass's key lands when the pass ends), one per key demand
(:mod:`quaykey.network.demands`: end-to-end keys relayed over a key-aware route) and one
per fault (:mod:`quaykey.network.faults`). It runs as fast as possible
(``simpy.Environment``) or in scaled real time (``simpy.rt.RealtimeEnvironment``). The
report is typed (:mod:`quaykey.network.report`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import simpy
import simpy.rt

from quaykey.errors import KeyExhaustedError, NoRouteError
from quaykey.network.cost import check_exact_size
from quaykey.network.demands import Demand
from quaykey.network.faults import Fault
from quaykey.network.handoff import KeySink, key_bytes
from quaykey.network.links.block import Attack, BlockOutcome, BlockWindow, Fidelity, LossProfile
from quaykey.network.links.runner import LinkRunner, make_block
from quaykey.network.links.statistical import LinkModel, link_model
from quaykey.network.pool import PoolSet
from quaykey.network.relay import relay_key, relay_multipath
from quaykey.network.report import (
    FaultReport,
    LinkReport,
    RouteImpact,
    RouteReport,
    SimulationReport,
)
from quaykey.network.routing import Route, demand_route, disjoint_paths, key_aware_route
from quaykey.network.routing import path_bottleneck as _bottleneck
from quaykey.network.topology import Topology

__all__ = [
    "KeySink",
    "NetworkSimulation",
    "PassKey",
    "SimulationConfig",
    "key_bytes",
]


class PassKey(Protocol):
    """What the simulation reads of a satellite pass (:mod:`quaykey.network.satellite`)."""

    rise_utc: datetime
    qkd_end_utc: datetime | None
    key_bits: int
    sifted_bits: float
    qber: float
    loss_db_profile: tuple[float, ...]
    profile_step_s: float


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of one simulation run.

    Parameters
    ----------
    duration_s
        Simulated time.
    fidelity
        ``statistical`` (counts) or ``exact`` (bits through the post-processing pipeline).
    block_duration_s
        Block length of the fibre links.
    seed
        Seed of all randomness.
    faults
        Cuts and attacks.
    demands
        End-to-end key demands (``None``: the topology's own ``demands``).
    start_utc
        Wall-clock time of simulation time 0 (satellite passes).
    realtime_factor
        ``None`` runs as fast as possible; ``f`` runs ``f`` simulated seconds per wall
        second (``simpy.rt``).
    """

    duration_s: float = 86400.0
    fidelity: Fidelity = "statistical"
    block_duration_s: float = 600.0
    seed: int = 1
    faults: tuple[Fault, ...] = ()
    demands: tuple[Demand, ...] | None = None
    start_utc: datetime = field(default_factory=lambda: datetime(2016, 12, 19, 12, tzinfo=UTC))
    realtime_factor: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration must be > 0 hours, got {self.duration_s / 3600!r}")
        if self.fidelity not in ("statistical", "exact"):
            raise ValueError(f"fidelity must be statistical or exact, got {self.fidelity!r}")
        if not (math.isfinite(self.block_duration_s) and self.block_duration_s > 0):
            raise ValueError("block duration must be > 0 s")
        if self.realtime_factor is not None and not self.realtime_factor > 0:
            raise ValueError("realtime factor must be > 0")


@dataclass
class _LinkTally:
    key_bits: int = 0
    active_s: float = 0.0
    blocks: int = 0
    aborted: int = 0
    errors: float = 0.0
    sifted: float = 0.0
    last_rate_bps: float = 0.0
    last_aborted: bool = False
    cut: bool = False
    attacked: bool = False
    passes: int = 0
    block_ids: int = 0

    def record(self, outcome: BlockOutcome) -> None:
        self.blocks += 1
        self.active_s += outcome.duration_s
        self.key_bits += outcome.key_bits
        self.sifted += outcome.sifted_bits
        self.errors += outcome.qber * outcome.sifted_bits
        self.aborted += int(outcome.aborted)
        self.last_aborted = outcome.aborted
        self.last_rate_bps = outcome.key_bits / outcome.duration_s


class NetworkSimulation:
    """One run of the network.

    Parameters
    ----------
    topology
        The network (link parameters resolved when it was built).
    config
        Run settings.
    satellite_passes
        For each free-space or entangled link name, its passes or shared night windows
        (:class:`PassKey`, with ``key_bits``) in the run window (:mod:`quaykey.network.passes`).
    key_sink
        Optional :data:`KeySink`, called for each end of each block of real key (exact
        fidelity), e.g. :func:`quaykey.kms.feed.link_key_sink`.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": "a", "lat_deg": 0, "lon_deg": 0},
    ...     {"name": "b", "lat_deg": 0, "lon_deg": 0.4}], "links": [{"a": "a", "b": "b"}]})
    >>> sim = NetworkSimulation(t, SimulationConfig(duration_s=3600,
    ...     demands=(Demand("a", "b"),)))
    >>> rep = sim.run()
    >>> rep.links[0].secret_key_rate_bps > 0, rep.routes[0].delivered_bits > 0
    (True, True)
    """

    def __init__(
        self,
        topology: Topology,
        config: SimulationConfig,
        satellite_passes: Mapping[str, Sequence[PassKey]] | None = None,
        key_sink: KeySink | None = None,
    ) -> None:
        self.topology = topology
        self.config = config
        self.key_sink = key_sink
        self.passes = dict(satellite_passes or {})
        # Canonical link names ("b--a" finds "a--b"); ValueError naming an unknown link.
        self.faults = [replace(f, link=topology.link(f.link).name) for f in config.faults]
        self.rng = np.random.default_rng(config.seed)
        self.pools = PoolSet(materialised=config.fidelity == "exact")
        self.tally: dict[str, _LinkTally] = {}
        self.attacks: dict[str, Attack] = {}
        demands = config.demands if config.demands is not None else topology.demands
        self.demands = sorted(demands, key=lambda d: -d.priority)
        for d in self.demands:
            topology.node(d.src)
            topology.node(d.dst)
        self.route_log: dict[tuple[str, str], dict[str, Any]] = {}
        self.fault_log: list[FaultReport] = []
        self.env: simpy.Environment = (
            simpy.rt.RealtimeEnvironment(factor=1.0 / config.realtime_factor, strict=False)
            if config.realtime_factor
            else simpy.Environment()
        )
        self.runners: dict[str, LinkRunner] = {}
        self.models: dict[str, LinkModel] = {}
        self._disjoint_cache: dict[tuple[str, str, frozenset[str]], list[tuple[str, ...]]] = {}
        self._sat_rng = np.random.default_rng(self.rng.integers(0, 2**63))
        self._sat_blocks: dict[str, Any] = {}
        for link in topology.links:
            self.pools.add_link(link.name, link.a, link.b)
            self.tally[link.name] = _LinkTally()
            if link.end_to_end and config.fidelity == "exact":
                raise ValueError(f"entangled link {link.name!r}: statistical fidelity only")
            if link.kind != "fibre":
                continue
            params = link.params()
            self.models[link.name] = link_model(params, config.block_duration_s)
            if config.fidelity == "exact":
                check_exact_size(link.name, self.models[link.name], config.block_duration_s)
            self.runners[link.name] = LinkRunner(
                name=link.name,
                params=params,
                block=make_block(config.fidelity),
                block_duration_s=config.block_duration_s,
                block_seed=config.seed,
            )
        for f in self.faults:
            if f.attack is not None and f.link in self.runners and config.fidelity != "exact":
                # The counts model must follow the attack (pns does not: exact only).
                link_model(self.runners[f.link].params, config.block_duration_s, attack=f.attack)

    # ------------------------------------------------------------------ link processes

    def _fibre(self, name: str) -> Generator[simpy.Event, Any, None]:
        runner = self.runners[name]
        tally = self.tally[name]
        while True:
            # An attack applies to blocks that start after it; a cut loses the block in flight.
            attack = self.attacks.get(name)
            yield self.env.timeout(runner.block_duration_s)
            if tally.cut:
                return
            outcome = runner.run_block(attack)
            tally.record(outcome)
            if outcome.aborted:
                continue
            if outcome.keys is None:
                self.pools.deposit(name, outcome.key_bits)
            else:
                self._deposit_bits(name, outcome.keys)

    def _deposit_bits(self, name: str, keys: tuple[Any, Any]) -> None:
        self.pools.deposit(name, alice_bits=keys[0], bob_bits=keys[1])
        tally = self.tally[name]
        tally.block_ids += 1
        if self.key_sink is None:
            return
        a, b = self.pools.ends(name)
        ka, kb = key_bytes(keys[0]), key_bytes(keys[1])
        if ka:
            bid = f"{name}/{tally.block_ids}"
            self.key_sink(name, a, b, bid, ka)
            self.key_sink(name, b, a, bid, kb)

    def _satellite(self, name: str) -> Generator[simpy.Event, Any, None]:
        tally = self.tally[name]
        t0 = self.config.start_utc
        for p in sorted(self.passes.get(name, ()), key=lambda p: p.rise_utc):
            if p.qkd_end_utc is None or p.key_bits <= 0:
                continue
            end_s = (p.qkd_end_utc - t0).total_seconds()
            if end_s < 0 or end_s > self.config.duration_s:
                continue
            yield self.env.timeout(end_s - self.env.now)
            if tally.cut:
                return
            tally.passes += 1
            if not self.pools.materialised:
                tally.key_bits += p.key_bits
                tally.sifted += p.sifted_bits
                tally.errors += p.qber * p.sifted_bits
                self.pools.deposit(name, p.key_bits)
                continue
            # Exact: the pass through the seam, over its loss profile.
            profile = LossProfile.from_samples(p.loss_db_profile, p.profile_step_s)
            block = self._sat_blocks.setdefault(name, make_block("exact"))
            outcome = block.run(
                self.topology.link(name).params(),
                BlockWindow(self.env.now - profile.duration_s, profile.duration_s),
                self._sat_rng,
                name=name,
                loss=profile,
            )
            tally.key_bits += outcome.key_bits
            tally.sifted += outcome.sifted_bits
            tally.errors += outcome.qber * outcome.sifted_bits
            if outcome.keys is not None:
                self._deposit_bits(name, outcome.keys)

    # ------------------------------------------------------------------ routing

    def _rates(self) -> dict[str, float]:
        out: dict[str, float] = {}
        now = max(self.env.now, 1.0)
        for link in self.topology.links:
            t = self.tally[link.name]
            if link.kind == "fibre":
                out[link.name] = 0.0 if t.cut or t.last_aborted else t.last_rate_bps
            else:
                out[link.name] = 0.0 if t.cut else t.key_bits / now
        return out

    def _excluded(self) -> set[str]:
        return {n for n, t in self.tally.items() if t.cut or t.last_aborted}

    def route_for(self, d: Demand) -> Route:
        """The route a demand would take now (key-aware; multipath where asked)."""
        rates = self._rates()
        if d.multipath:
            # Node-disjoint paths depend only on which links are usable: cache them.
            key = (d.src, d.dst, frozenset(self._excluded()))
            if key not in self._disjoint_cache:
                self._disjoint_cache[key] = disjoint_paths(
                    self.topology, d.src, d.dst, exclude_links=key[2]
                )
            paths = self._disjoint_cache[key]
            caps = [_bottleneck(self.topology, p, rates) for p in paths]
            return Route(
                d.src, d.dst, tuple(paths), sum(c for c, _ in caps), tuple(n for _, n in caps)
            )
        levels = {name: float(self.pools.level(name)) for name in self.pools.links()}
        return key_aware_route(
            self.topology, d.src, d.dst, rates, levels, exclude_links=self._excluded()
        )

    def _demand(self, d: Demand) -> Generator[simpy.Event, Any, None]:
        log = self.route_log.setdefault(
            d.pair, {"requests": 0, "delivered_bits": 0, "failed": 0, "no_route": 0}
        )
        rng = np.random.default_rng(self.rng.integers(0, 2**63))
        yield self.env.timeout(self.config.block_duration_s)
        while True:
            log["requests"] += 1
            try:
                route = self.route_for(d)
                if len(route.paths) > 1:
                    relay_multipath(self.topology, self.pools, route.paths, d.key_bits, rng)
                else:
                    relay_key(self.topology, self.pools, route.paths[0], d.key_bits, rng)
                log["delivered_bits"] += d.key_bits
            except KeyExhaustedError:
                log["failed"] += 1
            except NoRouteError:
                log["no_route"] += 1
            yield self.env.timeout(d.interval_s)

    # ------------------------------------------------------------------ faults

    def _model_rates(self) -> tuple[dict[str, float], set[str]]:
        """Each link's modelled key rate in its present state, and the links out of use."""
        rates: dict[str, float] = {}
        out: set[str] = set()
        for link in self.topology.links:
            t = self.tally[link.name]
            if link.kind != "fibre":
                rates[link.name] = t.key_bits / max(self.env.now, 1.0)
            elif link.name in self.attacks:
                params = self.runners[link.name].params
                attack = self.attacks[link.name]
                rates[link.name] = link_model(
                    params, self.config.block_duration_s, attack=attack
                ).key_rate_bps
            else:
                rates[link.name] = self.models[link.name].key_rate_bps
            if t.cut or rates[link.name] <= 0:
                out.add(link.name)
        return rates, out

    def _capacities(self) -> dict[tuple[str, str], tuple[float, tuple[str, ...]]]:
        rates, out = self._model_rates()
        caps: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}
        for d in self.demands:
            try:
                r = demand_route(self.topology, d.src, d.dst, rates, d.multipath, out)
                caps[d.pair] = (r.capacity_bps, r.paths[0])
            except NoRouteError:
                caps[d.pair] = (0.0, ())
        return caps

    def _fault(self, f: Fault) -> Generator[simpy.Event, Any, None]:
        if f.at_s > self.env.now:
            yield self.env.timeout(f.at_s - self.env.now)
        before = self._capacities()
        if f.kind == "cut":
            self.tally[f.link].cut = True
        else:
            assert f.attack is not None
            self.attacks[f.link] = f.attack
            self.tally[f.link].attacked = True
        after = self._capacities()
        impacts = tuple(
            RouteImpact(k[0], k[1], before[k][0], after[k][0], before[k][1], after[k][1])
            for k in before
        )
        spec = f.attack.spec if f.attack else None
        self.fault_log.append(FaultReport(f.kind, f.link, f.at_hour, spec, impacts))

    # ------------------------------------------------------------------ run

    def run(self, progress: Callable[[float], None] | None = None) -> SimulationReport:
        """Run to ``config.duration_s``; ``progress(simulated_s)`` is called as time advances."""
        wall0 = time.perf_counter()
        # Faults first: at equal times a fault applies before a block starting then.
        for f in self.faults:
            self.env.process(self._fault(f))
        for link in self.topology.links:
            if link.kind == "fibre":
                self.env.process(self._fibre(link.name))
            else:
                self.env.process(self._satellite(link.name))
        for d in self.demands:  # by priority: at equal times the higher is served first
            self.env.process(self._demand(d))
        steps = 100
        for i in range(1, steps + 1):
            until = self.config.duration_s * i / steps
            if i == steps:  # include events at exactly the end (the last block, say)
                until = math.nextafter(self.config.duration_s, math.inf)
            self.env.run(until=until)
            if progress is not None:
                progress(float(self.env.now))
        return SimulationReport(
            links=tuple(self._link_report()),
            routes=tuple(self._route_report()),
            faults=tuple(self.fault_log),
            simulated_s=float(self.config.duration_s),
            wall_s=time.perf_counter() - wall0,
            fidelity=self.config.fidelity,
        )

    def _link_report(self) -> list[LinkReport]:
        rows = []
        for link in self.topology.links:
            t = self.tally[link.name]
            common: dict[str, Any] = {
                "name": link.name,
                "a": link.a,
                "b": link.b,
                "kind": link.kind,
                "length_km": link.length_km,
                "pool_bits": int(self.pools.level(link.name)),
                "qber": t.errors / t.sifted if t.sifted else None,
                "status": "cut" if t.cut else ("attacked" if t.attacked else "up"),
                "key_bits": int(t.key_bits),
            }
            if link.kind == "fibre":
                m = self.models[link.name]
                rows.append(
                    LinkReport(
                        **common,
                        loss_db=m.loss_db,
                        secret_key_rate_bps=t.key_bits / t.active_s if t.active_s else 0.0,
                        blocks=t.blocks,
                        aborted_blocks=t.aborted,
                        analytic_key_rate_bps=m.key_rate_bps,
                        analytic_qber=m.qber,
                        plob_bound_bps=m.plob_bound_bps,
                    )
                )
            else:
                rate = t.key_bits / self.config.duration_s
                rows.append(
                    LinkReport(
                        **common, loss_db=None, secret_key_rate_bps=rate, passes_with_key=t.passes
                    )
                )
        return rows

    def _route_report(self) -> list[RouteReport]:
        rates = {row.name: row.secret_key_rate_bps for row in self._link_report()}
        rows = []
        for d in self.demands:
            log = self.route_log.get(
                d.pair, {"requests": 0, "delivered_bits": 0, "failed": 0, "no_route": 0}
            )
            try:
                r = demand_route(self.topology, d.src, d.dst, rates, d.multipath, self._excluded())
                paths, cap, limiting, hops = r.paths, r.capacity_bps, r.limiting_links, r.hops
                trusted = r.trusted_nodes
            except NoRouteError:
                paths, cap, limiting, hops, trusted = (), 0.0, (), 0, ()
            rows.append(
                RouteReport(
                    src=d.src,
                    dst=d.dst,
                    capacity_bps=cap,
                    hops=hops,
                    paths=paths,
                    limiting_links=limiting,
                    multipath=d.multipath,
                    requests=log["requests"],
                    delivered_bits=log["delivered_bits"],
                    failed_requests=log["failed"],
                    no_route_requests=log["no_route"],
                    trusted_nodes=trusted,
                )
            )
        return rows
