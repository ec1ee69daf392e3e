"""Ledger entries: RFC 8785 canonical JSON, hash-chained, with pairwise one-time MACs.

An entry is ``{"body": {...}, "macs": [...]}`` stored as its RFC 8785 canonical bytes (one
Merkle leaf). The body holds::

    index                  1-based position in the log (the Merkle leaf index)
    ledgerId               which ledger
    author                 participant that wrote it
    recordType             e.g. EBL_ISSUE, EBL_ENDORSE, EBL_SURRENDER, TNT_EVENT
    recordedAt             RFC 3339 UTC time
    document               the DCSA payload (transport document, chain entry, event)
    documentChecksum       SHA-256 of the document's RFC 8785 form (the DCSA checksum)
    previousEntryChecksum  SHA-256 of the previous entry's stored bytes (64 zeros for entry 1)

``macs`` holds one record per other participant: ``{"to", "keyId", "tag"}``. The tag is a
:class:`~quaykey.mac.OneTimeMac` (Wegman–Carter, 32-byte one-time key) over the canonical
body, keyed with QKD key the author shares with ``to``; only the key ID is recorded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from quaykey.errors import AuthenticationError, KeyNotFoundError, LedgerIntegrityError
from quaykey.logistics.dcsa.canonical import canonical_json, checksum, sha256_hex
from quaykey.logistics.ledger.keys import KeySource
from quaykey.mac import ONE_TIME_KEY_BYTES, OneTimeMac

__all__ = [
    "GENESIS",
    "make_body",
    "parse_entry",
    "seal",
    "verify_mac",
]

GENESIS = "0" * 64
_BODY_FIELDS = {
    "index",
    "ledgerId",
    "author",
    "recordType",
    "recordedAt",
    "document",
    "documentChecksum",
    "previousEntryChecksum",
}


def make_body(
    *,
    index: int,
    ledger_id: str,
    author: str,
    record_type: str,
    document: dict[str, Any],
    previous: bytes | None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The body of entry ``index``, chained to the stored bytes ``previous`` of entry ``index-1``.

    Examples
    --------
    >>> b = make_body(index=1, ledger_id="L", author="carrier", record_type="NOTE",
    ...               document={"x": 1}, previous=None,
    ...               at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    >>> b["previousEntryChecksum"] == GENESIS, b["recordedAt"]
    (True, '2026-12-01T00:00:00.000Z')
    """
    if index < 1:
        raise ValueError("index must be >= 1")
    if (index == 1) != (previous is None):
        raise ValueError("previous must be None exactly for the first entry")
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "index": index,
        "ledgerId": ledger_id,
        "author": author,
        "recordType": record_type,
        "recordedAt": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "document": document,
        "documentChecksum": checksum(document),
        "previousEntryChecksum": GENESIS if previous is None else sha256_hex(previous),
    }


def seal(body: dict[str, Any], peers: Iterable[str], keys: KeySource) -> bytes:
    """Tag ``body`` for every peer with fresh one-time keys; return the entry's stored bytes.

    Parameters
    ----------
    body
        From :func:`make_body`.
    peers
        Every participant other than the author.
    keys
        The author's key source; one :data:`~quaykey.mac.ONE_TIME_KEY_BYTES` key per peer.

    Examples
    --------
    >>> from quaykey.logistics.ledger.keys import SharedKeys
    >>> shared = SharedKeys()
    >>> body = make_body(index=1, ledger_id="L", author="carrier", record_type="NOTE",
    ...                  document={"x": 1}, previous=None)
    >>> raw = seal(body, ["bank"], shared.source("carrier"))
    >>> verify_mac(parse_entry(raw), "bank", shared.source("bank"))
    """
    message = canonical_json(body)
    macs = []
    for peer in sorted(set(peers)):
        key_id, key = keys.take(peer, ONE_TIME_KEY_BYTES)
        macs.append({"to": peer, "keyId": key_id, "tag": OneTimeMac(key).tag(message).hex()})
    return canonical_json({"body": body, "macs": macs})


def parse_entry(raw: bytes, index: int | None = None) -> dict[str, Any]:
    """Decode stored entry bytes, insisting on the exact canonical form and shape.

    Raises
    ------
    LedgerIntegrityError
        If the bytes are not JSON, not canonical, or lack a field; ``index`` is reported.

    Examples
    --------
    >>> parse_entry(b'{"body": {}}', index=3)
    Traceback (most recent call last):
    ...
    quaykey.errors.LedgerIntegrityError: entry 3: not in RFC 8785 canonical form
    """
    where = f"entry {index}" if index is not None else "entry"
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LedgerIntegrityError(f"{where}: not JSON", index) from None
    if canonical_json(entry) != raw:
        raise LedgerIntegrityError(f"{where}: not in RFC 8785 canonical form", index)
    body = entry.get("body") if isinstance(entry, dict) else None
    if not isinstance(body, dict) or set(body) != _BODY_FIELDS:
        raise LedgerIntegrityError(f"{where}: body fields missing or unexpected", index)
    if not isinstance(entry.get("macs"), list):
        raise LedgerIntegrityError(f"{where}: macs missing", index)
    return entry


def verify_mac(entry: dict[str, Any], me: str, keys: KeySource) -> None:
    """Check the author's tag addressed to ``me``, collecting the key once by its key ID.

    Raises
    ------
    AuthenticationError
        If no tag is addressed to ``me``, its key ID is unknown or already used, or the tag
        does not verify (the entry was altered or did not come from the author).
    """
    body = entry["body"]
    index, author = body["index"], body["author"]
    mine = [m for m in entry["macs"] if m.get("to") == me]
    if len(mine) != 1:
        raise AuthenticationError(f"entry {index}: no single tag from {author} to {me}")
    try:
        key = keys.lookup(author, mine[0]["keyId"])
    except KeyNotFoundError:
        raise AuthenticationError(
            f"entry {index}: key ID {mine[0]['keyId']} from {author} is unknown or already used"
        ) from None
    try:
        tag = bytes.fromhex(mine[0]["tag"])
    except (TypeError, ValueError):
        raise AuthenticationError(f"entry {index}: tag is not hex") from None
    OneTimeMac(key).verify(canonical_json(body), tag, what=f"entry {index} from {author}")
