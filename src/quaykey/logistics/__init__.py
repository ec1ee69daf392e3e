"""Port and customs applications on top of the key layer.

Applications behave like real Secure Application Entities: they get key material only through
the KMS client (ETSI GS QKD 014) or a caller-supplied key source, and speak the industry's own
formats. :mod:`quaykey.logistics.dcsa` builds and validates DCSA JSON payloads (eBL 3.0.4,
PINT 3.0.0, Track & Trace events, Reefer and IoT events); :mod:`quaykey.logistics.ledger`
keeps a multi-party, append-only record of them with pairwise one-time MACs and signed tree
heads.
"""

from __future__ import annotations
