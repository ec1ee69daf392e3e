"""Supply-chain visibility: DCSA Track & Trace to subscribers, GS1 EPCIS 2.0 object events.

:class:`VisibilityHub` is the carrier's publisher. It knows which equipment and which
vessel calls belong to which shipment (transport document reference) and sends each
DCSA Track & Trace event (equipment, transport, shipment; Event Domain 3.1.0), validated,
only to the subscribers of the shipments it concerns: a shipper sees its own boxes, the
port community system the shipments it is registered for. Each subscriber is a peer SAE
reached through its own :class:`~quaykey.logistics.sdk.SecureChannel` (message type
``event``: ``aes`` by default, policy decides).

:class:`ObjectEvent` is a thin model of a GS1 EPCIS 2.0 ``ObjectEvent`` (what: ``epcList``
of SSCC, GRAI or container identifiers; when: ``eventTime`` and offset; where:
``readPoint`` and ``bizLocation`` GLNs; why: CBV ``bizStep`` and ``disposition``; the bill
of lading in ``bizTransactionList``) written as JSON-LD, and :func:`check_object_event`
checks the required fields of a received one. No EPCIS library is used (the ones on PyPI
are AGPL/GPL).

Examples
--------
>>> import datetime as dt
>>> at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
>>> wh = gln("614141000001")
>>> ev = ObjectEvent(at, "receiving", [sscc("00614141123456789")], read_point=wh,
...                  biz_location=wh, bill_of_lading="SIPG0000001")
>>> doc = ev.to_jsonld()
>>> doc["bizStep"], doc["disposition"], doc["epcList"]
('receiving', 'in_progress', ['https://id.gs1.org/00/006141411234567890'])
>>> check_object_event(doc)["eventTimeZoneOffset"]
'+08:00'

References
----------
GS1, "EPCIS and CBV 2.0 Standard" (EPCIS 2.0 with Core Business Vocabulary 2.0, 2022):
Sec. 7.4.2 ObjectEvent, CBV Sec. 7.1 business steps, 7.2 dispositions, 7.3 business
transaction types; "GS1 Digital Link 1.2" (URI syntax of SSCC AI 00, GRAI AI 8003, GLN
AI 414). DCSA, "Event Domain 3.1.0", "Track & Trace 3.0.0-Beta-1".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stdnum.ean import calc_check_digit

from quaykey.errors import LogisticsError
from quaykey.logistics.dcsa import validate
from quaykey.logistics.dcsa.canonical import canonical_json

if TYPE_CHECKING:
    from quaykey.logistics.sdk import SecureChannel

__all__ = [
    "BIZ_STEPS",
    "DISPOSITIONS",
    "EPCIS_CONTEXT",
    "ObjectEvent",
    "VisibilityHub",
    "check_object_event",
    "container_epc",
    "epcis_document",
    "gln",
    "grai",
    "open_event",
    "sscc",
]

log = logging.getLogger("quaykey.logistics.visibility")

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
_DL = "https://id.gs1.org"
#: CBV 2.0 business steps a bonded warehouse and a terminal use (a subset of CBV Sec. 7.1).
BIZ_STEPS = frozenset(
    {
        "receiving",
        "storing",
        "shipping",
        "loading",
        "unloading",
        "departing",
        "arriving",
        "inspecting",
        "holding",
        "picking",
        "packing",
        "accepting",
        "stocking",
        "staging_outbound",
    }
)
#: CBV 2.0 dispositions used with them (a subset of CBV Sec. 7.2).
DISPOSITIONS = frozenset(
    {
        "in_progress",
        "in_transit",
        "sellable_not_accessible",
        "sellable_accessible",
        "container_closed",
        "container_open",
        "active",
        "inactive",
        "damaged",
        "unknown",
    }
)
#: Disposition a bonded warehouse reports with each step when none is given: goods just
#: received are being processed, stored goods are under customs bond (not accessible for
#: sale), shipped goods are in transit.
DEFAULT_DISPOSITION = {
    "receiving": "in_progress",
    "storing": "sellable_not_accessible",
    "shipping": "in_transit",
}
_ACTIONS = frozenset({"ADD", "OBSERVE", "DELETE"})
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_TRACK_SCHEMAS = {
    "EQUIPMENT": "equipmentEvent",
    "TRANSPORT": "transportEvent",
    "SHIPMENT": "shipmentEvent",
}


def _digits(value: str, n: int, field_name: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) == n):
        raise ValueError(f"{field_name} must be {n} digits, got {value!r}")
    return value


def _with_check(value: str, n: int, field_name: str) -> str:
    """``value`` of ``n - 1`` digits gets its GS1 check digit; ``n`` digits must carry it."""
    if len(value) == n - 1:
        value = _digits(value, n - 1, field_name)
        return value + calc_check_digit(value)
    _digits(value, n, field_name)
    if calc_check_digit(value[:-1]) != value[-1]:
        raise ValueError(
            f"{field_name} {value!r}: GS1 check digit should be {calc_check_digit(value[:-1])}"
        )
    return value


def sscc(value: str) -> str:
    """GS1 Digital Link URI of an SSCC (18 digits; 17 get their check digit).

    >>> sscc("006141411234567890")
    'https://id.gs1.org/00/006141411234567890'
    """
    return f"{_DL}/00/{_with_check(value, 18, 'SSCC')}"


def grai(gtin_part: str, serial: str) -> str:
    """GS1 Digital Link URI of a serialised GRAI (returnable asset: pallet, roll cage).

    ``gtin_part`` is the 13 digits after the leading 0 (12 get their check digit).

    >>> grai("061414100001", "PLT-0042")
    'https://id.gs1.org/8003/00614141000012PLT-0042'
    """
    if not (1 <= len(serial) <= 16 and re.fullmatch(r"[!-~]+", serial)):
        raise ValueError(f"serial must be 1-16 printable characters, got {serial!r}")
    return f"{_DL}/8003/0{_with_check(gtin_part, 13, 'GRAI')}{serial}"


def gln(value: str, extension: str | None = None) -> str:
    """GS1 Digital Link URI of a location (GLN, 13 digits; 12 get their check digit), with
    an optional GLN extension (AI 254) for a dock or bay.

    >>> gln("614141000001", "DOCK-3")
    'https://id.gs1.org/414/6141410000014/254/DOCK-3'
    """
    uri = f"{_DL}/414/{_with_check(value, 13, 'GLN')}"
    return uri if extension is None else f"{uri}/254/{extension}"


def container_epc(equipment_reference: str) -> str:
    """URI of a freight container by its ISO 6346 number (our ``urn:quaykey:iso6346:`` form:
    GS1 keys have no container number, EPCIS accepts any URI).

    >>> container_epc("MSKU9070323")
    'urn:quaykey:iso6346:MSKU9070323'
    """
    from quaykey.logistics.identifiers import container_number

    return f"urn:quaykey:iso6346:{container_number(equipment_reference, 'equipment_reference')}"


def _bol_uri(reference: str) -> str:
    return f"urn:quaykey:bol:{reference}"


@dataclass(frozen=True)
class ObjectEvent:
    """One EPCIS 2.0 ObjectEvent of a bonded warehouse (validated on construction).

    Parameters
    ----------
    event_time : datetime
        Timezone-aware; its offset becomes ``eventTimeZoneOffset``.
    biz_step : str
        CBV business step (``receiving``, ``storing``, ``shipping``, ...).
    epcs : list of str
        Object URIs (:func:`sscc`, :func:`grai`, :func:`container_epc`).
    read_point, biz_location : str
        Location URIs (:func:`gln`).
    disposition : str, optional
        CBV disposition (default by step, :data:`DEFAULT_DISPOSITION`).
    action : str
        ``OBSERVE`` (default), ``ADD`` or ``DELETE``.
    bill_of_lading : str, optional
        Transport document reference, put in ``bizTransactionList`` as CBV type ``bol``.
    """

    event_time: dt.datetime
    biz_step: str
    epcs: list[str] | tuple[str, ...]
    read_point: str
    biz_location: str
    disposition: str | None = None
    action: str = "OBSERVE"
    bill_of_lading: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_object_event(self.to_jsonld())

    def to_jsonld(self) -> dict[str, Any]:
        """The event as EPCIS 2.0 JSON-LD (with its ``@context``)."""
        if self.event_time.tzinfo is None or self.event_time.utcoffset() is None:
            raise ValueError("event_time must be timezone-aware")
        off = self.event_time.utcoffset() or dt.timedelta(0)
        minutes = int(off.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        doc: dict[str, Any] = {
            "@context": [EPCIS_CONTEXT],
            "type": "ObjectEvent",
            "eventTime": self.event_time.isoformat(timespec="milliseconds"),
            "eventTimeZoneOffset": offset,
            "epcList": list(self.epcs),
            "action": self.action,
            "bizStep": self.biz_step,
            "disposition": self.disposition or DEFAULT_DISPOSITION.get(self.biz_step, "unknown"),
            "readPoint": {"id": self.read_point},
            "bizLocation": {"id": self.biz_location},
        }
        if self.bill_of_lading:
            doc["bizTransactionList"] = [
                {"type": "bol", "bizTransaction": _bol_uri(self.bill_of_lading)}
            ]
        return doc | dict(self.extra)


def _fail(what: str) -> LogisticsError:
    return LogisticsError(f"EPCIS ObjectEvent: {what}")


def _uri(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value):
        raise _fail(f"{where} must be a URI, got {value!r}")
    if value.startswith(_DL + "/"):  # a GS1 key: its check digit must hold
        parts = value[len(_DL) + 1 :].split("/")
        n = {"00": 18, "414": 13}.get(parts[0])
        key = parts[1] if len(parts) > 1 else ""
        if parts[0] == "8003":
            n, key = 14, key[:14]
        if n and not (
            key[:n].isdigit() and len(key) >= n and calc_check_digit(key[: n - 1]) == key[n - 1]
        ):
            raise _fail(f"{where} {value!r}: bad GS1 key or check digit")
    return value


def check_object_event(doc: Any) -> dict[str, Any]:
    """Check that a JSON-LD ObjectEvent carries the required fields, well-formed; return it.

    Required here (EPCIS 2.0 Sec. 7.4.2 plus what a bonded warehouse must report):
    ``type`` ObjectEvent, ``eventTime`` with zone, ``eventTimeZoneOffset``, ``action``,
    a non-empty ``epcList`` of URIs, CBV ``bizStep`` and ``disposition`` (bare or as
    ``https://ref.gs1.org/cbv/BizStep-...`` URIs), ``readPoint.id`` and ``bizLocation.id``.

    Raises
    ------
    LogisticsError
        Naming the first missing or malformed field.
    """
    if not isinstance(doc, dict):
        raise _fail("not a JSON object")
    for name in (
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "epcList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
    ):
        if name not in doc:
            raise _fail(f"missing required field {name!r}")
    if doc["type"] != "ObjectEvent":
        raise _fail(f"type must be 'ObjectEvent', got {doc['type']!r}")
    try:
        when = dt.datetime.fromisoformat(str(doc["eventTime"]).replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"eventTime is not ISO 8601: {doc['eventTime']!r}") from None
    if when.tzinfo is None:
        raise _fail("eventTime must carry a time zone")
    if not _OFFSET.fullmatch(str(doc["eventTimeZoneOffset"])):
        raise _fail(
            f"eventTimeZoneOffset must look like +08:00, got {doc['eventTimeZoneOffset']!r}"
        )
    if doc["action"] not in _ACTIONS:
        raise _fail(f"action must be one of {sorted(_ACTIONS)}, got {doc['action']!r}")
    epcs = doc["epcList"]
    if not isinstance(epcs, list) or not epcs:
        raise _fail("epcList must be a non-empty list")
    for i, epc in enumerate(epcs):
        _uri(epc, f"epcList[{i}]")
    for name, vocab, prefix in (
        ("bizStep", BIZ_STEPS, "BizStep-"),
        ("disposition", DISPOSITIONS, "Disp-"),
    ):
        word = str(doc[name]).removeprefix(f"https://ref.gs1.org/cbv/{prefix}")
        if word not in vocab:
            raise _fail(f"{name} {doc[name]!r} is not a CBV 2.0 value we accept ({sorted(vocab)})")
    for name in ("readPoint", "bizLocation"):
        if not isinstance(doc[name], dict) or "id" not in doc[name]:
            raise _fail(f"{name} must be an object with an 'id'")
        _uri(doc[name]["id"], f"{name}.id")
    return doc


def epcis_document(events: Iterable[ObjectEvent], created: dt.datetime) -> dict[str, Any]:
    """An EPCIS 2.0 ``EPCISDocument`` (JSON-LD) carrying ``events``."""
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.isoformat(timespec="milliseconds"),
        "epcisBody": {
            "eventList": [
                {k: v for k, v in e.to_jsonld().items() if k != "@context"} for e in events
            ]
        },
    }


# -- publication ----------------------------------------------------------------------


@dataclass
class _Subscriber:
    channel: SecureChannel
    shipments: set[str]
    deliver: Callable[[bytes], None]


class VisibilityHub:
    """The carrier's publisher of Track & Trace and EPCIS events to entitled subscribers.

    Examples
    --------
    With channels to each subscriber's SAE (``docs/apps.md``)::

        hub = VisibilityHub()
        hub.register_shipment("SIPG0000001", equipment=["MSKU9070323"],
                              transport_calls=["TC-CNSHA-2426W"])
        hub.subscribe("shipper-a", chan_a, shipments=["SIPG0000001"], deliver=send_a)
        hub.publish(equipment_event("LOAD", "MSKU9070323", now))   # -> ['shipper-a']
    """

    def __init__(self) -> None:
        self._equipment: dict[str, set[str]] = {}
        self._calls: dict[str, set[str]] = {}
        self._subs: dict[str, _Subscriber] = {}
        self.counters: Counter[str] = Counter()

    def register_shipment(
        self, reference: str, *, equipment: Iterable[str] = (), transport_calls: Iterable[str] = ()
    ) -> None:
        """Say which containers and vessel calls carry the shipment ``reference``."""
        if not reference:
            raise ValueError("reference must be a non-empty transport document reference")
        for eq in equipment:
            self._equipment.setdefault(eq, set()).add(reference)
        for call in transport_calls:
            self._calls.setdefault(call, set()).add(reference)

    def subscribe(
        self,
        name: str,
        channel: SecureChannel,
        *,
        shipments: Iterable[str],
        deliver: Callable[[bytes], None],
    ) -> None:
        """Entitle subscriber ``name`` (reached by ``channel``) to events of ``shipments``."""
        wanted = set(shipments)
        if not wanted:
            raise ValueError(f"shipments of subscriber {name!r} must name at least one shipment")
        self._subs[name] = _Subscriber(channel, wanted, deliver)

    def shipments_of(self, event: Mapping[str, Any]) -> set[str]:
        """The shipments a DCSA Track & Trace event or an EPCIS ObjectEvent concerns."""
        if event.get("type") == "ObjectEvent":
            return {
                t["bizTransaction"].removeprefix("urn:quaykey:bol:")
                for t in event.get("bizTransactionList", [])
                if t.get("type") == "bol"
            }
        # An equipment event concerns the box's shipments (its transportCall only says
        # where); a transport event every shipment on the vessel call.
        p = event.get("payload", {})
        kind = event.get("metadata", {}).get("eventType")
        found = set(self._equipment.get(p.get("equipmentReference", ""), ()))
        if kind == "TRANSPORT":
            call = p.get("transportCall", {}).get("transportCallReference", "")
            found |= self._calls.get(call, set())
        if "documentReference" in p:
            found.add(p["documentReference"])
        return found

    def publish(self, event: Mapping[str, Any]) -> list[str]:
        """Validate ``event`` and send it to every subscriber of its shipments; return them.

        Raises
        ------
        DcsaValidationError, LogisticsError
            If the event breaks its DCSA schema or the EPCIS required fields (nothing sent).
        """
        if event.get("type") == "ObjectEvent":
            check_object_event(event)
            kind = "epcis"
        else:
            schema = _TRACK_SCHEMAS.get(event.get("metadata", {}).get("eventType", ""))
            if schema is None:
                raise LogisticsError("not a DCSA Track & Trace event or EPCIS ObjectEvent")
            validate(event, schema)
            kind = schema
        concerned = self.shipments_of(event)
        to = sorted(n for n, s in self._subs.items() if s.shipments & concerned)
        body = canonical_json(dict(event))
        for name in to:
            sub = self._subs[name]
            sub.deliver(sub.channel.send("event", body))
        self.counters[f"published.{kind}"] += 1
        self.counters["deliveries"] += len(to)
        if not to:
            self.counters["unrouted"] += 1
        log.debug("%s event for %s -> %s", kind, sorted(concerned), to)
        return to


def open_event(channel: SecureChannel, envelope: bytes) -> dict[str, Any]:
    """Subscriber side: open an envelope from the hub and check the event inside.

    Raises
    ------
    MessageRejectedError
        If the envelope is refused (tampered, replayed, ...).
    DcsaValidationError, LogisticsError
        If the event inside breaks its schema.
    """
    event: dict[str, Any] = json.loads(channel.receive(envelope))
    if event.get("type") == "ObjectEvent":
        return check_object_event(event)
    schema = _TRACK_SCHEMAS.get(event.get("metadata", {}).get("eventType", ""))
    if schema is None:
        raise LogisticsError("received event is neither DCSA Track & Trace nor EPCIS")
    validate(event, schema)
    return event
