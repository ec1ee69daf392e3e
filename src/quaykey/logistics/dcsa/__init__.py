"""DCSA JSON payloads: build, checksum, and validate against DCSA's published schemas.

- :mod:`~quaykey.logistics.dcsa.canonical`: RFC 8785 canonical JSON and the DCSA checksum.
- :mod:`~quaykey.logistics.dcsa.schemas`: offline validation against the vendored DCSA OpenAPI
  files (``specs/``), failures as DCSA error objects.
- :mod:`~quaykey.logistics.dcsa.ebl`: eBL 3.0.4 transport documents and PINT 3.0.0 transfer
  chains (issuance, endorsement, surrender).
- :mod:`~quaykey.logistics.dcsa.events`: Track & Trace, Reefer and IoT events (Event Domain
  3.1.0).
"""

from __future__ import annotations

from quaykey.logistics.dcsa.canonical import canonical_json, checksum, sha256_hex
from quaykey.logistics.dcsa.ebl import (
    BillFacts,
    EblParty,
    endorsement,
    issuance,
    surrender,
    transaction,
    transport_document,
    verify_transfer_chain,
)
from quaykey.logistics.dcsa.events import (
    Publisher,
    VesselCall,
    equipment_event,
    iot_door_event,
    reefer_measurement,
    shipment_event,
    transport_event,
)
from quaykey.logistics.dcsa.schemas import SCHEMAS, check, error_object, validate

__all__ = [
    "SCHEMAS",
    "BillFacts",
    "EblParty",
    "Publisher",
    "VesselCall",
    "canonical_json",
    "check",
    "checksum",
    "endorsement",
    "equipment_event",
    "error_object",
    "iot_door_event",
    "issuance",
    "reefer_measurement",
    "sha256_hex",
    "shipment_event",
    "surrender",
    "transaction",
    "transport_document",
    "transport_event",
    "validate",
    "verify_transfer_chain",
]
