"""The ledger's security invariants: MACs, key IDs, chain, signed heads, equivocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey

from quaykey.errors import (
    AuthenticationError,
    EquivocationError,
    KeyNotFoundError,
    LedgerIntegrityError,
)
from quaykey.logistics.dcsa.canonical import canonical_json
from quaykey.logistics.ledger import (
    KeySource,
    Ledger,
    Replica,
    SharedKeys,
    make_body,
    parse_entry,
    seal,
    verify_mac,
)

NAMES = ("carrier", "shipper", "bank")


def _entry(shared: SharedKeys, index: int = 1, previous: bytes | None = None) -> bytes:
    body = make_body(index=index, ledger_id="L", author="carrier", record_type="NOTE",
                     document={"n": index}, previous=previous)  # fmt: skip
    return seal(body, ["shipper", "bank"], shared.source("carrier"))


def test_in_memory_source_satisfies_the_protocol() -> None:
    assert isinstance(SharedKeys().source("carrier"), KeySource)


def test_mac_verifies_for_each_addressee_and_records_only_key_ids() -> None:
    shared = SharedKeys()
    raw = _entry(shared)
    entry = parse_entry(raw)
    assert {m["to"] for m in entry["macs"]} == {"shipper", "bank"}
    verify_mac(entry, "shipper", shared.source("shipper"))
    verify_mac(entry, "bank", shared.source("bank"))
    # Only key IDs (UUIDs) and 16-byte tags are stored: no 32-byte key appears.
    assert all(set(m) == {"to", "keyId", "tag"} and len(m["tag"]) == 32 for m in entry["macs"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("document", {"n": 2}), ("recordType", "FORGED"), ("index", 7),
     ("previousEntryChecksum", "f" * 64), ("recordedAt", "2030-01-01T00:00:00.000Z")],
)  # fmt: skip
def test_mac_rejects_a_tampered_entry(field: str, value: object) -> None:
    shared = SharedKeys()
    entry = parse_entry(_entry(shared))
    entry["body"][field] = value
    with pytest.raises(AuthenticationError, match="tag does not verify"):
        verify_mac(entry, "shipper", shared.source("shipper"))


def test_mac_rejects_a_tag_from_the_wrong_key() -> None:
    shared = SharedKeys()
    entry = parse_entry(_entry(shared))
    other = parse_entry(_entry(shared))
    mine = next(m for m in entry["macs"] if m["to"] == "shipper")
    mine["keyId"] = next(m for m in other["macs"] if m["to"] == "shipper")["keyId"]
    with pytest.raises(AuthenticationError):
        verify_mac(entry, "shipper", shared.source("shipper"))


def test_a_key_id_is_delivered_once_and_never_issued_twice() -> None:
    shared = SharedKeys()
    carrier, shipper = shared.source("carrier"), shared.source("shipper")
    ids = [carrier.take("shipper", 32)[0] for _ in range(200)]
    assert len(set(ids)) == len(ids)
    shipper.lookup("carrier", ids[0])
    with pytest.raises(KeyNotFoundError):
        shipper.lookup("carrier", ids[0])
    # A third party cannot collect a pair's key.
    with pytest.raises(KeyNotFoundError):
        shared.source("bank").lookup("carrier", ids[1])


def test_a_replayed_key_id_is_an_authentication_failure() -> None:
    shared = SharedKeys()
    entry = parse_entry(_entry(shared))
    verify_mac(entry, "shipper", shared.source("shipper"))
    with pytest.raises(AuthenticationError, match="unknown or already used"):
        verify_mac(entry, "shipper", shared.source("shipper"))


def test_replica_refuses_an_entry_that_reuses_a_key_id(tmp_path: Path) -> None:
    shared = SharedKeys()
    rep = Replica(tmp_path, "carrier", ledger_id="L")
    first = _entry(shared)
    rep.receive(first, shared.source("carrier"))
    # A second entry whose MAC records carry the first entry's key IDs.
    second = parse_entry(_entry(shared, 2, first))
    second["macs"] = parse_entry(first)["macs"]
    with pytest.raises(AuthenticationError, match="key ID was used before"):
        rep.receive(canonical_json(second), shared.source("carrier"))
    assert rep.size == 1


def test_replica_refuses_out_of_order_and_unchained_entries(tmp_path: Path) -> None:
    shared = SharedKeys()
    rep = Replica(tmp_path, "shipper", ledger_id="L")
    first = _entry(shared)
    with pytest.raises(LedgerIntegrityError, match="claims index 2, next is 1"):
        rep.receive(_entry(shared, 2, first), shared.source("shipper"))
    rep.receive(first, shared.source("shipper"))
    with pytest.raises(LedgerIntegrityError, match="does not chain to entry 1"):
        rep.receive(_entry(shared, 2, b"something else"), shared.source("shipper"))
    assert rep.size == 1


def test_replica_refuses_non_canonical_bytes(tmp_path: Path) -> None:
    shared = SharedKeys()
    rep = Replica(tmp_path, "shipper", ledger_id="L")
    pretty = json.dumps(json.loads(_entry(shared)), indent=2).encode()
    with pytest.raises(LedgerIntegrityError, match="canonical"):
        rep.receive(pretty, shared.source("shipper"))


def _ledger(folder: Path) -> tuple[Ledger, SharedKeys]:
    shared = SharedKeys()
    return Ledger(folder, "EBL-1", {n: shared.source(n) for n in NAMES}), shared


def test_ledger_reopens_with_its_keys_and_refuses_others(tmp_path: Path) -> None:
    shared = SharedKeys()
    signing = {n: MLDSA65PrivateKey.generate() for n in NAMES}
    sources = {n: shared.source(n) for n in NAMES}
    led = Ledger(tmp_path, "EBL-1", sources, signing)
    led.record("carrier", "NOTE", {"n": 1})
    led.close()
    again = Ledger(tmp_path, "EBL-1", sources, signing)
    assert again.record("bank", "NOTE", {"n": 2}) == 2
    again.close()
    with pytest.raises(ValueError, match="other participants or keys"):
        Ledger(tmp_path, "EBL-1", sources)  # fresh signing keys
    with pytest.raises(ValueError, match="other participants or keys"):
        Ledger(tmp_path, "EBL-2", sources, signing)


def test_record_is_all_or_nothing_when_a_replica_refuses(tmp_path: Path) -> None:
    led, shared = _ledger(tmp_path)
    led.record("carrier", "NOTE", {"n": 1})

    class Refusing:
        def take(self, peer: str, n_bytes: int) -> tuple[str, bytes]:
            return shared.source("bank").take(peer, n_bytes)

        def lookup(self, peer: str, key_id: str) -> bytes:
            return bytes(32)  # the wrong key: the tag cannot verify

    led._keys["bank"] = Refusing()
    with pytest.raises(AuthenticationError):
        led.record("shipper", "NOTE", {"n": 2})
    assert {r.size for r in led.replicas.values()} == {1}
    led.close()


def test_gossip_accepts_consistent_heads_and_rejects_a_forged_signature(tmp_path: Path) -> None:
    led, _ = _ledger(tmp_path)
    led.record("carrier", "NOTE", {"n": 1})
    heads = led.gossip()
    assert len({h["rootHash"] for h in heads}) == 1
    assert len(led.replicas["bank"].received_heads) == 2
    forged = {**heads[0], "rootHash": "00" * 32}
    with pytest.raises(LedgerIntegrityError, match="signature does not verify"):
        led.replicas["bank"].accept_head(forged, led.public_keys[heads[0]["signer"]])
    led.close()


def test_inclusion_and_consistency_proofs_verify(tmp_path: Path) -> None:
    import hashlib

    from pymerkle import InvalidProof, verify_consistency, verify_inclusion

    led, _ = _ledger(tmp_path)
    for i in range(5):
        led.record(NAMES[i % 3], "NOTE", {"n": i})
    rep = led.replicas["bank"]
    assert rep.leaf(3) == hashlib.sha256(b"\x00" + rep.raw(3)).digest()
    verify_inclusion(rep.leaf(3), rep.root(5), rep.prove_inclusion(3, 5))
    verify_consistency(rep.root(2), rep.root(5), rep.prove_consistency(2, 5))
    with pytest.raises(InvalidProof):
        verify_inclusion(rep.leaf(4), rep.root(5), rep.prove_inclusion(3, 5))
    with pytest.raises(InvalidProof):
        verify_consistency(rep.root(3), rep.root(5), rep.prove_consistency(2, 5))
    led.close()


def test_a_head_ahead_of_the_replica_is_checked_once_the_replica_catches_up(
    tmp_path: Path,
) -> None:
    shared = SharedKeys()
    key = MLDSA65PrivateKey.generate()
    carrier = Replica(tmp_path / "c", "carrier", ledger_id="L", signing_key=key)
    bank = Replica(tmp_path, "bank", ledger_id="L")
    first = _entry(shared)
    for rep in (carrier, bank):
        rep.receive(first, shared.source(rep.name))
    carrier.receive(_entry(shared, 2, first), shared.source("carrier"))
    bank.accept_head(carrier.sign_head(), key.public_key())  # size 2, bank holds 1: kept
    bank.recheck_heads()
    body = make_body(index=2, ledger_id="L", author="carrier", record_type="NOTE",
                     document={"n": "other"}, previous=first)  # fmt: skip
    bank.receive(seal(body, ["shipper", "bank"], shared.source("carrier")), shared.source("bank"))
    with pytest.raises(EquivocationError, match="size 2"):
        bank.recheck_heads()


def test_equivocation_is_detected_live(tmp_path: Path) -> None:
    """The carrier shows one history to the shipper and another to the bank."""
    shared = SharedKeys()
    key = MLDSA65PrivateKey.generate()
    carrier_a = Replica(tmp_path / "a", "carrier", ledger_id="L", signing_key=key)
    carrier_b = Replica(tmp_path / "b", "carrier", ledger_id="L", signing_key=key)
    shipper = Replica(tmp_path, "shipper", ledger_id="L")
    bank = Replica(tmp_path, "bank", ledger_id="L")
    for doc, fork, reader in ((1, carrier_a, shipper), (2, carrier_b, bank)):
        body = make_body(index=1, ledger_id="L", author="carrier", record_type="NOTE",
                         document={"to": doc}, previous=None)  # fmt: skip
        raw = seal(body, ["shipper", "bank"], shared.source("carrier"))
        fork.receive(raw, shared.source("carrier"))
        reader.receive(raw, shared.source(reader.name))
    head_a, head_b = carrier_a.sign_head(), carrier_b.sign_head()
    shipper.accept_head(head_a, key.public_key())
    bank.accept_head(head_b, key.public_key())
    # Gossip between shipper and bank exposes the carrier.
    with pytest.raises(EquivocationError, match="carrier signed a root at size 1"):
        shipper.accept_head(head_b, key.public_key())
    with pytest.raises(EquivocationError):
        bank.accept_head(head_a, key.public_key())
