"""DCSA event payloads: Track & Trace, Reefer MEAS and IoT door events (Event Domain 3.1.0).

Each builder returns one event object (``metadata`` + ``payload``) that validates against the
matching schema of the vendored DCSA Event Domain 3.1.0 (``equipmentEvent``, ``transportEvent``,
``shipmentEvent``, ``reeferEvent``, ``iotEvent``), the domain that DCSA Track & Trace 3.0
(Beta), Reefer 1.0.0-Beta-1 and IoT 1.0.0-Beta-1 share. A value the schema refuses raises
:class:`~quaykey.errors.DcsaValidationError` carrying the DCSA error object.

References
----------
DCSA, "Event Domain 3.1.0"; "Reefer 1.0.0-Beta-1" (``MEAS`` measurement events);
"IoT 1.0.0-Beta-1" (``DETC`` / ``DRO`` door-opened events); dcsaorg/DCSA-OpenAPI.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from quaykey.logistics.dcsa.schemas import validate

__all__ = [
    "Publisher",
    "VesselCall",
    "equipment_event",
    "iot_door_event",
    "reefer_measurement",
    "shipment_event",
    "transport_event",
]


@dataclass(frozen=True)
class Publisher:
    """Who publishes the event (``metadata.publisher``) and in what role (CA carrier, AG agent,
    VSP vessel operator, SVP service provider)."""

    name: str = "Example Ocean Carrier"
    carrier_code: str = "MSK"
    role: str = "CA"

    def as_dcsa(self) -> dict[str, Any]:
        """The DCSA ``publisher`` object."""
        return {
            "partyName": self.name,
            "carrierCode": self.carrier_code,
            "carrierCodeListProvider": "SMDG",
        }


@dataclass(frozen=True)
class VesselCall:
    """A vessel's call at a port (DCSA ``transportCall`` with ``modeOfTransport`` VESSEL)."""

    reference: str = "TC-CNSHA-2426W"
    un_location: str = "CNSHA"
    voyage: str = "2426W"
    vessel_name: str = "EXAMPLE STAR"
    vessel_imo: str = "9321483"

    def as_dcsa(self) -> dict[str, Any]:
        """The DCSA ``transportCall`` object."""
        return {
            "transportCallReference": self.reference,
            "modeOfTransport": "VESSEL",
            "location": {"locationType": "UNLO", "UNLocationCode": self.un_location},
            "facilityTypeCode": "POTE",
            "carrierExportVoyageNumber": self.voyage,
            "vessel": {"vesselIMONumber": self.vessel_imo, "name": self.vessel_name},
        }


def _time(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _event(
    schema: str,
    event_type: str,
    payload: dict[str, Any],
    at: dt.datetime,
    publisher: Publisher | None,
    event_id: str | None,
) -> dict[str, Any]:
    event = {
        "metadata": {
            "eventID": event_id or str(uuid.uuid4()),
            "eventCreatedDateTime": _time(at),
            "eventType": event_type,
            "publisher": (publisher or Publisher()).as_dcsa(),
            "publisherRole": (publisher or Publisher()).role,
        },
        "payload": {"eventClassifierCode": "ACT", "eventDateTime": _time(at), **payload},
    }
    validate(event, schema, request_uri="/v1/events")
    return event


def equipment_event(
    type_code: str,
    equipment_reference: str,
    at: dt.datetime,
    *,
    call: VesselCall | None = None,
    laden: bool = True,
    publisher: Publisher | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Track & Trace equipment event (``LOAD``, ``DISC``, ``GTIN``, ``GTOT``, ...).

    Examples
    --------
    >>> at = dt.datetime(2026, 12, 1, 6, 31, tzinfo=dt.UTC)
    >>> e = equipment_event("LOAD", "MSKU9070323", at)
    >>> e["metadata"]["eventType"], e["payload"]["equipmentEventTypeCode"]
    ('EQUIPMENT', 'LOAD')
    >>> equipment_event("LIFT", "MSKU9070323", at)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    quaykey.errors.DcsaValidationError: equipmentEvent: $.payload.equipmentEventTypeCode: 'LIFT' ...
    """
    payload = {
        "equipmentEventTypeCode": type_code,
        "equipmentReference": equipment_reference,
        "emptyIndicatorCode": "LADEN" if laden else "EMPTY",
        "transportCall": (call or VesselCall()).as_dcsa(),
    }
    return _event("equipmentEvent", "EQUIPMENT", payload, at, publisher, event_id)


def transport_event(
    type_code: str,
    at: dt.datetime,
    *,
    call: VesselCall | None = None,
    publisher: Publisher | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Track & Trace transport event (``ARRI`` arrival or ``DEPA`` departure of a vessel).

    Examples
    --------
    >>> e = transport_event("DEPA", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    >>> e["payload"]["transportCall"]["location"]["UNLocationCode"]
    'CNSHA'
    """
    payload = {
        "transportEventTypeCode": type_code,
        "transportCall": (call or VesselCall()).as_dcsa(),
    }
    return _event("transportEvent", "TRANSPORT", payload, at, publisher, event_id)


def shipment_event(
    type_code: str,
    document_type: str,
    document_reference: str,
    at: dt.datetime,
    *,
    publisher: Publisher | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Track & Trace shipment (document) event, e.g. ``ISSU`` of a ``TRD`` transport document.

    Examples
    --------
    >>> e = shipment_event("ISSU", "TRD", "SIPG0000001", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    >>> e["payload"]["documentReference"]
    'SIPG0000001'
    """
    payload = {
        "shipmentEventTypeCode": type_code,
        "documentTypeCode": document_type,
        "documentReference": document_reference,
    }
    return _event("shipmentEvent", "SHIPMENT", payload, at, publisher, event_id)


def _geo(latitude_deg: float, longitude_deg: float) -> dict[str, str]:
    # Location Domain geoLocation gives latitude/longitude as strings.
    return {"latitude": f"{latitude_deg:.5f}", "longitude": f"{longitude_deg:.5f}"}


def reefer_measurement(
    equipment_reference: str,
    at: dt.datetime,
    *,
    temperature_c: float,
    setpoint_c: float,
    humidity_pct: float | None = None,
    latitude_deg: float = 30.62850,
    longitude_deg: float = 122.06500,
    publisher: Publisher | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Reefer ``MEAS`` event: measured and set temperature of a refrigerated container.

    Examples
    --------
    >>> e = reefer_measurement("MSKU9070323", dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    ...                        temperature_c=-17.9, setpoint_c=-18.0)
    >>> e["payload"]["measurements"]
    {'temperature': -17.9, 'temperatureUnit': 'CEL'}
    """
    measured: dict[str, Any] = {"temperature": temperature_c, "temperatureUnit": "CEL"}
    if humidity_pct is not None:
        measured["humidity"] = humidity_pct
    payload = {
        "reeferEventTypeCode": "MEAS",
        "measurements": measured,
        "setpoints": {"temperature": setpoint_c, "temperatureUnit": "CEL"},
        "geoLocation": _geo(latitude_deg, longitude_deg),
        "equipmentReference": equipment_reference,
    }
    return _event("reeferEvent", "REEFER", payload, at, publisher, event_id)


def iot_door_event(
    equipment_reference: str,
    at: dt.datetime,
    *,
    latitude_deg: float = 30.62850,
    longitude_deg: float = 122.06500,
    publisher: Publisher | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An IoT ``DETC`` event with code ``DRO``: a container door was detected open.

    Examples
    --------
    >>> e = iot_door_event("MSKU9070323", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    >>> e["payload"]["iotEventTypeCode"], e["payload"]["iotEventCode"]
    ('DETC', 'DRO')
    """
    payload = {
        "iotEventTypeCode": "DETC",
        "iotEventCode": "DRO",
        "geoLocation": _geo(latitude_deg, longitude_deg),
        "equipmentReference": equipment_reference,
    }
    return _event("iotEvent", "IOT", payload, at, publisher, event_id)
