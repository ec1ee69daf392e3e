"""RFC 8785 canonical JSON and the DCSA document checksum.

DCSA eBL 3.0.4 and PINT 3.0.0 define a document's checksum as the SHA-256 (RFC 6234) of its
RFC 8785 (JSON Canonicalization Scheme) form, written as 64 lower-case hex digits. The ledger
uses the same canonical form for its entries, so one byte string means one record.

References
----------
Rundgren, Jordan, Erdtman, "JSON Canonicalization Scheme (JCS)", RFC 8785 (2020).
DCSA, "EBL_PINT v3.0.0", schema ``DocumentChecksum``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["canonical_json", "checksum", "sha256_hex"]


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` in RFC 8785 canonical form (UTF-8 bytes).

    Raises
    ------
    ValueError
        If ``obj`` holds something JSON cannot carry (NaN, a set, bytes, ...).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [True, None, "é"]})
    b'{"a":[true,null,"\\xc3\\xa9"],"b":1}'
    """
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lower-case hex digits.

    Examples
    --------
    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def checksum(obj: Any) -> str:
    """DCSA checksum of a JSON document: SHA-256 of its RFC 8785 canonical form.

    Key order and insignificant whitespace do not change it; any value does.

    Examples
    --------
    >>> checksum({"a": 1, "b": 2}) == checksum({"b": 2, "a": 1})
    True
    >>> checksum({"a": 1}) == checksum({"a": 2})
    False
    """
    return sha256_hex(canonical_json(obj))
