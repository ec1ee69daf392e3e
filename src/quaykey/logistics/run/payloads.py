"""Real message bodies for the traffic profiles' message descriptors.

Each profile flow names an industry message type (``CUSDEC``, ``COARRI``, ``DCSA Reefer MEAS``,
...); :func:`sdk_type` maps it to the secure-messaging SDK's message type (which the policy
classifies) and :class:`PayloadFactory` builds the bytes with the project's own builders:
UN/EDIFACT from :mod:`quaykey.logistics.edifact` and :mod:`quaykey.logistics.terminal`,
DCSA JSON from :mod:`quaykey.logistics.dcsa`, the customs answer from
:func:`quaykey.logistics.customs.decide`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from quaykey.logistics.customs import decide
from quaykey.logistics.dcsa import EblParty, endorsement, issuance, transport_document
from quaykey.logistics.dcsa.events import equipment_event, reefer_measurement, shipment_event
from quaykey.logistics.edifact import build_baplie, build_cusdec
from quaykey.logistics.edifact.examples import (
    sample_bay_plan,
    sample_container_list,
    sample_declaration,
)
from quaykey.logistics.terminal import build_container_list

__all__ = ["PayloadFactory", "sdk_type"]

_EDI = ("BAPLIE", "COARRI", "CODECO", "COPRAR", "IFTSTA")

#: The eBL platform parties of the runs: the carrier issues, the holder endorses.
CARRIER = EblParty("Example Ocean Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
HOLDER = EblParty("Shanghai Export Trading Co.", "BOLE", "300300ABCDEF00000001")
BANK = EblParty("Rotterdam Trade Bank", "BOLE", "724500VKKSH9QOLTFR81")


def sdk_type(message_type: str) -> str:
    """The SDK message type (a policy key) of a profile flow's ``message_type``.

    Examples
    --------
    >>> sdk_type("CUSRES"), sdk_type("COARRI"), sdk_type("DCSA Reefer MEAS")
    ('customs_decision', 'edi', 'telemetry')
    """
    if message_type == "CUSDEC":
        return "customs_declaration"
    if message_type == "CUSRES":
        return "customs_decision"
    if message_type in _EDI:
        return "edi"
    if "eBL" in message_type:
        return "ebl_transfer"
    if "Reefer" in message_type or "IoT" in message_type:
        return "telemetry"
    return "event"


class PayloadFactory:
    """Builds one real message body per descriptor (references numbered per run).

    Parameters
    ----------
    hs_codes : Mapping of cargo class name -> HS codes
        From the profile's cargo classes; a declaration about a class carries its first code.
    """

    def __init__(self, hs_codes: dict[str, tuple[str, ...]]) -> None:
        self._hs = hs_codes
        self._n = 0
        self._decl = sample_declaration()
        self._doc = transport_document()
        self._chain: list[dict[str, Any]] = []
        self._edi = {t: build_container_list(sample_container_list(t)) for t in _EDI[1:4]}
        self._edi["BAPLIE"] = build_baplie(sample_bay_plan())

    def hs_for(self, cargo_class: str | None) -> tuple[str, ...]:
        """HS codes a message about ``cargo_class`` names (empty when none)."""
        codes = self._hs.get(cargo_class or "", ())
        return codes[:1]

    def cusdec(self, cargo_class: str | None) -> bytes:
        """A CUSDEC with a fresh reference; its first goods item about ``cargo_class``."""
        self._n += 1
        decl = replace(self._decl, reference=f"DEC2026{self._n:09d}")
        hs = self.hs_for(cargo_class)
        if hs:
            first = replace(decl.items[0], hs_code=hs[0].ljust(6, "0"))
            decl = replace(decl, items=(first, *decl.items[1:]))
        return build_cusdec(decl)

    def cusres(self, cusdec: bytes) -> bytes:
        """Customs' answer to ``cusdec`` (:func:`quaykey.logistics.customs.decide`)."""
        return decide(cusdec)

    def ebl_entry(self, at: dt.datetime) -> dict[str, Any]:
        """The next PINT transfer-chain entry of the run's bill (issue, then endorsements)."""
        if not self._chain:
            entry = issuance(self._doc, CARRIER, HOLDER, at)
        else:
            a, b = (HOLDER, BANK) if len(self._chain) % 2 else (BANK, HOLDER)
            entry = endorsement(self._doc, self._chain[-1], a, b, at)
        self._chain.append(entry)
        return entry

    def body(self, message_type: str, cargo_class: str | None, at: dt.datetime) -> bytes:
        """The bytes of one message of ``message_type`` (CUSDEC/eBL: see the methods)."""
        self._n += 1
        if message_type == "CUSDEC":
            return self.cusdec(cargo_class)
        if message_type == "CUSRES":
            return self.cusres(self.cusdec(cargo_class))
        if message_type in self._edi:
            return self._edi[message_type]
        if "eBL" in message_type:
            return _json(self.ebl_entry(at))
        if "Reefer" in message_type:
            temp = -18.0 + (self._n % 7) * 0.1
            return _json(
                reefer_measurement("MSKU9070323", at, temperature_c=temp, setpoint_c=-18.0)
            )
        if "T&T" in message_type or message_type == "IFTSTA":
            return _json(shipment_event("ISSU", "TRD", "SIPG0000001", at))
        return _json(equipment_event("LOAD", "MSKU9070323", at))


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
