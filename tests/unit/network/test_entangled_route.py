"""An entangled link in the simulation: its windows' key, its route, its trusted nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quaykey.network.demands import Demand
from quaykey.network.faults import Fault
from quaykey.network.passes import WindowCredit
from quaykey.network.sim import NetworkSimulation, SimulationConfig
from quaykey.network.topology import topology_from_dict

START = datetime(2016, 12, 19, 12, tzinfo=UTC)


def _topology() -> object:
    return topology_from_dict(
        {
            "nodes": [
                {"name": "sat", "kind": "satellite"},
                {"name": "a", "lat_deg": 37.4, "lon_deg": 97.7, "kind": "ground-station"},
                {"name": "b", "lat_deg": 43.5, "lon_deg": 87.2, "kind": "ground-station"},
            ],
            "links": [
                {"a": "sat", "b": "a", "kind": "free-space", "preset": "micius-2017"},
                {"a": "sat", "b": "b", "kind": "free-space", "preset": "micius-2017"},
                {"a": "a", "b": "b", "kind": "entangled", "via": "sat"},
            ],
        }
    )


def _credit(hour: float, bits: int) -> WindowCredit:
    end = START + timedelta(hours=hour)
    return WindowCredit(end - timedelta(seconds=300), end, bits, 2.0 * bits, 0.04)


def _run(faults: tuple[Fault, ...] = ()) -> object:
    credits = {
        "sat--a": [_credit(1.0, 50_000)],
        "sat--b": [_credit(1.5, 60_000)],
        "a--b": [_credit(2.0, 5_000)],
    }
    cfg = SimulationConfig(
        duration_s=4 * 3600.0,
        demands=(Demand("a", "b", key_bits=64, interval_s=600),),
        faults=faults,
    )
    return NetworkSimulation(_topology(), cfg, credits).run()  # type: ignore[arg-type]


def test_entangled_link_credited_and_routed_with_no_trusted_node() -> None:
    rep = _run()
    assert rep.link("a--b").key_bits == 5_000  # type: ignore[attr-defined]
    (route,) = rep.routes  # type: ignore[attr-defined]
    assert route.paths == (("a", "b"),)
    assert route.trusted_nodes == ()
    assert route.to_dict()["trusted_nodes"] == []
    assert route.delivered_bits > 0


def test_without_the_entangled_link_the_satellite_is_the_trusted_node() -> None:
    rep = _run((Fault("cut", "a--b", 0.0),))
    (route,) = rep.routes  # type: ignore[attr-defined]
    assert route.paths == (("a", "sat", "b"),)
    assert route.trusted_nodes == ("sat",)
    assert route.delivered_bits > 0


def test_exact_fidelity_refuses_an_entangled_link() -> None:
    with pytest.raises(ValueError, match="statistical fidelity only"):
        NetworkSimulation(_topology(), SimulationConfig(fidelity="exact"))  # type: ignore[arg-type]
