"""DCSA PINT 3.0.0 signed content: transfer-chain entries and envelope manifests as JWS.

In EBL_PINT v3.0.0 an ``EblEnvelope`` carries ``envelopeTransferChain``, a list of
``EnvelopeTransferChainEntrySignedContent``, and ``envelopeManifestSignedContent``
(``EnvelopeManifestSignedContent``): each is "JWS content with compact serialization
according to RFC 7515" whose payload is an ``EnvelopeTransferChainEntry`` or an
``EnvelopeManifest``. The chain is a hash chain over the signed strings: an entry's
``previousEnvelopeTransferChainEntrySignedContentChecksum`` is the SHA-256 (RFC 6234) of the
previous entry's JWS string, and the manifest's
``lastEnvelopeTransferChainEntrySignedContentChecksum`` is that of the last one, with its
``transportDocumentChecksum`` the SHA-256 of the document's RFC 8785 canonical form.

Signatures are ES256 (ECDSA P-256 with SHA-256, RFC 7518 section 3.4) with keys from
pyca/cryptography, through joserfc; the JWS protected header names the algorithm and the
signing platform's key (``kid``). A receiver verifies with the public keys it holds per
``kid`` and accepts only ES256 (no ``none``, no algorithm named by the sender alone).

Refusals raise :class:`~quaykey.errors.DcsaValidationError` with a DCSA Error Domain 2.0.0
error object naming the entry (``$.envelopeTransferChain[i]`` or
``$.envelopeManifestSignedContent``) and, as PINT's ``EnvelopeTransferFinishedResponse``
would, the response code in the message: ``BSIG`` for a signature that does not verify, an
unknown key or a malformed JWS, ``BENV`` for a chain or manifest that verifies but is wrong
(checksums, order, first transaction not ``ISSUE``).

What this adds to the ledger's one-time MACs (:mod:`quaykey.logistics.ledger`): a MAC
convinces only the party holding the same key; a platform's signature convinces any third
party holding its public key (non-repudiation of each title transfer).

References
----------
DCSA, "EBL_PINT v3.0.0", schemas ``EblEnvelope``, ``EnvelopeTransferChainEntrySignedContent``,
``EnvelopeManifestSignedContent``, ``EnvelopeManifest``, ``EnvelopeTransferFinishedResponse``
(response codes ``BSIG``, ``BENV``). RFC 7515 (JWS), RFC 7518 (JWA, ES256), RFC 8785, RFC 6234.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from quaykey.errors import DcsaValidationError
from quaykey.logistics.dcsa.canonical import canonical_json, checksum, sha256_hex
from quaykey.logistics.dcsa.ebl import PREVIOUS_CHECKSUM, check_chain_entries
from quaykey.logistics.dcsa.schemas import error_object, validate

__all__ = [
    "ALGORITHM",
    "sign_chain",
    "sign_entry",
    "sign_manifest",
    "verify_signed_chain",
]

#: The one JWS algorithm signed and accepted.
ALGORITHM = "ES256"
_URI = "/v3/envelopes"


def _sign(payload: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the signing key must be an EC P-256 private key (ES256)")
    header = {"alg": ALGORITHM, "kid": kid}
    return str(jws.serialize_compact(header, canonical_json(payload), ECKey.import_key(key)))


def sign_entry(
    entry: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str, previous: str | None
) -> str:
    """``entry`` as ``EnvelopeTransferChainEntrySignedContent``, chained to ``previous``.

    ``previousEnvelopeTransferChainEntrySignedContentChecksum`` is set to the SHA-256 of the
    ``previous`` JWS string (removed for the first entry), then the entry is validated
    against the PINT schema and signed.
    """
    body = {k: v for k, v in entry.items() if k != PREVIOUS_CHECKSUM}
    if previous is not None:
        body[PREVIOUS_CHECKSUM] = sha256_hex(previous.encode("ascii"))
    validate(body, "EnvelopeTransferChainEntry", request_uri=_URI)
    return _sign(body, key, kid)


def sign_chain(
    entries: list[dict[str, Any]], signers: list[tuple[ec.EllipticCurvePrivateKey, str]]
) -> list[str]:
    """Sign a transfer chain, entry ``i`` by ``signers[i]`` (key, kid), each chained to the last.

    Examples
    --------
    >>> import datetime as dt
    >>> from quaykey.logistics.dcsa.ebl import EblParty, issuance, transport_document
    >>> carrier = EblParty("Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
    >>> shipper = EblParty("Shipper", "BOLE", "529900T8BM49AURSDO55")
    >>> doc = transport_document()
    >>> key = ec.generate_private_key(ec.SECP256R1())
    >>> chain = sign_chain([issuance(doc, carrier, shipper, dt.datetime.now(dt.UTC))],
    ...                    [(key, "bole-1")])
    >>> verify_signed_chain(doc, chain, {"bole-1": key.public_key()})[0]["eblPlatform"]
    'BOLE'
    """
    if len(entries) != len(signers):
        raise ValueError("one signer per entry")
    out: list[str] = []
    for entry, (key, kid) in zip(entries, signers, strict=True):
        out.append(sign_entry(entry, key, kid, out[-1] if out else None))
    return out


def sign_manifest(
    document: dict[str, Any], chain: list[str], key: ec.EllipticCurvePrivateKey, kid: str
) -> str:
    """The ``envelopeManifestSignedContent`` for ``document`` and its signed ``chain``."""
    if not chain:
        raise ValueError("the chain must hold at least one signed entry")
    manifest = {
        "transportDocumentChecksum": checksum(document),
        "lastEnvelopeTransferChainEntrySignedContentChecksum": sha256_hex(chain[-1].encode()),
    }
    validate(manifest, "EnvelopeManifest", request_uri=_URI)
    return _sign(manifest, key, kid)


def _refusal(field: str, code: str, message: str) -> DcsaValidationError:
    detail = {
        "errorCode": 7003,
        "field": field[:50],
        "reason": "invalidSignature" if code == "BSIG" else "invalidData",
        "message": f"{code}: {message}"[:200],
    }
    error = error_object([detail], request_uri=_URI)
    return DcsaValidationError(f"{field}: {code}: {message}", error)


def _open(value: Any, keys: Mapping[str, ec.EllipticCurvePublicKey], field: str) -> dict[str, Any]:
    """Verify one JWS and return its JSON payload (``BSIG`` when it does not verify)."""
    if not isinstance(value, str):
        raise _refusal(field, "BSIG", "not a JWS compact serialization")
    try:
        protected = jws.extract_compact(value.encode("ascii")).protected
    except (JoseError, UnicodeError, ValueError) as exc:
        raise _refusal(field, "BSIG", f"malformed JWS ({type(exc).__name__})") from None
    if protected.get("alg") != ALGORITHM:
        raise _refusal(field, "BSIG", f"algorithm {protected.get('alg')!r} is not {ALGORITHM}")
    kid = protected.get("kid")
    public = keys.get(kid) if isinstance(kid, str) else None
    if public is None:
        raise _refusal(field, "BSIG", f"signed by an unknown key {kid!r}")
    try:
        obj = jws.deserialize_compact(value, ECKey.import_key(public), algorithms=[ALGORITHM])
        payload = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise _refusal(field, "BSIG", f"signature does not verify ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise _refusal(field, "BENV", "the signed payload is not a JSON object")
    return payload


def verify_signed_chain(
    document: dict[str, Any],
    chain: list[str],
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    manifest: str | None = None,
) -> list[dict[str, Any]]:
    """Verify a signed transfer chain (and its manifest) as a PINT receiver does.

    Every entry's signature (ES256, by a key of ``keys``), then the chain: each entry valid
    against the schema, about ``document``, chained by the SHA-256 of the previous JWS
    string, starting with ``ISSUE``, nothing after an accepted surrender; the manifest
    signed, about ``document``, naming the last entry. Returns the entries' payloads.

    Raises
    ------
    DcsaValidationError
        With the DCSA error object; ``BSIG`` or ``BENV`` in the message (module docstring).
    """
    if not chain:
        raise _refusal("$.envelopeTransferChain", "BENV", "the chain is empty")
    entries = [_open(s, keys, f"$.envelopeTransferChain[{i}]") for i, s in enumerate(chain)]
    expected = [None] + [sha256_hex(s.encode("ascii")) for s in chain[:-1]]
    try:
        check_chain_entries(document, entries, expected)
    except DcsaValidationError as exc:
        detail = exc.error["errors"][0]
        field = detail.get("field", "$.envelopeTransferChain")
        raise _refusal(field, "BENV", detail.get("message", str(exc))) from None
    if manifest is not None:
        field = "$.envelopeManifestSignedContent"
        got = _open(manifest, keys, field)
        if got.get("transportDocumentChecksum") != checksum(document):
            raise _refusal(field, "BENV", "transportDocumentChecksum does not match the document")
        if got.get("lastEnvelopeTransferChainEntrySignedContentChecksum") != sha256_hex(
            chain[-1].encode("ascii")
        ):
            raise _refusal(field, "BENV", "does not name the last entry of the chain")
    return entries
