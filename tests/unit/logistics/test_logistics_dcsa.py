"""DCSA payloads: builders validate against the vendored schemas; bad ones get DCSA errors."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re

import pytest

from quaykey.errors import DcsaValidationError
from quaykey.logistics.dcsa import (
    BillFacts,
    EblParty,
    check,
    checksum,
    endorsement,
    equipment_event,
    iot_door_event,
    issuance,
    reefer_measurement,
    shipment_event,
    surrender,
    transport_document,
    transport_event,
    validate,
    verify_transfer_chain,
)

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
CARRIER = EblParty("Example Ocean Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
SHIPPER = EblParty("Shanghai Export Trading Co.", "BOLE", "300300ABCDEF00000001")
BANK = EblParty("Rotterdam Trade Bank N.V.", "WAVE", "724500BANK0000000002")


def _chain() -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    doc = transport_document()
    chain = [issuance(doc, CARRIER, SHIPPER, T0)]
    chain.append(endorsement(doc, chain[-1], SHIPPER, BANK, T0))
    chain.append(surrender(doc, chain[-1], BANK, CARRIER, T0))
    return doc, chain


BUILT = {
    "TransportDocument": lambda: transport_document(),
    "iotEvent": lambda: iot_door_event("MSKU9070323", T0),
    "reeferEvent": lambda: reefer_measurement(
        "MSKU9070323", T0, temperature_c=-18.2, setpoint_c=-18
    ),
    "equipmentEvent": lambda: equipment_event("DISC", "MSKU9070323", T0),
    "transportEvent": lambda: transport_event("ARRI", T0),
    "shipmentEvent": lambda: shipment_event("ISSU", "TRD", "SIPG0000001", T0),
    "EnvelopeTransferChainEntry": lambda: _chain()[1][1],
}


@pytest.mark.parametrize("schema", sorted(BUILT))
def test_built_payload_validates_against_vendored_schema(schema: str) -> None:
    assert check(BUILT[schema](), schema) is None


def test_the_validator_is_not_vacuous_for_each_schema() -> None:
    # Every schema must refuse an empty object, or the checks above would prove nothing.
    for schema in BUILT:
        assert check({}, schema) is not None or schema.endswith("Event"), schema
    # Event schemas only require metadata: an event without it must fail.
    for schema in [s for s in BUILT if s.endswith("Event")]:
        assert check({"payload": {}}, schema) is not None, schema


@pytest.mark.parametrize(
    ("schema", "path", "value", "field"),
    [
        ("TransportDocument", ["isToOrder"], "yes", "$.isToOrder"),
        ("TransportDocument", ["utilizedTransportEquipments", 0, "isShipperOwned"], "no",
         "$.utilizedTransportEquipments[0].isShipperOwned"),
        ("TransportDocument", ["transports", "portOfLoading", "UNLocationCode"], "Shanghai",
         "$.transports.portOfLoading.UNLocationCode"),
        ("reeferEvent", ["payload", "measurements", "temperatureUnit"], "KEL",
         "$.payload.measurements.temperatureUnit"),
        ("iotEvent", ["metadata", "eventCreatedDateTime"], "yesterday",
         "$.metadata.eventCreatedDateTime"),
        ("EnvelopeTransferChainEntry", ["transportDocumentChecksum"], "abc",
         "$.transportDocumentChecksum"),
    ],
)  # fmt: skip
def test_broken_payload_yields_dcsa_error_object_naming_the_field(
    schema: str, path: list[str | int], value: object, field: str
) -> None:
    payload = copy.deepcopy(BUILT[schema]())
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    error = check(payload, schema)
    assert error is not None
    assert error["statusCode"] == 400
    assert field in [d["field"] for d in error["errors"]]
    assert check(error, "error") is None  # the error object is itself valid DCSA
    with pytest.raises(DcsaValidationError) as info:
        validate(payload, schema)
    assert info.value.error["errors"] == error["errors"]
    assert "Traceback" not in str(info.value)


def test_missing_required_field_is_named() -> None:
    doc = transport_document()
    del doc["carrierCode"]
    error = check(doc, "TransportDocument")
    assert error is not None
    assert error["errors"][0]["field"] == "$.carrierCode"


def test_unknown_schema_name_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="schema must be one of"):
        check({}, "NoSuchSchema")


def test_checksum_is_sha256_of_rfc8785_form() -> None:
    # RFC 8785 orders keys by UTF-16 code units and writes numbers in ES6 form.
    assert checksum({"b": 1.0, "a": "x"}) == checksum({"a": "x", "b": 1})
    assert checksum({"b": 1.0, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').hexdigest()


def test_transfer_chain_verifies_and_names_a_broken_link() -> None:
    doc, chain = _chain()
    verify_transfer_chain(doc, chain)
    swapped = [chain[0], chain[2], chain[1]]
    with pytest.raises(DcsaValidationError, match=r"envelopeTransferChain\[1\]") as info:
        verify_transfer_chain(doc, swapped)
    detail = info.value.error["errors"][0]
    assert detail["field"] == "$.envelopeTransferChain[1]"
    assert detail["message"].startswith("previousEnvelopeTransferChainEntrySignedContentChecksum")
    assert check(info.value.error, "error") is None
    other = transport_document(BillFacts(reference="SIPG0000002"))
    with pytest.raises(DcsaValidationError, match="does not match the document"):
        verify_transfer_chain(other, chain)


def test_builders_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone"):
        iot_door_event("MSKU9070323", dt.datetime(2026, 12, 1))


def test_vendored_specs_carry_licence_and_match_their_provenance_hashes() -> None:
    from importlib import resources

    folder = resources.files("quaykey.logistics.dcsa") / "specs"
    assert "Apache License" in (folder / "LICENSE").read_text("utf-8")
    provenance = (folder / "PROVENANCE.md").read_text("utf-8")
    rows = re.findall(r"^\| (\S+\.yaml) \| \S+ \| ([0-9a-f]{64}) \|$", provenance, re.M)
    names = {p.name for p in folder.iterdir() if p.name.endswith(".yaml")}
    assert {name for name, _ in rows} == names
    for name, digest in rows:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
