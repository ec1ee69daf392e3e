"""Authenticated trade records: a multi-party, append-only ledger on QKD keys.

Every participant (carrier, shipper, consignee's bank, customs, terminal) keeps a replica: an
RFC 9162 Merkle tree log of RFC 8785 canonical JSON entries. Each entry carries one
information-theoretic one-time MAC per other participant, keyed with QKD key that pair shares
(key IDs recorded, never key bytes). Participants sign their tree heads with ML-DSA-65
(FIPS 204) and gossip them, so an edited, deleted or reordered entry, or a participant showing
two histories, is detected, online (:class:`Replica`) or offline (:func:`audit`).

What each mechanism proves is set out in docs/apps.md ("Trade records and the ledger").
"""

from __future__ import annotations

from quaykey.logistics.ledger.audit import AuditReport, Finding, audit
from quaykey.logistics.ledger.entry import make_body, parse_entry, seal, verify_mac
from quaykey.logistics.ledger.heads import load_public_key, public_key_b64, sign_head, verify_head
from quaykey.logistics.ledger.keys import InMemoryKeySource, KeySource, SharedKeys
from quaykey.logistics.ledger.ledger import Ledger, read_manifest
from quaykey.logistics.ledger.replica import Replica

__all__ = [
    "AuditReport",
    "Finding",
    "InMemoryKeySource",
    "KeySource",
    "Ledger",
    "Replica",
    "SharedKeys",
    "audit",
    "load_public_key",
    "make_body",
    "parse_entry",
    "public_key_b64",
    "read_manifest",
    "seal",
    "sign_head",
    "verify_head",
    "verify_mac",
]
