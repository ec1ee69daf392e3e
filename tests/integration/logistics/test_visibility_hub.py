"""Track & Trace and EPCIS events reach exactly the entitled subscribers, over real KMEs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import KmsNet, start_net
from quaykey.errors import DcsaValidationError, LogisticsError, MessageRejectedError
from quaykey.logistics.dcsa import VesselCall, equipment_event, shipment_event, transport_event
from quaykey.logistics.sdk import SecureChannel
from quaykey.logistics.visibility import (
    ObjectEvent,
    VisibilityHub,
    container_epc,
    gln,
    grai,
    open_event,
    sscc,
)

SAES = {"carrier": "a", "shipper-a": "a", "pcs": "a", "shipper-b": "b"}
PAIRS = [("carrier", "shipper-a"), ("carrier", "pcs"), ("carrier", "shipper-b")]
CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmsNet]:
    n = start_net(tmp_path_factory.mktemp("vis-kms"), saes=SAES, pairs=PAIRS)
    for _ in range(4):
        n.feed("a", "b", 1 << 16)
    yield n
    n.close()


class World:
    """The carrier's hub, each subscriber's channel and mailbox."""

    def __init__(self, net: KmsNet, tmp: Path) -> None:
        self.hub = VisibilityHub()
        self.mail: dict[str, list[bytes]] = {}
        self.rx: dict[str, SecureChannel] = {}
        carrier = net.client("carrier")
        entitled = {
            "shipper-a": ["SIPG0000001"],
            "shipper-b": ["SIPG0000002"],
            "pcs": ["SIPG0000001", "SIPG0000002"],
        }
        for name, shipments in entitled.items():
            tx = SecureChannel(carrier, name, state=tmp / f"carrier-{name}.db")
            self.rx[name] = SecureChannel(net.client(name), "carrier", state=tmp / f"{name}.db")
            box = self.mail.setdefault(name, [])
            self.hub.subscribe(name, tx, shipments=shipments, deliver=box.append)
        self.hub.register_shipment(
            "SIPG0000001", equipment=["MSKU9070323"], transport_calls=["TC-CNSHA-2426W"]
        )
        self.hub.register_shipment(
            "SIPG0000002",
            equipment=["CSQU3054383"],
            transport_calls=["TC-CNSHA-2426W", "TC-NLRTM-2431W"],
        )

    def received(self, name: str) -> list[dict]:
        return [open_event(self.rx[name], env) for env in self.mail[name]]


@pytest.fixture
def world(net: KmsNet, tmp_path: Path) -> World:
    return World(net, tmp_path)


def _ids(events: list[dict]) -> set[str]:
    return {e.get("metadata", {}).get("eventID") or e["eventTime"] + e["bizStep"] for e in events}


def test_each_subscriber_gets_exactly_its_shipments(world: World) -> None:
    wh = gln("614141000001")
    dock = gln("614141000001", "DOCK-3")
    rotterdam = VesselCall(reference="TC-NLRTM-2431W", un_location="NLRTM", voyage="2431W")
    events = {
        "load-1": equipment_event("LOAD", "MSKU9070323", T0),
        "gtin-2": equipment_event("GTIN", "CSQU3054383", T0),
        "depa": transport_event("DEPA", T0),  # the call both shipments sail on
        "arri-2": transport_event("ARRI", T0, call=rotterdam),
        "issu-2": shipment_event("ISSU", "TRD", "SIPG0000002", T0),
        "other": equipment_event("LOAD", "APZU4812090", T0),  # nobody's box
    }
    steps = [
        ("receiving", [sscc("00614141123456789"), grai("061414100001", "PLT-7")]),
        ("storing", [sscc("00614141123456789")]),
        ("shipping", [container_epc("MSKU9070323")]),
    ]
    for k, (step, epcs) in enumerate(steps):
        at = (T0 + dt.timedelta(hours=k)).astimezone(CST)
        ev = ObjectEvent(
            at, step, epcs, read_point=dock, biz_location=wh, bill_of_lading="SIPG0000001"
        )
        events[f"epcis-{step}"] = ev.to_jsonld()
    sent_to = {k: world.hub.publish(e) for k, e in events.items()}
    assert sent_to["load-1"] == ["pcs", "shipper-a"]
    assert sent_to["gtin-2"] == sent_to["arri-2"] == sent_to["issu-2"] == ["pcs", "shipper-b"]
    assert sent_to["depa"] == ["pcs", "shipper-a", "shipper-b"]
    assert sent_to["other"] == [] and world.hub.counters["unrouted"] == 1
    expect = {
        "shipper-a": {"load-1", "depa", "epcis-receiving", "epcis-storing", "epcis-shipping"},
        "shipper-b": {"gtin-2", "depa", "arri-2", "issu-2"},
        "pcs": set(events) - {"other"},
    }
    got = {name: world.received(name) for name in expect}
    for name, keys in expect.items():
        assert _ids(got[name]) == _ids([events[k] for k in keys]), name
        assert len(got[name]) == len(keys)
    epcis = [e for e in got["shipper-a"] if e.get("type") == "ObjectEvent"]
    assert [(e["bizStep"], e["disposition"]) for e in epcis] == [
        ("receiving", "in_progress"),
        ("storing", "sellable_not_accessible"),
        ("shipping", "in_transit"),
    ]
    assert all(e["bizLocation"]["id"] == wh and e["readPoint"]["id"] == dock for e in epcis)


def test_an_envelope_for_one_subscriber_is_refused_by_another(world: World) -> None:
    world.hub.publish(equipment_event("LOAD", "MSKU9070323", T0))
    stolen = world.mail["shipper-a"][0]
    with pytest.raises(MessageRejectedError) as err:
        world.rx["shipper-b"].receive(stolen)
    assert err.value.reason == "misaddressed"


def test_invalid_events_are_not_published(world: World) -> None:
    bad = equipment_event("LOAD", "MSKU9070323", T0)
    bad["payload"]["equipmentEventTypeCode"] = "LIFT"
    with pytest.raises(DcsaValidationError):
        world.hub.publish(bad)
    doc = ObjectEvent(
        T0,
        "storing",
        [sscc("00614141123456789")],
        read_point=gln("614141000001"),
        biz_location=gln("614141000001"),
        bill_of_lading="SIPG0000001",
    ).to_jsonld()
    del doc["bizLocation"]
    with pytest.raises(LogisticsError, match="bizLocation"):
        world.hub.publish(doc)
    assert all(not m for m in world.mail.values())
