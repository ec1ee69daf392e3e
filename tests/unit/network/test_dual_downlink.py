"""Shared windows of two stations, the two-photon link, and the entangled link kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from quaykey.errors import TopologyError
from quaykey.network.dual_downlink import (
    YIN2020_DOWNLINK,
    YIN2020_LINK,
    YIN2020_STATIONS,
    dual_profile,
    find_dual_windows,
    window_key,
)
from quaykey.network.orbit import satellites_from_entry
from quaykey.network.pool import PoolSet
from quaykey.network.presets import load_satellite_preset, read_preset_yaml
from quaykey.network.relay import relay_key
from quaykey.network.routing import key_aware_route
from quaykey.network.topology import topology_from_dict
from quaykey.physics.entangled import TwoPhotonLink, finite_key_bits, two_photon_counts

SAT = satellites_from_entry(load_satellite_preset()["satellite"])[0]
A, B = YIN2020_STATIONS["delingha"], YIN2020_STATIONS["nanshan"]
DAY = datetime(2016, 12, 19, tzinfo=UTC)


@pytest.fixture(scope="module")
def windows() -> list:
    return find_dual_windows(SAT, A, B, DAY, DAY + timedelta(days=1))


def test_windows_are_when_both_stations_see_the_satellite(windows: list) -> None:
    assert windows
    for w in windows:
        prof = dual_profile(SAT, A, B, w)
        assert prof.elevation_a_deg.min() >= 10.0 - 1e-6
        assert prof.elevation_b_deg.min() >= 10.0 - 1e-6
        # one second outside, one of the two is below 10 deg
        for t in (w.start_utc - timedelta(seconds=2), w.end_utc + timedelta(seconds=2)):
            el_a, _ = SAT.look(A, t)
            el_b, _ = SAT.look(B, t)
            assert min(el_a[0], el_b[0]) < 10.0
        assert prof.range_a_km.min() > 450 and prof.range_b_km.min() > 450
        loss = YIN2020_DOWNLINK.loss_db(prof.range_a_km, prof.elevation_a_deg)
        np.testing.assert_allclose(prof.loss_a_db, loss)


def test_night_windows_get_key_and_day_windows_none(windows: list) -> None:
    keyed = [window_key(SAT, A, B, w) for w in windows]
    assert any(w.night for w in keyed) and any(not w.night for w in keyed)
    for w in keyed:
        if w.night:
            assert w.coincidences > 0 and 0 < w.qber < 0.11
            assert w.asymptotic_key_bits >= w.finite_key_bits >= 0
        else:
            assert w.coincidences == 0 and w.finite_key_bits == 0


def test_coincidences_grow_with_either_arm_and_noise_raises_the_qber() -> None:
    c = two_photon_counts(YIN2020_LINK, [1e-4, 2e-4, 2e-4], [1e-4, 1e-4, 2e-4])
    assert np.all(np.diff(c.p_coincidence) > 0)
    quiet = two_photon_counts(TwoPhotonLink(noise_a_hz=0, noise_b_hz=0), 1e-4, 1e-4)
    noisy = two_photon_counts(TwoPhotonLink(noise_a_hz=1e5, noise_b_hz=1e5), 1e-4, 1e-4)
    assert noisy.qber[0] > quiet.qber[0]


def test_finite_key_grows_with_data_and_stays_below_the_asymptote() -> None:
    sizes = [3e2, 1e3, 1e4, 1e5, 1e7]
    keys = [finite_key_bits(n, 0.03, 1.1, 1e-10) for n in sizes]
    assert keys == sorted(keys) and keys[0] == 0
    h = 0.19439  # h(0.03)
    assert keys[-1] / sizes[-1] < 1 - 2.1 * h
    assert keys[-1] / sizes[-1] > 0.97 * (1 - 2.1 * h)


def _micius_with_entangled(entangled: bool):
    base, sat = read_preset_yaml("beijing-shanghai"), read_preset_yaml("micius")
    links = list(base["links"]) + list(sat["links"])
    if entangled:
        links.append({"a": "delingha", "b": "nanshan", "kind": "entangled", "via": "micius"})
    return topology_from_dict(
        {"name": "t", "defaults": base.get("defaults") or {},
         "nodes": list(base["nodes"]) + list(sat["nodes"]), "links": links}
    )  # fmt: skip


def test_a_route_between_the_stations_uses_the_entangled_link_and_no_trusted_node() -> None:
    t = _micius_with_entangled(True)
    link = t.link("delingha--nanshan")
    assert link.kind == "entangled" and link.end_to_end and link.via == "micius"
    assert link.length_km == pytest.approx(1120, abs=10)
    with pytest.raises(TopologyError, match="entangled"):
        link.params()
    rates = {x.name: 1000.0 for x in t.links}  # the trusted satellite relay is far faster
    rates[link.name] = 0.12
    route = key_aware_route(t, "delingha", "nanshan", rates)
    assert route.paths == (("delingha", "nanshan"),) and route.trusted_nodes == ()
    ps = PoolSet(materialised=True)
    ps.add_link(link.name, link.a, link.b)
    k = np.random.default_rng(0).integers(0, 2, 600, dtype=np.uint8)
    ps.deposit(link.name, alice_bits=k, bob_bits=k.copy())
    r = relay_key(t, ps, route.paths[0], 128, np.random.default_rng(1))
    assert r.trusted_nodes == () and r.seen == {}
    assert np.array_equal(r.src_key, r.dst_key)


def test_without_the_entangled_link_the_satellite_is_a_trusted_node() -> None:
    t = _micius_with_entangled(False)
    rates = {x.name: 1000.0 for x in t.links}
    route = key_aware_route(t, "delingha", "nanshan", rates)
    assert "micius" in route.trusted_nodes


def test_an_entangled_link_without_key_falls_back_to_trusted_relay() -> None:
    t = _micius_with_entangled(True)
    rates = {x.name: 1000.0 for x in t.links}
    rates["delingha--nanshan"] = 0.0
    route = key_aware_route(t, "delingha", "nanshan", rates)
    assert route.trusted_nodes == ("micius",)
    route = key_aware_route(t, "delingha", "nanshan", rates, exclude_links={"micius--nanshan"},
                            pool_bits={"delingha--nanshan": 256})  # fmt: skip
    assert route.trusted_nodes == ()
