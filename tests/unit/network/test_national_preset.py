"""The national preset: sourced, marked, connected, and its demands served."""

from __future__ import annotations

from quaykey.network.presets import load_preset_topology, read_preset_yaml
from quaykey.network.routing import demand_route
from quaykey.network.studies import model_rates, study_demands


def test_every_node_says_where_it_comes_from_and_invented_sites_say_so() -> None:
    own = read_preset_yaml("national")
    assert own["requires"] == "beijing-shanghai"
    for entry in own["nodes"]:
        assert entry.get("note"), entry["name"]
        if entry["name"].startswith("hut-"):
            assert "invented" in entry["note"]
        elif entry["kind"] == "trusted":
            assert any(w in entry["note"].lower() for w in ("not public", "reported", "xinhua"))


def test_national_extends_the_trunk_to_fifty_cities_and_serves_its_demands() -> None:
    t = load_preset_topology("national")
    trunk = load_preset_topology("beijing-shanghai")
    assert {n.name for n in trunk.nodes} < {n.name for n in t.nodes}
    cities = [n for n in t.nodes if n.kind == "trusted" and not n.name.startswith(("hut-", "bj-"))]
    assert len(cities) >= 50
    assert t.fibre_km > 8000
    rates = model_rates(t, 600.0)
    assert max(link.length_km for link in t.links if link.kind == "fibre") <= 80.0
    assert all(r > 0 for r in rates.values())
    demands = study_demands(t)
    assert len(demands) >= 12
    for d in demands:
        assert demand_route(t, d.src, d.dst, rates, d.multipath).capacity_bps > 0
