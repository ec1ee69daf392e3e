"""The live network of ``quaykey up``: every link's blocks, pools, alarms and routes, tick by tick.

:class:`Backbone` advances the network one *tick* of simulated time at a time (the caller
paces the ticks against the wall clock). Each fibre link runs one statistical block of the
tick's length through the link-block seam (:class:`~quaykey.network.links.runner.LinkRunner`
over :class:`~quaykey.network.links.statistical.StatisticalBlock`), with the link's
eavesdropper as an intercept-resend attack (:func:`quaykey.physics.attacks.parse_attack`). A
block's key goes into the link's counted pools (:class:`~quaykey.network.pool.PoolSet`),
bounded: key above the capacity is discarded, as a full pool discards it, and counted. A
satellite link adds a pass's key when the pass ends (:mod:`quaykey.operate.satellite`).

A block whose test-basis QBER is above :data:`QBER_ALARM` raises a ``qber`` alarm and
quarantines the link: routes leave it out until the operator clears it. A cut link makes no
key and is left out of routes until restored. Routes are key-aware widest paths
(:func:`quaykey.network.routing.key_aware_route`) over the links in use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quaykey.errors import NoRouteError
from quaykey.network.links.runner import LinkRunner, make_block
from quaykey.network.links.statistical import link_model
from quaykey.network.pool import PoolSet
from quaykey.network.routing import Route, key_aware_route
from quaykey.network.topology import Topology
from quaykey.physics.attacks import parse_attack

__all__ = ["QBER_ALARM", "Alarm", "Backbone", "LinkLive", "RouteLive"]

#: Test-basis QBER above which a block raises an alarm and its link is quarantined. Honest
#: backbone links run at ~1.5 %; blocks abort at 11 %.
QBER_ALARM = 0.05
#: Fraction of a pool's capacity below which a link in use shows ``low-pool``.
LOW_POOL_FRACTION = 0.01
HISTORY_POINTS = 60


@dataclass
class Alarm:
    """An alarm on a link at simulated time ``t_sim``."""

    t_sim: float
    link: str
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"t_sim": self.t_sim, "link": self.link, "kind": self.kind, "message": self.message}


@dataclass
class LinkLive:
    """One link's live state (counts only, no key material)."""

    name: str
    a: str
    b: str
    kind: str
    length_km: float
    capacity_bits: int
    plob_bps: float
    model_bps: float = 0.0
    key_rate_bps: float = 0.0
    qber: float = 0.0
    qber_z: float = 0.0
    eavesdropper: float = 0.0
    cut: bool = False
    quarantined: bool = False
    blocks: int = 0
    aborted: int = 0
    key_bits: int = 0
    discarded_bits: int = 0
    history: deque[tuple[float, float, float, int]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_POINTS)
    )

    @property
    def usable(self) -> bool:
        """In routes: neither cut nor quarantined."""
        return not (self.cut or self.quarantined)

    def saved(self) -> dict[str, Any]:
        """What persists across restarts."""
        keys = ("key_rate_bps", "qber", "qber_z", "eavesdropper", "cut", "quarantined",
                "blocks", "aborted", "key_bits", "discarded_bits")  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def restore(self, doc: dict[str, Any]) -> None:
        """Inverse of :meth:`saved`."""
        for k, v in doc.items():
            if hasattr(self, k) and k != "history":
                setattr(self, k, v)


@dataclass(frozen=True)
class RouteLive:
    """The present route of one pair of end nodes."""

    src: str
    dst: str
    path: tuple[str, ...]
    capacity_bps: float
    bottleneck: str | None
    status: str

    @property
    def id(self) -> str:
        """``src->dst``."""
        return f"{self.src}->{self.dst}"


class Backbone:
    """The network's links, pools, alarms and routes, advanced tick by tick.

    Parameters
    ----------
    topology
        The network (``beijing-shanghai`` with ``micius``, say).
    tick_s
        Simulated seconds per tick (also the fibre block length).
    pairs
        End-node pairs whose routes are followed (the applications' sites).
    seed
        Seed of the blocks' randomness (tick ``n`` of link ``i`` draws from ``(seed, n, i)``,
        so a tick redone after a restart draws the same).
    capacity_bits
        Each link pool's capacity.
    """

    def __init__(
        self,
        topology: Topology,
        tick_s: float,
        pairs: Sequence[tuple[str, str]],
        seed: int = 1,
        capacity_bits: int = 1 << 26,
    ) -> None:
        self.topology = topology
        self.tick_s = float(tick_s)
        self.seed = seed
        self.tick = 0
        self.t_sim = 0.0
        self.pools = PoolSet()
        self.links: dict[str, LinkLive] = {}
        self.runners: dict[str, LinkRunner] = {}
        block = make_block("statistical")
        for link in topology.links:
            self.pools.add_link(link.name, link.a, link.b)
            kind = "fibre" if link.kind == "fibre" else "satellite"
            plob = model = 0.0
            if kind == "fibre":
                params = link.params()
                m = link_model(params, self.tick_s)
                plob, model = m.plob_bound_bps, m.key_rate_bps
                self.runners[link.name] = LinkRunner(link.name, params, block, self.tick_s)
            self.links[link.name] = LinkLive(
                link.name, link.a, link.b, kind, float(link.length_km or 0.0), capacity_bits, plob,
                model,
            )  # fmt: skip
        self.pairs = list(pairs)
        self.links_at = {n.name for n in topology.nodes}
        self.routes: dict[tuple[str, str], RouteLive] = {}
        self.update_routes()

    # ------------------------------------------------------------------ one tick

    def advance(self, satellite_key: dict[str, tuple[int, float]] | None = None) -> list[Alarm]:
        """Run one tick: a block on every fibre link, pass key on satellite links.

        ``satellite_key`` maps a satellite link to ``(key_bits, qber)`` of passes that ended
        in this tick. Returns the alarms raised.
        """
        self.tick += 1
        self.t_sim += self.tick_s
        alarms: list[Alarm] = []
        for i, (name, live) in enumerate(self.links.items()):
            if live.kind == "fibre":
                alarm = self._fibre(i, live)
                if alarm is not None:
                    alarms.append(alarm)
            else:
                bits, qber = (satellite_key or {}).get(name, (0, 0.0))
                live.key_rate_bps = 0.0 if live.cut else bits / self.tick_s
                live.qber = qber if bits else live.qber
                if bits and not live.cut:
                    live.key_bits += bits
                    self._deposit(live, bits)
            live.history.append(
                (self.t_sim, live.key_rate_bps, live.qber, int(self.pools.level(name)))
            )
        self.update_routes()
        return alarms

    def _fibre(self, i: int, live: LinkLive) -> Alarm | None:
        if live.cut:
            live.key_rate_bps = 0.0
            return None
        runner = self.runners[live.name]
        runner.rng = np.random.default_rng([self.seed, self.tick, i])
        attack = (
            parse_attack(f"intercept-resend:{live.eavesdropper}") if live.eavesdropper else None
        )
        out = runner.run_block(attack)
        live.blocks += 1
        live.qber, live.qber_z = float(out.qber), float(out.qber_z)
        live.key_rate_bps = out.key_bits / out.duration_s
        if out.aborted:
            live.aborted += 1
        else:
            live.key_bits += out.key_bits
            self._deposit(live, out.key_bits)
        if out.qber_z > QBER_ALARM and not live.quarantined:
            live.quarantined = True
            return Alarm(
                self.t_sim, live.name, "qber",
                f"test-basis QBER {out.qber_z:.1%} above the {QBER_ALARM:.0%} alarm threshold "
                f"({out.abort_kind or 'key made'}); link quarantined, routes recomputed",
            )  # fmt: skip
        return None

    def _deposit(self, live: LinkLive, bits: int) -> None:
        self.pools.deposit(live.name, int(bits))
        excess = int(self.pools.level(live.name)) - live.capacity_bits
        if excess > 0:
            for node in (live.a, live.b):
                self.pools.pool(live.name, node).take(excess)
            live.discarded_bits += excess

    # ------------------------------------------------------------------ routes

    def rates(self) -> dict[str, float]:
        """Each link's present key rate (0 out of use)."""
        return {n: (x.key_rate_bps if x.usable else 0.0) for n, x in self.links.items()}

    def excluded(self) -> set[str]:
        """Links out of routes: cut or quarantined."""
        return {n for n, x in self.links.items() if not x.usable}

    def _route(self, src: str, dst: str, faults: bool = True) -> Route | None:
        levels = {n: float(self.pools.level(n)) for n in self.links}
        if faults:
            rates = self.rates()
        else:  # as if no link were cut or attacked: a faulty link at its modelled rate
            rates = {n: x.key_rate_bps if x.usable else x.model_bps for n, x in self.links.items()}
        try:
            return key_aware_route(
                self.topology, src, dst, rates, levels,
                exclude_links=self.excluded() if faults else (),
            )  # fmt: skip
        except NoRouteError:
            return None

    def route(self, src: str, dst: str) -> Route | None:
        """The key-aware route between two nodes now (``None``: no route)."""
        return self._route(src, dst)

    def update_routes(self) -> None:
        """Recompute the followed pairs' routes (``rerouted``: a fault changed the path)."""
        faults = bool(self.excluded())
        for p in self.pairs:
            r = self._route(*p)
            base = self._route(*p, faults=False) if faults else r
            if r is None:
                self.routes[p] = RouteLive(p[0], p[1], (), 0.0, None, "down")
                continue
            rerouted = base is not None and base.paths[0] != r.paths[0]
            self.routes[p] = RouteLive(
                p[0], p[1], r.paths[0], r.capacity_bps,
                r.limiting_links[0] if r.limiting_links else None,
                "rerouted" if rerouted else "ok",
            )  # fmt: skip

    # ------------------------------------------------------------------ state

    def alarm_of(self, live: LinkLive) -> str:
        """``cut``, ``qber`` (quarantined), ``low-pool`` or ``ok``."""
        if live.cut:
            return "cut"
        if live.quarantined:
            return "qber"
        if (
            live.kind == "fibre"
            and self.pools.level(live.name) < LOW_POOL_FRACTION * live.capacity_bits
        ):
            return "low-pool"
        return "ok"

    def saved(self) -> dict[str, Any]:
        """What persists across restarts: the clock, every link and its pool level."""
        return {
            "tick": self.tick,
            "t_sim": self.t_sim,
            "links": {n: x.saved() | {"pool_bits": int(self.pools.level(n))}
                      for n, x in self.links.items()},
        }  # fmt: skip

    def saved_history(self) -> dict[str, list[list[float]]]:
        """Every link's last points (saved less often than the rest: they are only shown)."""
        return {n: [[round(v, 6) for v in h] for h in x.history] for n, x in self.links.items()}

    def restore_history(self, doc: dict[str, list[list[float]]]) -> None:
        """Inverse of :meth:`saved_history`."""
        for name, points in doc.items():
            if name in self.links:
                self.links[name].history.extend((p[0], p[1], p[2], int(p[3])) for p in points)

    def restore(self, doc: dict[str, Any]) -> None:
        """Inverse of :meth:`saved` (on a freshly built backbone)."""
        self.tick = int(doc["tick"])
        self.t_sim = float(doc["t_sim"])
        for name, d in doc["links"].items():
            live = self.links.get(name)
            if live is None:
                continue
            d = dict(d)
            pool = int(d.pop("pool_bits", 0))
            live.restore(d)
            if pool > 0:
                self.pools.deposit(name, pool)
        self.update_routes()

    def link_ids(self) -> Iterable[str]:
        """Every link's name."""
        return self.links.keys()
