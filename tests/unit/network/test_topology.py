"""Topology format, validation and presets."""

from __future__ import annotations

import math

import pytest

from quaykey.errors import TopologyError
from quaykey.network.presets import load_preset_topology, load_topology_file
from quaykey.network.topology import geodesic_km, topology_from_dict


def _toy(**extra_links: object) -> dict[str, object]:
    return {
        "name": "toy",
        "nodes": [
            {"name": "a", "lat_deg": 51.90, "lon_deg": 4.00},
            {"name": "b", "lat_deg": 51.90, "lon_deg": 4.50},
            {"name": "c", "lat_deg": 52.00, "lon_deg": 4.30, "kind": "user"},
        ],
        "links": [{"a": "a", "b": "b", "length_km": 40}, {"a": "b", "b": "c"}],
    }


def test_geodesic_is_on_the_wgs84_ellipsoid() -> None:
    # Along the equator the geodesic is the equator: a * dlon (a = 6378.137 km, WGS84);
    # along a meridian one degree at 45 deg N is 111.132 km (meridian arc, Bowring series).
    assert geodesic_km(0.0, 10.0, 0.0, 11.0) == pytest.approx(6378.137 * math.pi / 180, rel=1e-9)
    assert geodesic_km(44.5, 0.0, 45.5, 0.0) == pytest.approx(111.132, abs=0.002)


def test_lengths_default_to_route_factor_times_geodesic() -> None:
    t = topology_from_dict(_toy())
    gc = geodesic_km(51.90, 4.50, 52.00, 4.30)
    assert t.link("b--c").length_km == pytest.approx(1.2 * gc, abs=0.05)
    assert t.link("c--b") is t.link("b--c")
    assert t.link("a--b").loss_db == pytest.approx(0.25 * 40 + 2.0)
    assert t.link("a--b").params().channel.loss_db == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["links"].append({"a": "a", "b": "zz"}), "unknown node 'zz'"),
        (lambda d: d["links"].append({"a": "b", "b": "a"}), "duplicate link"),
        (lambda d: d["links"].__setitem__(0, {"a": "a", "b": "b", "length_km": -1}), ">= 0"),
        (
            lambda d: d["nodes"].append({"name": "island", "lat_deg": 0, "lon_deg": 0}),
            "disconnected",
        ),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "duplicate node"),
        (lambda d: d["links"].append({"a": "a", "b": "a"}), "itself"),
        (lambda d: d["nodes"][0].__setitem__("kind", "router"), "kind"),
    ],
)
def test_invalid_topologies_raise_topology_error(mutate, message) -> None:  # type: ignore[no-untyped-def]
    d = _toy()
    mutate(d)
    with pytest.raises(TopologyError, match=message):
        topology_from_dict(d)


def test_unknown_names_are_value_errors() -> None:
    t = topology_from_dict(_toy())
    with pytest.raises(ValueError, match="unknown link"):
        t.link("a--c")
    with pytest.raises(ValueError, match="unknown node"):
        t.node("nowhere")


def test_beijing_shanghai_preset_shape() -> None:
    t = load_preset_topology("beijing-shanghai")
    trunk = [n for n in t.nodes if n.kind == "trusted" and n.note.startswith("trunk")]
    assert len(trunk) == 32
    for city in ("beijing", "jinan", "hefei", "nanjing", "shanghai"):
        assert t.node(city).kind == "trusted"
    for user in (
        "yangshan-terminal",
        "waigaoqiao-terminal",
        "sipg-ops",
        "shanghai-customs",
        "customs-hq-beijing",
        "ningbo-zhoushan-port",
        "bonded-warehouse",
    ):
        assert t.node(user).kind == "user"
    fibre = [link for link in t.links if link.kind == "fibre"]
    # Every hop short enough for the backbone hardware (trunk hops 40-80 km, metro shorter).
    assert all(0.0 < link.length_km <= 81.0 for link in fibre)
    trunk_names = {n.name for n in trunk}
    trunk_km = sum(
        link.length_km for link in fibre if link.a in trunk_names and link.b in trunk_names
    )
    assert 1600 < trunk_km < 2000


def test_micius_preset_joins_beijing_metro() -> None:
    t = load_preset_topology("beijing-shanghai", with_micius=True)
    assert t.node("micius").kind == "satellite"
    assert math.isnan(t.node("micius").lat_deg)
    for gs in ("xinglong", "nanshan", "delingha", "lijiang", "ngari", "graz"):
        assert t.link_between("micius", gs).kind == "free-space"
    import networkx as nx

    assert nx.has_path(t.graph, "xinglong", "customs-hq-beijing")


def test_user_file_with_requires(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "ext.yaml"
    f.write_text(
        "name: ext\nrequires: beijing-shanghai\nnodes:\n"
        "  - {name: lab, lat_deg: 31.30, lon_deg: 121.50, kind: user}\n"
        "links:\n  - {a: lab, b: shanghai}\n"
    )
    t = load_topology_file(f)
    assert t.link_between("lab", "shanghai").length_km > 0
    with pytest.raises(FileNotFoundError):
        load_topology_file(tmp_path / "missing.yaml")
