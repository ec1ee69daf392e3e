"""A small multi-party ledger for the docs: an eBL issued, endorsed twice, and surrendered.

Five participants keep replicas: the carrier, the shipper, the consignee's bank, customs and
the terminal. The story, one ledger entry each, with a gossip round of signed heads after
every entry:

1. carrier  ``EBL_DOCUMENT``   the DCSA eBL 3.0.4 transport document (to order)
2. carrier  ``EBL_ISSUE``      PINT chain entry: ISSUE to the shipper
3. terminal ``TNT_EVENT``      equipment event LOAD at CNSHA
4. shipper  ``EBL_ENDORSE``    PINT chain entry: ENDORSE_TO_ORDER to the consignee's bank
5. terminal ``REEFER_EVENT``   reefer MEAS reading of the box
6. bank     ``EBL_ENDORSE``    PINT chain entry: ENDORSE to the consignee (bank releases title)
7. carrier  ``EBL_SURRENDER``  PINT chain entry: consignee surrenders for delivery

MAC keys come from an in-memory :class:`~quaykey.logistics.ledger.keys.SharedKeys` (the offline
stand-in for the QKD layer); signing keys are generated and not stored.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from quaykey.logistics.dcsa.ebl import (
    EblParty,
    endorsement,
    issuance,
    surrender,
    transport_document,
    verify_transfer_chain,
)
from quaykey.logistics.dcsa.events import equipment_event, reefer_measurement
from quaykey.logistics.ledger.keys import SharedKeys
from quaykey.logistics.ledger.ledger import Ledger

__all__ = ["PARTICIPANTS", "write_demo"]

PARTICIPANTS = ("carrier", "shipper", "bank", "customs", "terminal")

_CARRIER = EblParty("Example Ocean Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
_SHIPPER = EblParty("Shanghai Export Trading Co.", "BOLE", "300300ABCDEF00000001")
_BANK = EblParty("Rotterdam Trade Bank N.V.", "WAVE", "724500BANK0000000002")
_CONSIGNEE = EblParty("Rotterdam Fresh Imports B.V.", "WAVE", "724500ABCDEF12345678")


def write_demo(out: str | os.PathLike[str], start: dt.datetime | None = None) -> dict[str, Any]:
    """Write the demo ledger into the empty or new folder ``out``; return a summary.

    Raises
    ------
    ValueError
        If ``out`` already holds a ledger.

    Examples
    --------
    >>> import tempfile
    >>> summary = write_demo(tempfile.mkdtemp())
    >>> summary["entries"], summary["participants"]
    (7, ['bank', 'carrier', 'customs', 'shipper', 'terminal'])
    """
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"--out {folder} is not empty; pick a new folder")
    t0 = start or dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    shared = SharedKeys()
    ledger = Ledger(folder, "EBL-SIPG0000001", {n: shared.source(n) for n in PARTICIPANTS})
    try:
        doc = transport_document()
        chain = [issuance(doc, _CARRIER, _SHIPPER, t0)]
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("carrier", "EBL_DOCUMENT", doc),
            ("carrier", "EBL_ISSUE", chain[0]),
            ("terminal", "TNT_EVENT", equipment_event("LOAD", "MSKU9070323", t0)),
        ]
        chain.append(endorsement(doc, chain[-1], _SHIPPER, _BANK, t0 + dt.timedelta(days=2)))
        steps.append(("shipper", "EBL_ENDORSE", chain[-1]))
        reading = reefer_measurement(
            "MSKU9070323", t0 + dt.timedelta(days=3), temperature_c=-17.9, setpoint_c=-18.0
        )
        steps.append(("terminal", "REEFER_EVENT", reading))
        t_bank = t0 + dt.timedelta(days=30)
        chain.append(endorsement(doc, chain[-1], _BANK, _CONSIGNEE, t_bank, to_order=False))
        steps.append(("bank", "EBL_ENDORSE", chain[-1]))
        chain.append(surrender(doc, chain[-1], _CONSIGNEE, _CARRIER, t0 + dt.timedelta(days=36)))
        steps.append(("carrier", "EBL_SURRENDER", chain[-1]))
        verify_transfer_chain(doc, chain)
        for i, (author, kind, document) in enumerate(steps):
            at = t0 + dt.timedelta(hours=i)
            ledger.record(author, kind, document, at=at)
            ledger.gossip(at=at)
        return {
            "out": str(folder),
            "ledgerId": ledger.ledger_id,
            "participants": ledger.participants,
            "entries": len(steps),
            "root": ledger.replicas["carrier"].root().hex(),
            "keyIdsUsed": len(shared.issued_ids),
        }
    finally:
        ledger.close()
