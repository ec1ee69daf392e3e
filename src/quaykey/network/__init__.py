"""quaykey.network: topology, key pools, trusted-node relay, routing, satellite, simulation.

The layer reads no files; presets are loaded at the edge by
:mod:`quaykey.network.presets` (package data) and passed in. See ``docs/network.md``.
"""

from __future__ import annotations

from quaykey.network.downlink import Downlink
from quaykey.network.engine import (
    Demand,
    Fault,
    NetworkSimulation,
    SimulationConfig,
    SimulationReport,
    parse_cut,
    parse_eve,
)
from quaykey.network.link import LinkRunner, analytic_key_rate_bps, plob_bound_bps
from quaykey.network.orbit import GroundStation, Satellite
from quaykey.network.passes import Pass, find_passes
from quaykey.network.pool import KeyPool, PoolSet, Reservation
from quaykey.network.relay import AUTH_COST_BITS, relay_key, relay_multipath
from quaykey.network.routing import Route, disjoint_route, key_aware_route
from quaykey.network.topology import Link, Node, Topology, topology_from_dict

__all__ = [
    "AUTH_COST_BITS",
    "Demand",
    "Downlink",
    "Fault",
    "GroundStation",
    "KeyPool",
    "Link",
    "LinkRunner",
    "NetworkSimulation",
    "Node",
    "Pass",
    "PoolSet",
    "Reservation",
    "Route",
    "Satellite",
    "SimulationConfig",
    "SimulationReport",
    "Topology",
    "analytic_key_rate_bps",
    "disjoint_route",
    "find_passes",
    "key_aware_route",
    "parse_cut",
    "parse_eve",
    "plob_bound_bps",
    "relay_key",
    "relay_multipath",
    "topology_from_dict",
]
