"""DCSA eBL 3.0.4 transport documents and their PINT 3.0.0 title-transfer chain.

:func:`transport_document` builds a negotiable electronic bill of lading (``TransportDocument``
of DCSA eBL 3.0.4). Its title then moves by *transactions* (PINT ``Transaction``: ``ISSUE``,
``ENDORSE``, ``SURRENDER_FOR_DELIVERY``, ...) recorded in *envelope transfer chain entries*
(PINT ``EnvelopeTransferChainEntry``). As in PINT, each entry carries the document's checksum
and the checksum of the previous entry, so the chain is a hash chain; the first entry must
start with ``ISSUE``.

The entries built here are plain JSON whose ``previousEnvelopeTransferChainEntrySigned
ContentChecksum`` is the SHA-256 of the previous entry's RFC 8785 canonical form (the form the
ledger records: :mod:`quaykey.logistics.ledger`, one-time MACs per entry and ML-DSA-signed tree
heads). PINT's own form, each entry signed as a JWS and chained by the checksums of the JWS
strings, with the signed envelope manifest, is :mod:`quaykey.logistics.dcsa.pint_jws`.

References
----------
DCSA, "DCSA eBL 3.0.4" (EBL_v3.0.4), schema ``TransportDocument``; DCSA, "EBL_PINT v3.0.0",
schemas ``EnvelopeTransferChainEntry``, ``Transaction``, ``ActorParty``, ``RecipientParty``.
RFC 8785 (canonical JSON); RFC 6234 (SHA-256).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from quaykey.errors import DcsaValidationError
from quaykey.logistics.dcsa.canonical import checksum
from quaykey.logistics.dcsa.schemas import error_object, validate

__all__ = [
    "PREVIOUS_CHECKSUM",
    "BillFacts",
    "EblParty",
    "check_chain_entries",
    "endorsement",
    "issuance",
    "surrender",
    "transaction",
    "transport_document",
    "verify_transfer_chain",
]

#: The chain field naming the previous entry's checksum.
PREVIOUS_CHECKSUM = _PREV = "previousEnvelopeTransferChainEntrySignedContentChecksum"


@dataclass(frozen=True)
class EblParty:
    """A party on an eBL platform (PINT ``ActorParty`` / ``RecipientParty``).

    Parameters
    ----------
    name
        Legal name (``partyName``, at most 70 characters).
    platform
        eBL platform code from the PINT list (``BOLE``, ``WAVE``, ``CARX``, ...).
    lei
        Legal Entity Identifier (20 characters), sent as an ``identifyingCodes`` entry.
    """

    name: str
    platform: str
    lei: str

    def as_dcsa(self) -> dict[str, Any]:
        """The PINT party object."""
        code = {"codeListProvider": "GLEIF", "codeListName": "LEI", "partyCode": self.lei}
        return {"partyName": self.name, "eblPlatform": self.platform, "identifyingCodes": [code]}


@dataclass(frozen=True)
class BillFacts:
    """What a bill of lading states: the defaults describe one reefer box Shanghai -> Rotterdam.

    Every field maps onto a DCSA eBL 3.0.4 ``TransportDocument`` attribute of the same meaning.
    """

    reference: str = "SIPG0000001"
    booking_reference: str = "CNSHA0001234"
    carrier_code: str = "MSK"
    shipper: str = "Shanghai Export Trading Co."
    consignee: str = "Rotterdam Fresh Imports B.V."
    consignee_lei: str = "724500ABCDEF12345678"
    issuing_party: str = "Example Ocean Carrier"
    issuer_street: str = "Yangshan Deepwater Port Rd 1"
    issuer_city: str = "Shanghai"
    issuer_country: str = "CN"
    port_of_loading: str = "CNSHA"
    port_of_discharge: str = "NLRTM"
    vessel_name: str = "EXAMPLE STAR"
    voyage: str = "2426W"
    departure: dt.date = dt.date(2026, 12, 1)
    arrival: dt.date = dt.date(2027, 1, 5)
    equipment_reference: str = "MSKU9070323"
    seal: str = "CN1234567"
    goods: str = "Frozen shrimp"
    hs_code: str = "030617"
    gross_weight_kg: float = 21000.0
    packages: int = 1400
    to_order: bool = True
    status: str = "ISSUED"
    extra: dict[str, Any] = field(default_factory=dict)


def transport_document(facts: BillFacts | None = None) -> dict[str, Any]:
    """Build and validate a DCSA eBL 3.0.4 ``TransportDocument``.

    Parameters
    ----------
    facts
        The bill's content; :class:`BillFacts` defaults if omitted. ``facts.extra`` is merged
        in last (to set optional attributes, or to test how a bad one is refused).

    Returns
    -------
    dict
        The document, valid against the vendored EBL_v3.0.4 schema.

    Raises
    ------
    DcsaValidationError
        If the result breaks the schema; ``.error`` is the DCSA error object.

    Examples
    --------
    >>> doc = transport_document()
    >>> doc["transportDocumentReference"], doc["transports"]["portOfLoading"]["UNLocationCode"]
    ('SIPG0000001', 'CNSHA')
    >>> transport_document(BillFacts(extra={"isToOrder": "yes"}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    quaykey.errors.DcsaValidationError: TransportDocument: $.isToOrder: 'yes' is not of type ...
    """
    f = facts or BillFacts()
    contact = [{"name": "Documentation desk", "email": "docs@carrier.example"}]
    doc: dict[str, Any] = {
        "transportDocumentReference": f.reference,
        "transportDocumentStatus": f.status,
        "transportDocumentTypeCode": "BOL",
        "isShippedOnBoardType": True,
        "isElectronic": True,
        "isToOrder": f.to_order,
        "freightPaymentTermCode": "PRE",
        "issueDate": f.departure.isoformat(),
        "shippedOnBoardDate": f.departure.isoformat(),
        "termsAndConditions": "Carriage subject to the carrier's standard bill of lading terms.",
        "receiptTypeAtOrigin": "CY",
        "deliveryTypeAtDestination": "CY",
        "cargoMovementTypeAtOrigin": "FCL",
        "cargoMovementTypeAtDestination": "FCL",
        "carrierCode": f.carrier_code,
        "carrierCodeListProvider": "SMDG",
        "invoicePayableAt": {"UNLocationCode": f.port_of_loading},
        "partyContactDetails": contact,
        "documentParties": _document_parties(f),
        "transports": {
            "plannedDepartureDate": f.departure.isoformat(),
            "plannedArrivalDate": f.arrival.isoformat(),
            "portOfLoading": {"UNLocationCode": f.port_of_loading},
            "portOfDischarge": {"UNLocationCode": f.port_of_discharge},
            "vesselVoyages": [{"vesselName": f.vessel_name, "carrierExportVoyageNumber": f.voyage}],
        },
        "consignmentItems": [
            {
                "carrierBookingReference": f.booking_reference,
                "descriptionOfGoods": [f.goods],
                "HSCodes": [f.hs_code],
                "cargoItems": [
                    {
                        "equipmentReference": f.equipment_reference,
                        "cargoGrossWeight": {"value": f.gross_weight_kg, "unit": "KGM"},
                        "outerPackaging": {
                            "numberOfPackages": f.packages,
                            "description": "Cartons",
                        },
                    }
                ],
            }
        ],
        "utilizedTransportEquipments": [
            {
                "equipment": {
                    "equipmentReference": f.equipment_reference,
                    "ISOEquipmentCode": "45R1",
                },
                "isShipperOwned": False,
                "seals": [{"number": f.seal}],
            }
        ],
    }
    doc.update(f.extra)
    validate(doc, "TransportDocument", request_uri="/v3/transport-documents")
    return doc


def _document_parties(f: BillFacts) -> dict[str, Any]:
    parties: dict[str, Any] = {
        "shipper": {"partyName": f.shipper},
        "issuingParty": {
            "partyName": f.issuing_party,
            "address": {
                "street": f.issuer_street,
                "city": f.issuer_city,
                "countryCode": f.issuer_country,
            },
        },
    }
    if not f.to_order:
        code = {"codeListProvider": "GLEIF", "codeListName": "LEI", "partyCode": f.consignee_lei}
        parties["consignee"] = {"partyName": f.consignee, "identifyingCodes": [code]}
    return parties


def _timestamp(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware (PINT actionDateTime is UTC)")
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transaction(
    action_code: str, actor: EblParty, recipient: EblParty | None, at: dt.datetime
) -> dict[str, Any]:
    """A PINT 3.0.0 ``Transaction`` (validated).

    Examples
    --------
    >>> a = EblParty("Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
    >>> b = EblParty("Shipper", "WAVE", "529900T8BM49AURSDO55")
    >>> t = transaction("ISSUE", a, b, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    >>> t["actionCode"], t["actionDateTime"]
    ('ISSUE', '2026-12-01T00:00:00.000Z')
    """
    tx: dict[str, Any] = {
        "actionCode": action_code,
        "actor": actor.as_dcsa(),
        "actionDateTime": _timestamp(at),
    }
    if recipient is not None:
        tx["recipient"] = recipient.as_dcsa()
    validate(tx, "Transaction", request_uri="/v3/envelopes")
    return tx


def _entry(
    document: dict[str, Any],
    platform: str,
    transactions: list[dict[str, Any]],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "eblPlatform": platform,
        "transportDocumentChecksum": checksum(document),
        "transactions": transactions,
    }
    if previous is not None:
        entry[_PREV] = checksum(previous)
    validate(entry, "EnvelopeTransferChainEntry", request_uri="/v3/envelopes")
    return entry


def issuance(
    document: dict[str, Any], carrier: EblParty, issue_to: EblParty, at: dt.datetime
) -> dict[str, Any]:
    """First chain entry: the carrier issues the eBL to ``issue_to`` (PINT ``ISSUE``).

    Examples
    --------
    >>> carrier = EblParty("Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
    >>> shipper = EblParty("Shipper", "BOLE", "529900T8BM49AURSDO55")
    >>> t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    >>> e = issuance(transport_document(), carrier, shipper, t0)
    >>> e["transactions"][0]["actionCode"], len(e["transportDocumentChecksum"])
    ('ISSUE', 64)
    """
    tx = transaction("ISSUE", carrier, issue_to, at)
    return _entry(document, carrier.platform, [tx], None)


def endorsement(
    document: dict[str, Any],
    previous: dict[str, Any],
    endorser: EblParty,
    endorsee: EblParty,
    at: dt.datetime,
    *,
    to_order: bool = True,
) -> dict[str, Any]:
    """Next chain entry: the holder endorses the eBL (``ENDORSE_TO_ORDER`` or ``ENDORSE``)."""
    code = "ENDORSE_TO_ORDER" if to_order else "ENDORSE"
    tx = transaction(code, endorser, endorsee, at)
    return _entry(document, endorser.platform, [tx], previous)


def surrender(
    document: dict[str, Any],
    previous: dict[str, Any],
    holder: EblParty,
    carrier: EblParty,
    at: dt.datetime,
) -> dict[str, Any]:
    """Next chain entry: the holder surrenders the eBL to the carrier for delivery."""
    tx = transaction("SURRENDER_FOR_DELIVERY", holder, carrier, at)
    return _entry(document, holder.platform, [tx], previous)


def _chain_error(position: int, field_name: str, message: str) -> DcsaValidationError:
    # detailedError.field holds at most 50 characters, so the property goes in the message.
    detail = {
        "errorCode": 7003,
        "field": f"$.envelopeTransferChain[{position}]",
        "reason": "invalidData",
        "message": f"{field_name}: {message}"[:200],
    }
    error = error_object([detail], request_uri="/v3/envelopes")
    return DcsaValidationError(f"envelopeTransferChain[{position}]: {message}", error)


def verify_transfer_chain(document: dict[str, Any], chain: list[dict[str, Any]]) -> None:
    """Check a transfer chain the way a PINT receiver does.

    Each entry must validate, carry this document's checksum, and (after the first) the
    checksum of the entry before it; the first transaction of the first entry must be
    ``ISSUE``, and nothing may follow an accepted surrender (``SACC``).

    Raises
    ------
    DcsaValidationError
        Naming the first bad entry and field, with a DCSA error object.

    Examples
    --------
    >>> carrier = EblParty("Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
    >>> shipper = EblParty("Shipper", "BOLE", "529900T8BM49AURSDO55")
    >>> doc, t0 = transport_document(), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    >>> first = issuance(doc, carrier, shipper, t0)
    >>> verify_transfer_chain(doc, [first, surrender(doc, first, shipper, carrier, t0)])
    >>> verify_transfer_chain(doc, [surrender(doc, first, shipper, carrier, t0)])
    Traceback (most recent call last):
    ...
    quaykey.errors.DcsaValidationError: envelopeTransferChain[0]: first transaction must be ISSUE
    """
    if not chain:
        raise _chain_error(0, "transactions", "the chain is empty")
    check_chain_entries(document, chain, [None] + [checksum(e) for e in chain[:-1]])


def check_chain_entries(
    document: dict[str, Any], chain: list[dict[str, Any]], previous: list[str | None]
) -> None:
    """The checks of :func:`verify_transfer_chain`, with entry ``i``'s expected previous-entry
    checksum given as ``previous[i]`` (``None`` for the first): the canonical form's for plain
    entries, the JWS string's for signed ones (:mod:`quaykey.logistics.dcsa.pint_jws`).

    Raises
    ------
    DcsaValidationError
        Naming the first bad entry and field, with a DCSA error object.
    """
    doc_sum = checksum(document)
    closed = False
    for i, entry in enumerate(chain):
        validate(entry, "EnvelopeTransferChainEntry", request_uri="/v3/envelopes")
        if entry["transportDocumentChecksum"] != doc_sum:
            raise _chain_error(i, "transportDocumentChecksum", "does not match the document")
        if i == 0 and (entry["transactions"][0]["actionCode"] != "ISSUE" or _PREV in entry):
            raise _chain_error(0, "transactions", "first transaction must be ISSUE")
        if i > 0 and entry.get(_PREV) != previous[i]:
            raise _chain_error(i, _PREV, f"does not match entry {i - 1}")
        if closed:
            raise _chain_error(i, "transactions", "no transaction may follow SACC")
        closed = any(t["actionCode"] == "SACC" for t in entry["transactions"])
