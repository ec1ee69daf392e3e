"""Traffic profiles: volumes against their documented sources, and the message generator.

Statistical checks fix their seed and allow 4 standard deviations of a Poisson count (a
false failure about once in 16,000 runs, and never for a fixed seed); the documented-volume
checks use the tolerance stated in the profile's sources (±10 % where the source says ≈).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from quaykey.logistics.profiles import PROFILE_NAMES, load_profile, profile_from_dict
from quaykey.logistics.traffic import (
    PROTECTION_CLASSES,
    DiurnalShape,
    Endpoint,
    Flow,
    SizeModel,
    TrafficProfile,
)


@pytest.fixture(scope="module")
def shanghai() -> TrafficProfile:
    return load_profile("shanghai-day")


def _poisson_ok(observed: int, expected: float, sigmas: float = 4.0) -> bool:
    return abs(observed - expected) <= sigmas * math.sqrt(expected)


# ---------------------------------------------------------------- documented volumes


def test_shanghai_volume_is_50m_teu_83k_box_moves_a_day(shanghai: TrafficProfile) -> None:
    # logistics.md §6.3: 137 k TEU/day ≈ 83 k box moves/day ≈ 0.96 box/s.
    assert shanghai.parameters["teu_per_year"] == pytest.approx(50.0e6)
    assert shanghai.parameters["teu_per_day"] == pytest.approx(137e3, rel=0.01)
    assert shanghai.parameters["box_moves_per_day"] == pytest.approx(83e3, rel=0.01)


def test_shanghai_edi_event_rate_is_19_per_s_mean_and_60_at_peak(shanghai: TrafficProfile) -> None:
    # logistics.md §6.3: 1.66 M msg/day ≈ 19 msg/s average, peak ×3 ≈ 60 msg/s.
    assert shanghai.mean_hz("port-edi-events") == pytest.approx(19.0, rel=0.10)
    assert shanghai.peak_hz("port-edi-events") == pytest.approx(60.0, rel=0.10)
    per_day = shanghai.mean_hz("port-edi-events") * 86_400
    assert per_day == pytest.approx(1.66e6, rel=0.02)


def test_shanghai_edi_payload_rate_matches_the_derived_13_5_kB_per_s(
    shanghai: TrafficProfile,
) -> None:
    # logistics.md §6.3: 13.5 kB/s of payload for stream (A); our per-type sizes give a
    # slightly different mean (±15 % allowed: the per-type split is our assumption).
    flows = [f for f in shanghai.flows if f.stream == "port-edi-events"]
    payload = sum(f.mean_hz * f.size.mean_bytes for f in flows)
    assert payload == pytest.approx(13.5e3, rel=0.15)


def test_shanghai_reefers_13700_plugged_reporting_at_least_hourly(shanghai: TrafficProfile) -> None:
    # logistics.md §6.3 (~13.7 k plugged at once); ISO 10368: at least once per hour each.
    plugged = shanghai.parameters["plugged_reefers"]
    assert plugged == pytest.approx(13_700, rel=0.01)
    hourly_reports = [3600 * r for r in shanghai.hourly_hz("reefer")]
    assert min(hourly_reports) >= 13_700
    # 15-minute logging at most (logistics.md §6.3: 15 msg/s).
    assert max(hourly_reports) <= 4 * plugged * (1 + 1e-9)


def test_shanghai_customs_one_to_three_declarations_per_s(shanghai: TrafficProfile) -> None:
    dec = shanghai.flow("customs-declaration")
    # > 100,000 declarations per day (GACC 2017), 1–3 per second (logistics.md §6.4).
    assert dec.mean_hz * 86_400 == pytest.approx(100_000, rel=1e-6)
    assert 1.0 <= dec.mean_hz <= 3.0
    assert dec.peak_hz == pytest.approx(3.0, rel=0.01)
    assert shanghai.mean_hz("customs") == pytest.approx(2.3, rel=0.02)  # 200 k msg/day


def test_shanghai_ebl_one_to_ten_per_minute_in_every_hour(shanghai: TrafficProfile) -> None:
    per_min = [60 * r for r in shanghai.hourly_hz("ebl")]
    assert min(per_min) >= 1.0 - 1e-9 and max(per_min) <= 10.0 + 1e-9


def test_shanghai_strategic_share_from_the_cargo_mix(shanghai: TrafficProfile) -> None:
    hs = {c.name: c.hs_codes for c in shanghai.cargo_classes}
    assert hs["pharma"] == ("30",) and hs["rare-earths"] == ("2805", "2846")
    assert hs["electronics"] == ("85",)
    expected = sum(c.share for c in shanghai.cargo_classes if c.name != "general")
    assert shanghai.strategic_share == pytest.approx(expected)
    assert 0 < shanghai.strategic_share < 0.5


def test_ningbo_is_shanghai_scaled_by_the_teu_ratio(shanghai: TrafficProfile) -> None:
    ningbo = load_profile("ningbo-day")
    ratio = 39.3 / 50.0
    # logistics.md §6.3: Ningbo 108 k TEU, 65 k boxes/day.
    assert ningbo.parameters["teu_per_day"] == pytest.approx(108e3, rel=0.01)
    assert ningbo.parameters["box_moves_per_day"] == pytest.approx(65e3, rel=0.01)
    for f in shanghai.flows:
        g = ningbo.flow(f.name)
        factor = 1.0 if f.stream in ("ebl", "analytics") else ratio
        assert g.mean_hz == pytest.approx(f.mean_hz * factor, rel=1e-9), f.name
        assert g.size == f.size and g.shape == f.shape and g.protection == f.protection
    sites = {s for f in ningbo.flows for e in f.endpoints for s in (e.src, e.dst)}
    assert sites == {"ningbo-zhoushan-port", "customs-hq-beijing"}
    assert ningbo.default_route == ("ningbo-zhoushan-port", "customs-hq-beijing")


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_flow_is_documented_and_well_formed(name: str) -> None:
    p = load_profile(name)
    assert p.flows and p.assumptions and p.default_route[0] and p.default_route[1]
    for f in p.flows:
        assert f.source, f"flow {f.name} has no source"
        assert f.protection in PROTECTION_CLASSES
        assert sum(e.share for e in f.endpoints) == pytest.approx(1.0)
    for c in p.cargo_classes:
        assert c.source


# ---------------------------------------------------------------- generator


def test_generator_is_deterministic_for_a_seed() -> None:
    p = load_profile("ci")
    a = list(p.messages(0.0, 900.0, np.random.default_rng(11)))
    b = list(p.messages(0.0, 900.0, np.random.default_rng(11)))
    c = list(p.messages(0.0, 900.0, np.random.default_rng(12)))
    assert a == b
    assert a != c


def test_generator_empirical_rates_sizes_and_shares_match_the_ci_profile() -> None:
    p = load_profile("ci")
    duration_s = 4 * 3600.0  # 08:00-12:00: crosses into the office-hours peak at 09:00
    msgs = list(p.messages(8 * 3600.0, duration_s, np.random.default_rng(2024)))
    times = [m.time_s for m in msgs]
    assert times == sorted(times)
    assert times[0] >= 8 * 3600 and times[-1] < 12 * 3600
    counts = Counter(m.flow for m in msgs)
    for f in p.flows:
        expected = sum(f.rate_hz(h) * 3600 for h in range(8, 12))
        assert _poisson_ok(counts[f.name], expected), (f.name, counts[f.name], expected)
        sizes = np.array([m.size_bytes for m in msgs if m.flow == f.name], dtype=float)
        # Mean of n log-normal sizes: standard error cv/sqrt(n); 4 standard errors.
        tol = 4 * f.size.cv / math.sqrt(len(sizes)) + 1.0 / f.size.mean_bytes
        assert sizes.mean() == pytest.approx(f.size.mean_bytes, rel=tol), f.name
    cargo = [m for m in msgs if m.cargo_class is not None]
    strategic = sum(m.strategic for m in cargo)
    n, s = len(cargo), p.strategic_share
    assert abs(strategic - n * s) <= 4 * math.sqrt(n * s * (1 - s))
    assert all(m.cargo_class is None for m in msgs if not p.flow(m.flow).carries_cargo)


def test_generator_matches_shanghai_at_the_vessel_peak(shanghai: TrafficProfile) -> None:
    # Ten minutes of the 20:00 vessel hour: stream (A) at ~58 msg/s.
    msgs = list(shanghai.messages(20 * 3600.0, 600.0, np.random.default_rng(5)))
    edi = [m for m in msgs if shanghai.flow(m.flow).stream == "port-edi-events"]
    assert _poisson_ok(len(edi), shanghai.hourly_hz("port-edi-events")[20] * 600)
    yangshan = sum(m.src == "yangshan-terminal" for m in edi if m.flow == "tnt-events")
    n = sum(m.flow == "tnt-events" for m in edi)
    assert abs(yangshan - 0.51 * n) <= 4 * math.sqrt(n * 0.51 * 0.49)
    assert {m.protection for m in msgs if m.flow == "customs-decision"} <= {"otp"}


def test_generator_wraps_midnight_and_splits_at_hours() -> None:
    p = load_profile("ci")
    msgs = list(p.messages(23.5 * 3600, 3600.0, np.random.default_rng(3)))
    assert msgs[0].time_s >= 23.5 * 3600 and msgs[-1].time_s < 24.5 * 3600
    # Half an hour at hour 23, half an hour at hour 0 of the next day.
    expected = 1800.0 * (sum(f.rate_hz(23) for f in p.flows) + sum(f.rate_hz(0) for f in p.flows))
    assert _poisson_ok(len(msgs), expected)


def test_generator_rejects_bad_window() -> None:
    p = load_profile("ci")
    with pytest.raises(ValueError, match="duration_s"):
        list(p.messages(0.0, -1.0, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="start_s"):
        list(p.messages(float("nan"), 1.0, np.random.default_rng(1)))
    assert list(p.messages(5.0, 0.0, np.random.default_rng(1))) == []


# ---------------------------------------------------------------- the data classes


def test_peaked_shape_keeps_the_mean_and_refuses_impossible_peaks() -> None:
    s = DiurnalShape.peaked(2.0, (9, 10, 11, 12, 13, 14, 15, 16))
    assert sum(s.hourly) / 24 == pytest.approx(1.0)
    assert s.hourly[9] == 2.0 and s.hourly[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="peak_factor"):
        DiurnalShape.peaked(4.0, tuple(range(8)))  # 8 h at ×4 is more than a day's mean
    with pytest.raises(ValueError, match="peak_hours"):
        DiurnalShape.peaked(2.0, (24,))
    with pytest.raises(ValueError, match="average to 1"):
        DiurnalShape((2.0,) * 24)


def test_size_and_flow_validation_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="mean_bytes"):
        SizeModel(0.0)
    with pytest.raises(ValueError, match="cv"):
        SizeModel(10.0, -1.0)
    kw = dict(
        name="f",
        application="a",
        message_type="T",
        stream="s",
        endpoints=(Endpoint("a", "b"),),
        mean_hz=1.0,
        shape=DiurnalShape.flat(),
        size=SizeModel(10.0),
    )
    with pytest.raises(ValueError, match="protection"):
        Flow(**{**kw, "protection": "rot13"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endpoint shares"):
        Flow(**{**kw, "endpoints": (Endpoint("a", "b", 0.5),)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean_hz"):
        Flow(**{**kw, "mean_hz": -1.0})  # type: ignore[arg-type]


def test_profile_file_errors_name_the_flow() -> None:
    data = {
        "name": "x",
        "default_route": ["a", "b"],
        "flows": [
            {
                "name": "bad",
                "application": "a",
                "message_type": "T",
                "stream": "s",
                "endpoints": [["a", "b"]],
                "rate": {"per_s": 1, "per_minute": 2},
                "size": {"mean_bytes": 10},
            }
        ],
    }
    with pytest.raises(ValueError, match="flow 'bad': rate needs exactly one"):
        profile_from_dict(data)
    data["flows"][0]["rate"] = {"per_box_move": 1}  # type: ignore[index]
    with pytest.raises(ValueError, match="needs the profile's volume"):
        profile_from_dict(data)
    with pytest.raises(ValueError, match="unknown profile"):
        load_profile("rotterdam-day")
