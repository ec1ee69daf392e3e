"""Orbit and passes (skyfield), the downlink budget, key per pass with the link's own params."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from quaykey.network.downlink import DOWNLINKS, airmass, elevation_for_range_deg
from quaykey.network.orbit import Satellite, parse_tle_text, station_from_entry, sun_elevation_deg
from quaykey.network.passes import find_passes, key_per_pass
from quaykey.network.presets import load_satellite_preset
from quaykey.physics.params import load_preset

PRESET = load_satellite_preset()
TLE = PRESET["satellite"]["tle"][0]
SAT = Satellite.from_tle(TLE["line1"], TLE["line2"], "micius")
XINGLONG = station_from_entry(PRESET["stations"]["xinglong"])


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_pass_times_agree_with_skyfield_within_0_2_s() -> None:
    # The oracle is skyfield used directly from the TLE text (independent of our wrapper).
    from skyfield.api import EarthSatellite, load, wgs84

    ts = load.timescale(builtin=True)
    sat = EarthSatellite(TLE["line1"], TLE["line2"], "MICIUS", ts)
    site = wgs84.latlon(XINGLONG.lat_deg, XINGLONG.lon_deg, elevation_m=XINGLONG.altitude_m)
    times, events = sat.find_events(site, ts.utc(2016, 12, 18), ts.utc(2016, 12, 21), 0.0)
    sky = [(t.utc_datetime(), int(e)) for t, e in zip(times, events, strict=True)]
    triples = [
        (sky[i][0], sky[i + 1][0], sky[i + 2][0])
        for i in range(len(sky) - 2)
        if [sky[i][1], sky[i + 1][1], sky[i + 2][1]] == [0, 1, 2]
    ]
    ours = find_passes(SAT, XINGLONG, _utc(2016, 12, 18), _utc(2016, 12, 21))
    assert len(triples) == len(ours) >= 10
    for p, (rise, cul, sett) in zip(ours, triples, strict=True):
        for a, b in ((p.rise_utc, rise), (p.culmination_utc, cul), (p.set_utc, sett)):
            assert abs((a - b).total_seconds()) < 0.2


def test_max_elevation_range_and_qkd_window_agree_with_skyfield() -> None:
    from skyfield.api import EarthSatellite, load, wgs84

    ts = load.timescale(builtin=True)
    sat = EarthSatellite(TLE["line1"], TLE["line2"], "MICIUS", ts)
    site = wgs84.latlon(XINGLONG.lat_deg, XINGLONG.lon_deg, elevation_m=XINGLONG.altitude_m)
    for p in find_passes(SAT, XINGLONG, _utc(2016, 12, 19), _utc(2016, 12, 20)):
        alt, _, dist = (sat - site).at(ts.from_datetime(p.culmination_utc)).altaz()
        assert p.max_elevation_deg == pytest.approx(alt.degrees, abs=1e-6)
        assert p.min_range_km == pytest.approx(dist.km, abs=1e-3)
        if p.max_elevation_deg > 10.0:
            assert p.qkd_start_utc is not None and p.qkd_end_utc is not None
            for t in (p.qkd_start_utc, p.qkd_end_utc):
                el = (sat - site).at(ts.from_datetime(t)).altaz()[0].degrees
                assert el == pytest.approx(10.0, abs=0.05)  # skyfield finds events to ~1 s
        else:
            assert p.qkd_start_utc is None


def test_min_elevation_outside_horizon_to_90_is_an_error() -> None:
    with pytest.raises(ValueError, match="min_elevation_deg"):
        find_passes(SAT, XINGLONG, _utc(2016, 12, 19), _utc(2016, 12, 20), min_elevation_deg=95)


def test_sun_elevation_low_precision_formula_matches_day_and_night() -> None:
    el = sun_elevation_deg(XINGLONG, [_utc(2016, 12, 19, 4), _utc(2016, 12, 19, 16)])
    # Winter-solstice noon altitude at 40.4 N: 90 - 40.4 - 23.4 = 26.2 deg (+-1 deg for the
    # offset of local noon from 04:00 UTC).
    assert el[0] == pytest.approx(26.2, abs=1.0)
    assert el[1] < -60.0


def test_tle_text_two_and_three_line_and_errors() -> None:
    two = f"{TLE['line1']}\n{TLE['line2']}\n"
    assert [s.name for s in parse_tle_text(two, default_name="x")] == ["x"]
    three = f"# comment\nMICIUS\n{TLE['line1']}\n{TLE['line2']}\n" * 2
    assert [s.name for s in parse_tle_text(three)] == ["MICIUS", "MICIUS"]
    with pytest.raises(ValueError, match="no two-line element set"):
        parse_tle_text("hello\nworld\n")
    with pytest.raises(ValueError, match="no line 2"):
        parse_tle_text(TLE["line1"])
    with pytest.raises(ValueError, match="two-line elements"):
        Satellite.from_tle("1 garbage", "2 garbage")


def test_downlink_terms_are_liao_2017s() -> None:
    d = DOWNLINKS["micius-2017"]
    # "The diffraction loss is estimated to be 22 dB at 1200 km" (Liao et al. 2017).
    assert float(d.diffraction_loss_db(1200.0)) == pytest.approx(22.0, abs=0.5)
    el_1200 = elevation_for_range_deg(1200.0, 493.0)
    # "at 1200 km the loss due to atmospheric absorption and turbulence is in the range of
    # 3 dB to 8 dB", "the loss due to pointing error is less than 3 dB".
    assert 3.0 <= float(d.atmospheric_loss_db(el_1200)) <= 8.0
    assert 0.0 <= d.pointing_loss_db < 3.0
    assert d.receiver_loss_db == pytest.approx(-10 * np.log10(0.16))  # ~16 % ground optics
    total = float(d.loss_db(1200.0, el_1200))
    assert total == pytest.approx(float(d.channel_loss_db(1200.0, el_1200)) + d.receiver_loss_db)
    # Longer range and lower elevation cost more.
    ranges = np.array([600.0, 800.0, 1000.0, 1200.0])
    els = np.array([elevation_for_range_deg(r, 500.0) for r in ranges])
    assert np.all(np.diff(d.loss_db(ranges, els)) > 0)
    assert float(airmass(90.0)) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="receiver_optical_efficiency"):
        replace(d, receiver_optical_efficiency=1.5)


def test_key_per_pass_only_at_night_and_above_min_elevation() -> None:
    params = load_preset("micius-2017")
    passes = find_passes(SAT, XINGLONG, _utc(2016, 12, 19), _utc(2016, 12, 20))
    with_keys = [key_per_pass(SAT, XINGLONG, p, params) for p in passes]
    for p in with_keys:
        if not p.night or p.max_elevation_deg < 10.0:
            assert p.key_bits == 0
    best = max(with_keys, key=lambda p: p.key_bits)
    assert best.night and best.key_bits > 0 and 0.0 < best.qber < 0.03
    assert best.qkd_duration_s < (best.set_utc - best.rise_utc).total_seconds()


def test_key_per_pass_uses_the_links_own_parameters() -> None:
    # Overrides act: halving the detector efficiency costs key and sifted bits; a
    # faster clock gives more. A hard-coded preset would give the same key three times.
    p = next(
        x
        for x in find_passes(SAT, XINGLONG, _utc(2016, 12, 19), _utc(2016, 12, 20))
        if x.night and x.max_elevation_deg > 40
    )
    base = load_preset("micius-2017")
    k0 = key_per_pass(SAT, XINGLONG, p, base)
    slow = key_per_pass(
        SAT,
        XINGLONG,
        p,
        base.with_overrides({"detector.efficiency": 0.25}),
        DOWNLINKS["micius-2017"],
    )
    fast = key_per_pass(SAT, XINGLONG, p, base.with_overrides({"source.repetition_rate_hz": 2e8}))
    # Half the signal clicks; the background clicks (~2 % of the total) do not scale.
    assert slow.sifted_bits == pytest.approx(k0.sifted_bits / 2, rel=0.05)
    assert slow.sifted_bits > k0.sifted_bits / 2
    assert slow.key_bits < k0.key_bits < fast.key_bits
    assert fast.sifted_bits == pytest.approx(2 * k0.sifted_bits, rel=1e-9)


def test_passes_for_topology_uses_each_links_overrides() -> None:
    from quaykey.network.passes import passes_for_topology
    from quaykey.network.presets import load_preset_topology

    t = load_preset_topology("beijing-shanghai", with_micius=True)
    link = t.link("micius--xinglong")
    weak = replace(link, overrides=(("detector.efficiency", 0.05),))
    out = passes_for_topology(
        [link, replace(weak, name="weak")],
        PRESET["stations"],
        SAT,
        _utc(2016, 12, 19, 12),
        12 * 3600.0,
    )
    assert sum(p.key_bits for p in out[link.name]) > 0
    assert sum(p.key_bits for p in out["weak"]) < sum(p.key_bits for p in out[link.name])


def test_satellite_trusted_relay_gives_two_stations_a_common_key() -> None:
    from quaykey.network.pool import PoolSet
    from quaykey.network.presets import load_preset_topology
    from quaykey.network.relay import AUTH_COST_BITS, relay_key

    t = load_preset_topology("beijing-shanghai", with_micius=True)
    ps = PoolSet(materialised=True)
    rng = np.random.default_rng(5)
    for name in ("micius--xinglong", "micius--nanshan"):
        link = t.link(name)
        ps.add_link(link.name, link.a, link.b)
        k = rng.integers(0, 2, 4096, dtype=np.uint8)  # one pass's key, equal at both ends
        ps.deposit(link.name, alice_bits=k, bob_bits=k.copy())
    r = relay_key(t, ps, ["xinglong", "micius", "nanshan"], 1024, rng)
    np.testing.assert_array_equal(r.src_key, r.dst_key)
    # What crosses the ground is the one-time-padded key: the satellite's announcement
    # K_x xor K_n in effect; it is independent of the key without the satellite's pads.
    assert not np.array_equal(r.hops[0].ciphertext, r.src_key)
    assert (
        ps.level("micius--xinglong") == ps.level("micius--nanshan") == 4096 - 1024 - AUTH_COST_BITS
    )


@pytest.mark.slow
def test_exact_pass_block_agrees_with_statistical_pass_key() -> None:
    # 40 s of a pass (loss 24 -> 22 -> 26 dB before the 50 % detectors) at the Micius
    # 100 MHz rate, key from both bases: the sampler over the time-varying channel plus the
    # cascade pipeline run twice (X key, then bases swapped for the Z key) against the
    # finite-key length of the expected counts of both bases, through the one seam.
    # Seeded; asserted at 5 % (the sampled counts of ~2e5 sifted bits per basis are within
    # ~1 % of their expectation; the rest is Cascade's leakage against its measured mean).
    from quaykey.network.links import BlockWindow, ExactBlock, LossProfile, StatisticalBlock
    from quaykey.postproc.channel import AuthKeyPool

    p = load_preset("micius-2017", loss_db=30.0)
    assert p.security.key_from_both_bases
    profile = LossProfile.from_samples(
        [*np.linspace(24.0, 22.0, 16), *np.linspace(22.0, 26.0, 25)[1:]], 1.0
    )
    window = BlockWindow(0.0, profile.duration_s)
    exact = ExactBlock(auth=AuthKeyPool.pre_shared(100_000, seed=1))
    outcome = exact.run(p, window, np.random.default_rng(1), loss=profile)
    assert outcome.keys is not None and outcome.swapped_report is not None
    np.testing.assert_array_equal(*outcome.keys)
    expected = StatisticalBlock(draw=False).run(p, window, np.random.default_rng(1), loss=profile)
    assert outcome.key_bits == pytest.approx(expected.key_bits, rel=0.05)
    assert outcome.qber == pytest.approx(expected.qber, rel=0.05)
    # The second run is the Z-basis key: about as long as the first (50:50 basis choice).
    one_basis = outcome.report.final_key_bits - outcome.report.auth_bits_replenished
    assert outcome.key_bits - one_basis == pytest.approx(one_basis, rel=0.10)
    # Authentication is spent and refilled by both runs, and the summary counts both.
    from quaykey.network.links import summarise

    used = outcome.report.auth_bits_used + outcome.swapped_report.auth_bits_used
    assert outcome.swapped_report.auth_bits_used > 0
    assert summarise([outcome], p, window.duration_s).auth_bits_used == used


def test_link_hardware_and_network_names_are_separate() -> None:
    # "micius" names the satellite topology add-on only; the Liao et al. 2017 hardware is
    # micius-2017, and the add-on's satellite links use it.
    from quaykey.network.presets import NETWORK_NAMES, load_preset_topology
    from quaykey.physics.params import FREE_SPACE_PRESETS, PRESETS

    assert "micius" in NETWORK_NAMES and "micius" not in PRESETS
    assert {"micius-2017", "micius-2021"} <= set(FREE_SPACE_PRESETS) <= set(DOWNLINKS)
    with pytest.raises(ValueError, match="micius-2017"):
        load_preset("micius")
    t = load_preset_topology("beijing-shanghai", with_micius=True)
    assert t.link("micius--xinglong").preset == "micius-2017"
    assert all(load_preset(name).security.key_from_both_bases for name in FREE_SPACE_PRESETS)
    assert not load_preset("backbone").security.key_from_both_bases


def test_closest_epoch_picks_the_element_set_of_the_run() -> None:
    from quaykey.network.orbit import closest_epoch, satellites_from_entry

    sats = satellites_from_entry(PRESET["satellite"])
    assert closest_epoch(sats, _utc(2016, 12, 19)).epoch_utc.year == 2016
    assert closest_epoch(sats, _utc(2021, 4, 23)).epoch_utc.year == 2021
    with pytest.raises(ValueError, match="no element sets"):
        closest_epoch([], _utc(2021, 4, 23))


def test_statistical_pass_key_takes_both_bases_only_when_the_link_says_so() -> None:
    # Same pass, same counts: the key-basis-only convention gives half the key of a
    # 50:50 basis choice (the two bases are alike), within the floor of each length.
    from quaykey.network.passes import within_range

    night = [
        x
        for x in find_passes(SAT, XINGLONG, _utc(2016, 12, 19), _utc(2016, 12, 20))
        if x.night and x.max_elevation_deg > 40
    ]
    p = within_range(SAT, XINGLONG, night[0], 1200.0)
    both = load_preset("micius-2017")
    one = replace(both, security=replace(both.security, key_from_both_bases=False))
    k2, k1 = key_per_pass(SAT, XINGLONG, p, both), key_per_pass(SAT, XINGLONG, p, one)
    assert k1.sifted_bits == k2.sifted_bits and k1.qber == k2.qber
    assert k2.key_bits == pytest.approx(2 * k1.key_bits, abs=2)
