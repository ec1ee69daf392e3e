"""Signed tree heads: a participant's signed statement "my log has N entries and this root".

A head (after RFC 9162 Sec. 4.10, ``SignedTreeHead``) is the canonical JSON object::

    {"ledgerId", "signer", "treeSize", "rootHash" (hex), "timestamp" (ms since epoch),
     "signature" (base64 ML-DSA-65 over the other fields' RFC 8785 bytes)}

Participants gossip their heads to each other. Because the log is append-only, two honest heads
from any signer must be consistent (RFC 9162 Sec. 2.1.4); two heads of one signer that no single
history explains prove that the signer showed different histories to different parties
(equivocation), and the two signed heads are evidence a third party can check.

The signature is ML-DSA-65 (FIPS 204), with the context string ``quaykey-ledger-sth-v1`` so a
head signature can never be replayed as a signature on anything else.

References
----------
Laurie, Messeri, Stradling, "Certificate Transparency Version 2.0", RFC 9162 (2021), Secs. 2.1,
4.10. NIST, "Module-Lattice-Based Digital Signature Standard", FIPS 204 (2024).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey, MLDSA65PublicKey

from quaykey.errors import LedgerIntegrityError
from quaykey.logistics.dcsa.canonical import canonical_json

__all__ = [
    "CONTEXT",
    "load_public_key",
    "public_key_b64",
    "sign_head",
    "verify_head",
]

CONTEXT = b"quaykey-ledger-sth-v1"
_FIELDS = ("ledgerId", "signer", "treeSize", "rootHash", "timestamp")


def public_key_b64(key: MLDSA65PrivateKey | MLDSA65PublicKey) -> str:
    """The raw ML-DSA-65 public key (1952 bytes), base64.

    Examples
    --------
    >>> len(base64.b64decode(public_key_b64(MLDSA65PrivateKey.generate())))
    1952
    """
    pub = key.public_key() if isinstance(key, MLDSA65PrivateKey) else key
    return base64.b64encode(pub.public_bytes_raw()).decode("ascii")


def load_public_key(text: str) -> MLDSA65PublicKey:
    """Inverse of :func:`public_key_b64`.

    Raises
    ------
    ValueError
        If ``text`` is not a base64 ML-DSA-65 public key.
    """
    try:
        return MLDSA65PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("public key must be a base64 ML-DSA-65 public key") from None


def sign_head(
    key: MLDSA65PrivateKey,
    *,
    ledger_id: str,
    signer: str,
    tree_size: int,
    root_hash: bytes,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Sign a tree head.

    Examples
    --------
    >>> k = MLDSA65PrivateKey.generate()
    >>> h = sign_head(k, ledger_id="L", signer="carrier", tree_size=1, root_hash=bytes(32))
    >>> verify_head(h, k.public_key())
    >>> verify_head({**h, "treeSize": 2}, k.public_key())
    Traceback (most recent call last):
    ...
    quaykey.errors.LedgerIntegrityError: tree head of carrier at size 2: signature does not verify
    """
    if tree_size < 0:
        raise ValueError("tree_size must be >= 0")
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    when = at or dt.datetime.now(dt.UTC)
    head: dict[str, Any] = {
        "ledgerId": ledger_id,
        "signer": signer,
        "treeSize": tree_size,
        "rootHash": root_hash.hex(),
        "timestamp": int(when.timestamp() * 1000),
    }
    signature = key.sign(canonical_json(head), CONTEXT)
    return {**head, "signature": base64.b64encode(signature).decode("ascii")}


def verify_head(head: dict[str, Any], public_key: MLDSA65PublicKey) -> None:
    """Check a head's shape and ML-DSA-65 signature.

    Raises
    ------
    LedgerIntegrityError
        If a field is missing or the signature does not verify.
    """
    try:
        signed = {f: head[f] for f in _FIELDS}
        signature = base64.b64decode(head["signature"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise LedgerIntegrityError("tree head: fields missing or malformed") from None
    what = f"tree head of {head['signer']} at size {head['treeSize']}"
    try:
        public_key.verify(signature, canonical_json(signed), CONTEXT)
    except InvalidSignature:
        raise LedgerIntegrityError(f"{what}: signature does not verify") from None
