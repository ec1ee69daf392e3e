"""Discrete-event simulation of the whole network (SimPy).

:class:`NetworkSimulation` builds one SimPy process per link (blocks of key into the pools
at both ends, see :mod:`quaykey.network.link`), one per satellite link (a pass's key lands
when the pass ends, see :mod:`quaykey.network.passes`), one per key demand (end-to-end
keys relayed every ``interval_s`` over a key-aware route, see :mod:`quaykey.network.relay`
and :mod:`quaykey.network.routing`) and one per fault. It runs as fast as possible
(``simpy.Environment``) or in scaled real time (``simpy.rt.RealtimeEnvironment``).

Faults
------
``cut``
    At ``at_s`` the fibre is cut: its link process stops, routes stop using it, and the
    report gives each route's capacity before and after.
``eve``
    From ``at_s`` an eavesdropper attacks the link: its blocks see the attack's QBER and
    abort; a link whose last block aborted is avoided by routing.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import simpy
import simpy.rt

from quaykey.errors import InsufficientKeyError, NoRouteError
from quaykey.network.link import (
    Attack,
    BlockOutcome,
    Fidelity,
    LinkRunner,
    analytic_link_summary,
    exact_free_space_block,
    expected_counts,
    parse_attack,
)
from quaykey.network.passes import Pass
from quaykey.network.pool import PoolSet
from quaykey.network.relay import relay_key, relay_multipath
from quaykey.network.routing import (
    Route,
    disjoint_paths,
    disjoint_route,
    key_aware_route,
    path_bottleneck,
)
from quaykey.network.topology import Topology

__all__ = [
    "Demand",
    "Fault",
    "KeySink",
    "NetworkSimulation",
    "SimulationConfig",
    "SimulationReport",
    "default_demands",
    "key_bytes",
    "parse_cut",
    "parse_eve",
]


KeySink = Callable[[str, str, str, str, bytes], None]
"""``key_sink(link, node, peer, block_id, key_bytes)``: one end's copy of one block of key.

Called twice per block of real key (exact fidelity), once for each end, with the same
``block_id`` (``"<link>/<n>"``, ``n`` counting the link's blocks from 1) and the bytes
*that end's party* produced (see :func:`key_bytes`). The arguments are what a KME needs:
``KmeService.deposit_link_key(peer, block_id, key_bytes)`` of the KME at ``node``.
"""


def key_bytes(bits: Any) -> bytes:
    """Pack a key's bits (uint8 array of 0/1) into bytes, most significant bit first.

    Only whole bytes are packed: the last ``len(bits) % 8`` bits are dropped rather than
    padded with zeros, so every byte handed over is secret key. The two ends of a link
    hold keys of the same length, so they drop the same bits.

    Example
    -------
    >>> key_bytes(np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 1], dtype=np.uint8))
    b'\\x81'
    """
    arr = np.asarray(bits, dtype=np.uint8)
    whole = arr.size - arr.size % 8
    return np.packbits(arr[:whole]).tobytes()


@dataclass(frozen=True)
class Fault:
    """A fault injected at ``at_s``: a fibre ``cut`` or an ``eve`` attack on ``link``."""

    kind: str
    link: str
    at_s: float
    attack: Attack | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cut", "eve"):
            raise ValueError(f"fault kind must be 'cut' or 'eve', got {self.kind!r}")
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise ValueError(f"fault time must be >= 0 hours, got {self.at_s / 3600!r}")
        if self.kind == "eve" and self.attack is None:
            raise ValueError("an eve fault needs an attack")


def parse_cut(spec: str) -> Fault:
    """``"LINK@HOUR"`` (e.g. ``"jinan--taian@6"``) into a cut :class:`Fault`.

    Example
    -------
    >>> parse_cut("jinan--taian@6").at_s
    21600.0
    """
    link, sep, hour = spec.rpartition("@")
    if not sep or not link:
        raise ValueError(f"--cut {spec!r}: use LINK@HOUR, e.g. jinan--taian@6")
    try:
        at_h = float(hour)
    except ValueError:
        raise ValueError(f"--cut {spec!r}: HOUR must be a number") from None
    return Fault("cut", link.strip(), at_h * 3600.0)


def parse_eve(spec: str) -> Fault:
    """``"LINK:ATTACK@HOUR"`` (e.g. ``"hefei--chaohu:intercept-resend:0.3@2"``).

    Example
    -------
    >>> f = parse_eve("hefei--chaohu:intercept-resend:0.3@2")
    >>> f.link, f.attack.fraction, f.at_s
    ('hefei--chaohu', 0.3, 7200.0)
    """
    m = re.fullmatch(r"\s*([^:@]+):([^@]+)@([0-9.eE+-]+)\s*", spec)
    if not m:
        raise ValueError(
            f"--eve {spec!r}: use LINK:ATTACK@HOUR, e.g. hefei--chaohu:intercept-resend:0.3@2"
        )
    return Fault("eve", m.group(1).strip(), float(m.group(3)) * 3600.0, parse_attack(m.group(2)))


@dataclass(frozen=True)
class Demand:
    """Two nodes that want ``key_bits`` of end-to-end key every ``interval_s``."""

    src: str
    dst: str
    key_bits: int = 256
    interval_s: float = 60.0
    multipath: bool = False


def default_demands(topology: Topology) -> list[Demand]:
    """Port-and-customs key demands for the presets (those whose nodes exist)."""
    wanted = [
        Demand("customs-hq-beijing", "shanghai-customs"),
        Demand("sipg-ops", "ningbo-zhoushan-port"),
        Demand("yangshan-terminal", "shanghai-customs"),
        Demand("waigaoqiao-terminal", "sipg-ops"),
        Demand("bonded-warehouse", "shanghai-customs", multipath=True),
        Demand("xinglong", "nanshan", key_bits=256, interval_s=600.0),
    ]
    names = {n.name for n in topology.nodes}
    return [d for d in wanted if d.src in names and d.dst in names]


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
        End-to-end key demands (``None``: :func:`default_demands`).
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
        if self.block_duration_s <= 0:
            raise ValueError("block_duration_s must be > 0")
        if self.realtime_factor is not None and self.realtime_factor <= 0:
            raise ValueError("realtime_factor must be > 0")


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


@dataclass(frozen=True)
class SimulationReport:
    """What a run produced (JSON-ready through :meth:`to_dict`; no key material)."""

    links: tuple[dict[str, Any], ...]
    routes: tuple[dict[str, Any], ...]
    faults: tuple[dict[str, Any], ...]
    simulated_s: float
    wall_s: float
    fidelity: str

    def to_dict(self) -> dict[str, Any]:
        """Mapping with ``links``, ``routes``, ``faults``, ``simulated_s``, ``wall_s``."""
        return {
            "fidelity": self.fidelity,
            "simulated_s": self.simulated_s,
            "wall_s": self.wall_s,
            "realtime_factor": self.simulated_s / self.wall_s if self.wall_s > 0 else None,
            "links": list(self.links),
            "routes": list(self.routes),
            "faults": list(self.faults),
        }


class NetworkSimulation:
    """One run of the network.

    Parameters
    ----------
    topology
        The network.
    config
        Run settings.
    satellite_passes
        For each free-space link name, its passes (with ``key_bits``) in the run window;
        the CLI computes them with :mod:`quaykey.network.passes`. Missing: no key.
    key_sink
        Optional ``key_sink(link, node, peer, block_id, key_bytes)`` (:data:`KeySink`)
        called for each end of each block of real key (exact fidelity), e.g. to hand link
        keys to a key-management layer; ``node`` receives the bytes its own party
        produced, under a ``block_id`` identical at both ends. Blocks shorter than one
        byte are not handed over.

    Example
    -------
    >>> from quaykey.network.topology import topology_from_dict
    >>> t = topology_from_dict({"nodes": [{"name": "a", "lat_deg": 0, "lon_deg": 0},
    ...     {"name": "b", "lat_deg": 0, "lon_deg": 0.4}], "links": [{"a": "a", "b": "b"}]})
    >>> sim = NetworkSimulation(t, SimulationConfig(duration_s=3600,
    ...     demands=(Demand("a", "b"),)))
    >>> rep = sim.run()
    >>> rep.links[0]["secret_key_rate_bps"] > 0, rep.routes[0]["delivered_bits"] > 0
    (True, True)
    """

    def __init__(
        self,
        topology: Topology,
        config: SimulationConfig,
        satellite_passes: Mapping[str, Sequence[Pass]] | None = None,
        key_sink: KeySink | None = None,
    ) -> None:
        self.topology = topology
        self.key_sink = key_sink
        self._block_ids: dict[str, int] = {}
        self.config = config
        self.passes = dict(satellite_passes or {})
        # Canonical link names ("b--a" finds "a--b"); ValueError naming an unknown link.
        self.faults = [replace(f, link=topology.link(f.link).name) for f in config.faults]
        self.rng = np.random.default_rng(config.seed)
        self.pools = PoolSet(materialised=config.fidelity == "exact")
        self.tally: dict[str, _LinkTally] = {}
        self.attacks: dict[str, Attack] = {}
        self.outcomes: list[BlockOutcome] = []
        self.demands = list(
            config.demands if config.demands is not None else default_demands(topology)
        )
        for d in self.demands:
            topology.node(d.src)
            topology.node(d.dst)
        self.route_log: dict[tuple[str, str], dict[str, Any]] = {}
        self.fault_log: list[dict[str, Any]] = []
        self.env: simpy.Environment = (
            simpy.rt.RealtimeEnvironment(factor=1.0 / config.realtime_factor, strict=False)
            if config.realtime_factor
            else simpy.Environment()
        )
        self.runners: dict[str, LinkRunner] = {}
        self._sat_auth: dict[str, Any] = {}
        self._disjoint_cache: dict[tuple[str, str, frozenset[str]], list[tuple[str, ...]]] = {}
        self._sat_rng = np.random.default_rng(self.rng.integers(0, 2**63))
        for link in topology.links:
            self.pools.add_link(link.name, link.a, link.b)
            self.tally[link.name] = _LinkTally()
            if link.kind == "fibre":
                if config.fidelity == "exact":
                    _check_exact_size(link.name, link.params(), config.block_duration_s)
                self.runners[link.name] = LinkRunner(
                    name=link.name,
                    params=link.params(),
                    fidelity=config.fidelity,
                    block_duration_s=config.block_duration_s,
                    rng=np.random.default_rng(self.rng.integers(0, 2**63)),
                )

    # ------------------------------------------------------------------ processes

    def _fibre(self, name: str) -> Any:
        runner = self.runners[name]
        tally = self.tally[name]
        while True:
            # An attack applies to blocks that start after it; a cut loses the block in flight.
            attack = self.attacks.get(name)
            yield self.env.timeout(runner.block_duration_s)
            if tally.cut:
                return
            outcome, keys = runner.run_block(self.env.now, attack)
            self._record(tally, outcome)
            if not outcome.aborted:
                if keys is None:
                    self.pools.deposit(name, outcome.key_bits)
                else:
                    self._deposit_bits(name, keys)

    def _deposit_bits(self, name: str, keys: tuple[Any, Any]) -> None:
        self.pools.deposit(name, alice_bits=keys[0], bob_bits=keys[1])
        block_id = self._block_ids.get(name, 0) + 1
        self._block_ids[name] = block_id
        if self.key_sink is not None:
            a, b = self.pools.ends(name)
            ka, kb = key_bytes(keys[0]), key_bytes(keys[1])
            if ka:
                bid = f"{name}/{block_id}"
                self.key_sink(name, a, b, bid, ka)
                self.key_sink(name, b, a, bid, kb)

    def _record(self, tally: _LinkTally, outcome: BlockOutcome) -> None:
        self.outcomes.append(outcome)
        tally.blocks += 1
        tally.active_s += outcome.duration_s
        tally.key_bits += outcome.key_bits
        tally.sifted += outcome.sifted_bits
        tally.errors += outcome.qber * outcome.sifted_bits
        tally.aborted += int(outcome.aborted)
        tally.last_aborted = outcome.aborted
        tally.last_rate_bps = outcome.key_bits / outcome.duration_s

    def _satellite(self, name: str) -> Any:
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
            # Exact: sample the pass over its loss profile and post-process it.
            if name not in self._sat_auth:
                from quaykey.postproc.channel import AuthKeyPool

                self._sat_auth[name] = AuthKeyPool.pre_shared(
                    200_000, seed=int(self.rng.integers(0, 2**31))
                )
            outcome, keys = exact_free_space_block(
                self.topology.link(name).params(),
                p.loss_db_profile,
                p.profile_step_s,
                self._sat_rng,
                self._sat_auth[name],
                name=name,
                end_s=self.env.now,
            )
            tally.key_bits += outcome.key_bits
            tally.sifted += outcome.sifted_bits
            tally.errors += outcome.qber * outcome.sifted_bits
            if keys is not None:
                self._deposit_bits(name, keys)

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
            caps = [path_bottleneck(self.topology, p, rates) for p in paths]
            return Route(
                d.src, d.dst, tuple(paths), sum(c for c, _ in caps), tuple(n for _, n in caps)
            )
        levels = {name: float(self.pools.level(name)) for name in self.pools.links()}
        return key_aware_route(
            self.topology, d.src, d.dst, rates, levels, exclude_links=self._excluded()
        )

    def _demand(self, d: Demand) -> Any:
        log = self.route_log.setdefault(
            (d.src, d.dst),
            {
                "src": d.src,
                "dst": d.dst,
                "requests": 0,
                "delivered_bits": 0,
                "failed": 0,
                "no_route": 0,
                "multipath": d.multipath,
                "paths_used": {},
            },
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
                key = " > ".join(route.paths[0]) if len(route.paths) == 1 else "multipath"
                log["paths_used"][key] = log["paths_used"].get(key, 0) + 1
            except InsufficientKeyError:
                log["failed"] += 1
            except NoRouteError:
                log["no_route"] += 1
            yield self.env.timeout(d.interval_s)

    def _fault(self, f: Fault) -> Any:
        if f.at_s > self.env.now:
            yield self.env.timeout(f.at_s - self.env.now)
        before = self._capacities()
        if f.kind == "cut":
            self.tally[f.link].cut = True
        else:
            assert f.attack is not None
            self.attacks[f.link] = f.attack
            self.tally[f.link].attacked = True
        # A cut takes effect now; an attack shows in the link's next block.
        if f.kind == "eve":
            yield self.env.timeout(self.config.block_duration_s + 1e-6)
        after = self._capacities()
        self.fault_log.append(
            {
                "kind": f.kind,
                "link": f.link,
                "at_hour": f.at_s / 3600.0,
                "attack": f.attack.spec if f.attack else None,
                "routes": [
                    {
                        "src": k[0],
                        "dst": k[1],
                        "capacity_before_bps": before.get(k, (0.0, ()))[0],
                        "capacity_after_bps": after.get(k, (0.0, ()))[0],
                        "capacity_lost_bps": before.get(k, (0.0, ()))[0]
                        - after.get(k, (0.0, ()))[0],
                        "path_before": list(before.get(k, (0.0, ()))[1]),
                        "path_after": list(after.get(k, (0.0, ()))[1]),
                    }
                    for k in before
                ],
            }
        )

    def _capacities(self) -> dict[tuple[str, str], tuple[float, tuple[str, ...]]]:
        out: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}
        for d in self.demands:
            try:
                r = self.route_for(d)
                out[(d.src, d.dst)] = (r.capacity_bps, r.paths[0])
            except NoRouteError:
                out[(d.src, d.dst)] = (0.0, ())
        return out

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
        for d in self.demands:
            self.env.process(self._demand(d))
        steps = 100
        for i in range(1, steps + 1):
            until = self.config.duration_s * i / steps
            if i == steps:  # include events at exactly the end (the last block, say)
                until = math.nextafter(self.config.duration_s, math.inf)
            self.env.run(until=until)
            if progress is not None:
                progress(float(self.env.now))
        wall = time.perf_counter() - wall0
        return SimulationReport(
            links=tuple(self._link_report()),
            routes=tuple(self._route_report()),
            faults=tuple(self.fault_log),
            simulated_s=float(self.config.duration_s),
            wall_s=wall,
            fidelity=self.config.fidelity,
        )

    def _link_report(self) -> list[dict[str, Any]]:
        rows = []
        for link in self.topology.links:
            t = self.tally[link.name]
            row: dict[str, Any] = {
                "name": link.name,
                "a": link.a,
                "b": link.b,
                "kind": link.kind,
                "length_km": link.length_km,
                "pool_bits": self.pools.level(link.name),
                "qber": t.errors / t.sifted if t.sifted else None,
                "status": "cut" if t.cut else ("attacked" if t.attacked else "up"),
            }
            if link.kind == "fibre":
                params = self.runners[link.name].params
                row.update(analytic_link_summary(params, self.config.block_duration_s))
                row.update(
                    secret_key_rate_bps=t.key_bits / t.active_s if t.active_s else 0.0,
                    key_bits=t.key_bits,
                    blocks=t.blocks,
                    aborted_blocks=t.aborted,
                )
            else:
                row.update(
                    loss_db=None,
                    secret_key_rate_bps=t.key_bits / self.config.duration_s,
                    key_bits=t.key_bits,
                    passes_with_key=t.passes,
                )
            rows.append(row)
        return rows

    def _route_report(self) -> list[dict[str, Any]]:
        rates = {
            link.name: (
                self.tally[link.name].key_bits / self.tally[link.name].active_s
                if link.kind == "fibre" and self.tally[link.name].active_s
                else self.tally[link.name].key_bits / self.config.duration_s
            )
            for link in self.topology.links
        }
        rows = []
        for d in self.demands:
            log = self.route_log.get(
                (d.src, d.dst), {"requests": 0, "delivered_bits": 0, "failed": 0, "no_route": 0}
            )
            try:
                if d.multipath:
                    r = disjoint_route(
                        self.topology, d.src, d.dst, rates, exclude_links=self._excluded()
                    )
                else:
                    r = key_aware_route(
                        self.topology, d.src, d.dst, rates, exclude_links=self._excluded()
                    )
                paths = [list(p) for p in r.paths]
                cap, limiting, hops = r.capacity_bps, list(r.limiting_links), r.hops
            except NoRouteError:
                paths, cap, limiting, hops = [], 0.0, [], 0
            rows.append(
                {
                    "src": d.src,
                    "dst": d.dst,
                    "capacity_bps": cap,
                    "hops": hops,
                    "paths": paths,
                    "limiting_links": limiting,
                    "multipath": d.multipath,
                    "requests": log["requests"],
                    "delivered_bits": log["delivered_bits"],
                    "failed_requests": log["failed"],
                    "no_route_requests": log["no_route"],
                }
            )
        return rows


MAX_EXACT_DETECTIONS = 50_000_000


def _check_exact_size(name: str, params: Any, block_duration_s: float) -> None:
    counts = expected_counts(params, params.source.repetition_rate_hz * block_duration_s)
    n = float(counts.n_x.sum() + counts.n_z.sum()) / max(
        params.source.basis_probability_x**2 + (1 - params.source.basis_probability_x) ** 2,
        1e-12,
    )
    if n > MAX_EXACT_DETECTIONS:
        raise ValueError(
            f"exact fidelity: a {block_duration_s:g} s block of link {name!r} would hold "
            f"~{n:.2g} detections (limit {MAX_EXACT_DETECTIONS:.0e}); use a shorter --block-s, "
            "a reduced source.repetition_rate_hz override, or --fidelity statistical"
        )
