"""quaykey.network: topology, key pools, trusted-node relay, routing, satellite, simulation.

Links turn into key through one seam, :mod:`quaykey.network.links` (statistical or exact
blocks); :mod:`quaykey.network.sim` runs them in simulated time with demands
(:mod:`.demands`) and faults (:mod:`.faults`) and reports through :mod:`.report`. The layer
reads no files; presets are loaded at the edge by :mod:`quaykey.network.presets` and passed
in. See ``docs/network.md``.
"""

from __future__ import annotations

from quaykey.network.demands import Demand, parse_demand
from quaykey.network.downlink import Downlink
from quaykey.network.faults import Fault, parse_cut, parse_eve
from quaykey.network.links import (
    BlockOutcome,
    BlockWindow,
    ExactBlock,
    LinkBlock,
    LinkRunner,
    LossProfile,
    StatisticalBlock,
    link_model,
    make_block,
)
from quaykey.network.orbit import GroundStation, Satellite
from quaykey.network.passes import Pass, find_passes
from quaykey.network.pool import KeyPool, PoolSet, Reservation
from quaykey.network.relay import AUTH_COST_BITS, relay_key, relay_multipath
from quaykey.network.report import SimulationReport
from quaykey.network.routing import Route, demand_route, disjoint_route, key_aware_route
from quaykey.network.sim import NetworkSimulation, SimulationConfig
from quaykey.network.topology import Link, Node, Topology, topology_from_dict

__all__ = [
    "AUTH_COST_BITS",
    "BlockOutcome",
    "BlockWindow",
    "Demand",
    "Downlink",
    "ExactBlock",
    "Fault",
    "GroundStation",
    "KeyPool",
    "Link",
    "LinkBlock",
    "LinkRunner",
    "LossProfile",
    "NetworkSimulation",
    "Node",
    "Pass",
    "PoolSet",
    "Reservation",
    "Route",
    "Satellite",
    "SimulationConfig",
    "SimulationReport",
    "StatisticalBlock",
    "Topology",
    "demand_route",
    "disjoint_route",
    "find_passes",
    "key_aware_route",
    "link_model",
    "make_block",
    "parse_cut",
    "parse_demand",
    "parse_eve",
    "relay_key",
    "relay_multipath",
    "topology_from_dict",
]
