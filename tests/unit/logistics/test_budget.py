"""Key budget arithmetic against hand computations, and the documented shanghai-day claims."""

from __future__ import annotations

import json

import pytest

from quaykey.logistics.budget import PLANS, KeyPolicy, flow_key_bps, key_budget
from quaykey.logistics.profiles import load_profile
from quaykey.logistics.traffic import (
    CargoClass,
    DiurnalShape,
    Endpoint,
    Flow,
    SizeModel,
    TrafficProfile,
)


def _tiny(shape_b: DiurnalShape | None = None) -> TrafficProfile:
    """Two flows whose budget is worked out by hand below."""
    decisions = Flow(
        "decision", "customs-clearance", "CUSRES", "customs",
        (Endpoint("hq", "port"),), 2.0, DiurnalShape.flat(), SizeModel(100.0),
        carries_cargo=False, protection="otp", channels=1,
    )  # fmt: skip
    events = Flow(
        "events", "terminal-edi", "COARRI", "port-edi-events",
        (Endpoint("terminal", "port"),), 10.0, shape_b or DiurnalShape.flat(),
        SizeModel(700.0), carries_cargo=True, protection="aes", channels=4,
    )  # fmt: skip
    cargo = (CargoClass("pharma", ("30",), 0.1, True), CargoClass("general", (), 0.9, False))
    return TrafficProfile("tiny", (decisions, events), cargo, default_route=("port", "hq"))


POLICY = KeyPolicy(rekey_messages=1000, rekey_interval_s=64.0)

# By hand (8 bits per byte, 256-bit one-time MAC key, 256-bit session keys):
#   otp:  decision 2 * (800 + 256) = 2112;  events 10 * (5600 + 256) = 58560
#   aes:  decision max(2/1000, 1/64) * 256 = 4;  events max(10/1000, 4/64) * 256 = 16
#   default:            2112 + 16 = 2128
#   default+strategic:  2112 + 1 * 5856 (10 % of events on otp) + max(9/1000, 4/64) * 256
#                       = 2112 + 5856 + 16 = 7984
HAND = {"otp": 60672.0, "aes": 20.0, "hybrid": 20.0, "default": 2128.0, "default+strategic": 7984.0}


def test_budget_matches_a_hand_computation_for_a_tiny_profile() -> None:
    b = key_budget(_tiny(), 5000.0, policy=POLICY, stock_bits=1e6)
    for plan, bps in HAND.items():
        p = b.plan(plan)
        assert p.key_bps_mean == pytest.approx(bps, rel=1e-12), plan
        assert p.key_bps_peak == pytest.approx(bps, rel=1e-12), plan  # flat: peak = mean
        assert p.messages_per_s_mean == pytest.approx(12.0)
    assert b.plan("default").otp_messages_per_s_mean == pytest.approx(2.0)
    assert b.plan("default+strategic").otp_messages_per_s_mean == pytest.approx(3.0)
    st = b.plan("default+strategic")
    assert not st.sustained_mean and b.plan("default").sustained_peak
    # 1 Mbit covers the 2984 bit/s deficit for 1e6 / 2984 s.
    assert st.drain_at_peak_s == pytest.approx(1e6 / 2984.0)
    # Flat deficit from midnight with the stock full: dry after the same time.
    assert st.dry_after_s == pytest.approx(1e6 / 2984.0)
    assert b.plan("default").drain_at_peak_s is None and b.plan("default").dry_after_s is None
    assert b.recommended == "default"
    assert b.plan("otp").top_flow == "events"
    assert b.drain_order == ("otp", "default+strategic")  # 1e6/55672 s before 1e6/2984 s


def test_peak_is_the_busiest_hour_of_the_sum() -> None:
    shape = DiurnalShape.peaked(3.0, (20, 21, 22, 23))  # events: 30/s 20-24h, 6/s otherwise
    b = key_budget(_tiny(shape), 5000.0, policy=POLICY)
    otp = b.plan("otp")
    assert otp.key_bps_peak == pytest.approx(2112 + 30 * 5856)
    assert otp.key_bps_mean == pytest.approx(60672.0)
    assert otp.hourly_key_bps[0] == pytest.approx(2112 + 6 * 5856)
    assert b.plan("otp").messages_per_s_peak == pytest.approx(32.0)
    # default+strategic: events at 30/s -> 2112 + 3 * 5856 + 16 = 19696 bit/s in the four
    # peak hours, 2112 + 0.6 * 5856 + 16 = 5641.6 otherwise; at 10 kbit/s the deficit is
    # 9696 bit/s for 4 h, recovered at 4358.4 bit/s: the stock needed is 4 h of deficit.
    c = key_budget(_tiny(shape), 10_000.0, policy=POLICY, stock_bits=1e6)
    st = c.plan("default+strategic")
    assert st.key_bps_peak == pytest.approx(19696.0)
    assert st.stock_needed_bits == pytest.approx(4 * 3600 * 9696.0)
    assert st.dry_after_s == pytest.approx(20 * 3600 + 1e6 / 9696.0)
    assert c.plan("otp").stock_needed_bits is None  # its mean exceeds the capacity
    assert c.plan("aes").stock_needed_bits == 0.0


def test_mac_per_message_and_rekey_limits() -> None:
    mac = KeyPolicy(rekey_messages=1000, rekey_interval_s=64.0, mac_per_message=True)
    b = key_budget(_tiny(), 5000.0, policy=mac)
    assert b.plan("aes").key_bps_mean == pytest.approx(20.0 + 12 * 256)
    f = _tiny().flow("events")
    # Count-limited only: 10 msg/s every 5 messages = 2 rekeys/s.
    assert flow_key_bps(f, "aes", 10.0, KeyPolicy(5, None)) == pytest.approx(512.0)
    # Time-limited only: 4 channels every 2 s.
    assert flow_key_bps(f, "hybrid", 10.0, KeyPolicy(None, 2.0)) == pytest.approx(512.0)
    with pytest.raises(ValueError, match="rekey_messages or rekey_interval_s"):
        KeyPolicy(None, None)
    with pytest.raises(ValueError, match="rekey_interval_s"):
        KeyPolicy(10, 0.0)
    with pytest.raises(ValueError, match="class"):
        flow_key_bps(f, "rot13", 1.0, POLICY)


def test_scope_route_keeps_only_flows_between_the_route_ends() -> None:
    b = key_budget(_tiny(), 5000.0, policy=POLICY, scope="route")
    assert b.flows == ("decision",) and b.route == ("port", "hq")
    assert b.plan("otp").key_bps_mean == pytest.approx(2112.0)
    b2 = key_budget(_tiny(), 5000.0, policy=POLICY, scope="route", route=("terminal", "port"))
    assert b2.flows == ("events",)


def test_budget_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="capacity_bps"):
        key_budget(_tiny(), -1.0)
    with pytest.raises(ValueError, match="scope"):
        key_budget(_tiny(), 1.0, scope="everywhere")
    with pytest.raises(ValueError, match="stock_bits"):
        key_budget(_tiny(), 1.0, stock_bits=float("inf"))
    with pytest.raises(ValueError, match="no flow of profile 'tiny' runs between"):
        key_budget(_tiny(), 1.0, scope="route", route=("hq", "terminal"))


def test_a_dead_route_gives_valid_json() -> None:
    b = key_budget(_tiny(), 0.0, policy=POLICY)
    d = json.loads(json.dumps(b.to_dict(), allow_nan=False))
    assert d["plans"][0]["capacity_share_mean"] is None
    assert b.recommended is None and "No plan fits" in b.verdict


def test_to_dict_is_json_and_carries_every_plan() -> None:
    d = key_budget(_tiny(), 5000.0, policy=POLICY).to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert [p["plan"] for p in back["plans"]] == list(PLANS)
    for key in ("profile", "route", "scope", "capacity_bps", "stock_bits", "policy", "verdict"):
        assert key in back
    assert len(back["plans"][0]["hourly_key_bps"]) == 24
    assert back["recommended"] == "default"
    assert back["drain_order"] == ["otp", "default+strategic"]


# ---------------------------------------------------------------- the documented claims


def test_shanghai_otp_for_everything_needs_160_to_280_kbit_s_and_half_a_megabit_at_peak() -> None:
    # logistics.md §0/§6.3: OTP for all Shanghai-scale port traffic ~160-280 kbit/s on
    # average, ~0.4-0.5 Mbit/s at peak; AES-256 rekeying <= 13 kbit/s.
    b = key_budget(load_profile("shanghai-day"), 28_000.0)
    otp = b.plan("otp")
    assert 160e3 <= otp.key_bps_mean <= 280e3
    assert 0.4e6 * 0.9 <= otp.key_bps_peak <= 0.5e6 * 1.1
    assert b.plan("aes").key_bps_peak <= 13e3
    # Several times what a 33-hop trusted-relay route delivers (~28 kbit/s).
    assert otp.key_bps_mean > 5 * 28_000 and not otp.sustained_mean
    assert b.plan("default").sustained_peak
    assert "One-time pad for everything" in b.verdict
