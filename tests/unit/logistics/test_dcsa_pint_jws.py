"""DCSA PINT 3.0.0 transfer-chain entries and envelope manifests as ES256 JWS."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from quaykey.errors import DcsaValidationError
from quaykey.logistics.dcsa import validate
from quaykey.logistics.dcsa.ebl import (
    EblParty,
    endorsement,
    issuance,
    surrender,
    transport_document,
)
from quaykey.logistics.dcsa.pint_jws import (
    sign_chain,
    sign_manifest,
    verify_signed_chain,
)

CARRIER = EblParty("Carrier", "BOLE", "5493001KJTIIGC8Y1R12")
SHIPPER = EblParty("Shipper", "WAVE", "529900T8BM49AURSDO55")
BANK = EblParty("Bank", "CARX", "7LTWFZYICNSX8D621K86")
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
KEYS = {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("bole", "wave", "carx")}
PUBLIC = {kid: k.public_key() for kid, k in KEYS.items()}


def _chain() -> tuple[dict, list[str], str]:
    doc = transport_document()
    e0 = issuance(doc, CARRIER, SHIPPER, T0)
    e1 = endorsement(doc, e0, SHIPPER, BANK, T0 + dt.timedelta(days=1))
    e2 = surrender(doc, e1, BANK, CARRIER, T0 + dt.timedelta(days=2))
    signers = [(KEYS["bole"], "bole"), (KEYS["wave"], "wave"), (KEYS["carx"], "carx")]
    chain = sign_chain([e0, e1, e2], signers)
    return doc, chain, sign_manifest(doc, chain, KEYS["carx"], "carx")


def _refused(code: str, field: str, *args) -> DcsaValidationError:
    with pytest.raises(DcsaValidationError) as exc:
        verify_signed_chain(*args)
    err = exc.value.error
    validate(err, "error")  # the DCSA Error Domain object
    assert err["errors"][0]["message"].startswith(code), err
    assert err["errors"][0]["field"] == field, err
    return exc.value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_signed_chain_and_manifest_verify() -> None:
    doc, chain, manifest = _chain()
    for s in chain:
        validate(s, "EnvelopeTransferChainEntrySignedContent")
        assert json.loads(base64.urlsafe_b64decode(s.split(".")[0] + "=="))["alg"] == "ES256"
    validate(manifest, "EnvelopeManifestSignedContent")
    entries = verify_signed_chain(doc, chain, PUBLIC, manifest)
    codes = [e["transactions"][0]["actionCode"] for e in entries]
    assert codes == ["ISSUE", "ENDORSE_TO_ORDER", "SURRENDER_FOR_DELIVERY"]


def test_a_tampered_entry_is_a_bad_signature() -> None:
    doc, chain, _ = _chain()
    head, payload, sig = chain[1].split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["transactions"][0]["recipient"]["partyName"] = "Someone Else"
    forged = ".".join([head, _b64(json.dumps(body).encode()), sig])
    err = _refused("BSIG", "$.envelopeTransferChain[1]", doc, [chain[0], forged, chain[2]],
                   PUBLIC)  # fmt: skip
    assert "does not verify" in str(err)


def test_unknown_keys_wrong_keys_and_other_algorithms_are_refused() -> None:
    doc, chain, _ = _chain()
    _refused("BSIG", "$.envelopeTransferChain[0]", doc, chain, {"wave": PUBLIC["wave"]})
    swapped = {"bole": PUBLIC["wave"], "wave": PUBLIC["wave"], "carx": PUBLIC["carx"]}
    _refused("BSIG", "$.envelopeTransferChain[0]", doc, chain, swapped)
    _, payload, _ = chain[0].split(".")
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'kid': 'bole'}).encode())}.{payload}.x"
    _refused("BSIG", "$.envelopeTransferChain[0]", doc, [unsigned, *chain[1:]], PUBLIC)
    _refused("BSIG", "$.envelopeTransferChain[2]", doc, [*chain[:2], "not.a-jws"], PUBLIC)


def test_reordered_or_missing_entries_and_a_stale_manifest_are_a_bad_envelope() -> None:
    doc, chain, manifest = _chain()
    _refused("BENV", "$.envelopeTransferChain[1]", doc, [chain[0], chain[2], chain[1]], PUBLIC)
    _refused("BENV", "$.envelopeTransferChain[1]", doc, [chain[0], chain[2]], PUBLIC)
    _refused("BENV", "$.envelopeTransferChain[0]", doc, chain[1:], PUBLIC)
    old_manifest = sign_manifest(doc, chain[:2], KEYS["wave"], "wave")
    _refused("BENV", "$.envelopeManifestSignedContent", doc, chain, PUBLIC, old_manifest)
    other = transport_document()
    other["transportDocumentReference"] = "SIPG0000002"
    _refused("BENV", "$.envelopeTransferChain[0]", other, chain, PUBLIC, manifest)


def test_entries_chained_by_their_plain_checksums_are_refused() -> None:
    """PINT chains the JWS strings, not the entries' canonical JSON."""
    doc = transport_document()
    e0 = issuance(doc, CARRIER, SHIPPER, T0)
    e1 = endorsement(doc, e0, SHIPPER, BANK, T0)  # previous = checksum of e0's JSON
    from quaykey.logistics.dcsa.pint_jws import _sign

    plain = [_sign(e0, KEYS["bole"], "bole"), _sign(e1, KEYS["wave"], "wave")]
    _refused("BENV", "$.envelopeTransferChain[1]", doc, plain, PUBLIC)
