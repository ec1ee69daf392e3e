"""EPCIS 2.0 ObjectEvents: required fields, GS1 keys with check digits, CBV vocabulary."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from quaykey.errors import LogisticsError
from quaykey.logistics.visibility import (
    ObjectEvent,
    check_object_event,
    container_epc,
    epcis_document,
    gln,
    grai,
    sscc,
)

AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
WH = gln("614141000001")


def _event(step: str = "receiving", **kw) -> dict:
    return ObjectEvent(
        AT,
        step,
        [sscc("00614141123456789")],
        read_point=WH,
        biz_location=WH,
        bill_of_lading="SIPG0000001",
        **kw,
    ).to_jsonld()


def test_required_fields_of_each_bonded_warehouse_step() -> None:
    for step in ("receiving", "storing", "shipping"):
        doc = json.loads(json.dumps(_event(step)))  # survives JSON round trip
        check_object_event(doc)
        assert doc["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
        assert (doc["type"], doc["action"], doc["eventTimeZoneOffset"]) == (
            "ObjectEvent",
            "OBSERVE",
            "+08:00",
        )
        assert doc["bizTransactionList"] == [
            {"type": "bol", "bizTransaction": "urn:quaykey:bol:SIPG0000001"}
        ]


@pytest.mark.parametrize(
    "field",
    [
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "epcList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
    ],
)
def test_each_missing_required_field_is_named(field: str) -> None:
    doc = _event()
    del doc[field]
    with pytest.raises(LogisticsError, match=field):
        check_object_event(doc)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("bizStep", "teleporting", "CBV"),
        ("disposition", "lost", "CBV"),
        ("action", "MOVE", "action"),
        ("epcList", [], "non-empty"),
        ("epcList", ["not a uri"], "URI"),
        ("epcList", ["https://id.gs1.org/00/006141411234567891"], "check digit"),
        ("bizLocation", {"id": "https://id.gs1.org/414/6141410000013"}, "check digit"),
        ("eventTime", "2026-12-01T09:30:00", "time zone"),
        ("eventTimeZoneOffset", "+8", "must look like"),
        ("type", "AggregationEvent", "ObjectEvent"),
    ],
)
def test_malformed_fields_are_refused(field: str, value: object, words: str) -> None:
    doc = _event()
    doc[field] = value
    with pytest.raises(LogisticsError, match=words):
        check_object_event(doc)


def test_cbv_uris_are_accepted_as_well_as_bare_words() -> None:
    doc = _event()
    doc["bizStep"] = "https://ref.gs1.org/cbv/BizStep-receiving"
    doc["disposition"] = "https://ref.gs1.org/cbv/Disp-in_progress"
    assert check_object_event(doc) is doc


def test_gs1_keys_and_container_ids() -> None:
    assert sscc("00614141123456789") == sscc("006141411234567890")
    with pytest.raises(ValueError, match="check digit"):
        sscc("006141411234567891")
    with pytest.raises(ValueError, match="SSCC must be 18 digits"):
        sscc("12ab")
    assert grai("061414100001", "A1").endswith("/8003/00614141000012A1")
    with pytest.raises(ValueError, match="serial"):
        grai("061414100001", "x" * 17)
    with pytest.raises(ValueError, match="equipment_reference"):
        container_epc("MSKU9070324")


def test_event_time_must_be_aware_and_the_document_wraps_events() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ObjectEvent(
            AT.replace(tzinfo=None),
            "storing",
            [sscc("00614141123456789")],
            read_point=WH,
            biz_location=WH,
        )
    ev = ObjectEvent(AT, "storing", [container_epc("MSKU9070323")], read_point=WH, biz_location=WH)
    doc = epcis_document([ev, ev], AT)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert len(doc["epcisBody"]["eventList"]) == 2
    assert "@context" not in doc["epcisBody"]["eventList"][0]
