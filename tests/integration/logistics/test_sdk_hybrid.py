"""Hybrid class: the key needs both the QKD key and the ML-KEM-768 secret (ETSI TS 103 744)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from sdk_helpers import channel_pair

from quaykey.errors import AuthenticationError
from quaykey.logistics.sdk import MessageRejectedError, SecureChannel, derive_hybrid_key
from quaykey.logistics.sdk.protect import aes_open, aes_seal, hybrid_context


def _inputs(kms, tmp_path: Path):
    """A QKD key shared through the KMEs and an ML-KEM-768 encapsulation, as the SDK does."""
    tx, rx = channel_pair(kms, tmp_path)
    ids, qkd_tx = tx.keys.take_many("customs", 32)
    qkd_rx = rx.keys.lookup_many("terminal", ids, 32)
    kem = MLKEM768PrivateKey.generate()
    ss_tx, ct = kem.public_key().encapsulate()
    ss_rx = kem.decapsulate(ct)
    ctx = hybrid_context("terminal", "customs", ids, ct, kem.public_key().public_bytes_raw())
    return qkd_tx, qkd_rx, ss_tx, ss_rx, ctx


def test_derived_key_changes_with_either_input(kms, tmp_path: Path) -> None:
    qkd, qkd_rx, ss, ss_rx, ctx = _inputs(kms, tmp_path)
    assert (qkd, ss) == (qkd_rx, ss_rx)  # both ends hold the same two inputs
    k = derive_hybrid_key(qkd, ss, ctx)
    assert k == derive_hybrid_key(qkd_rx, ss_rx, ctx)
    flip = bytes([qkd[0] ^ 1]) + qkd[1:]
    assert derive_hybrid_key(flip, ss, ctx) != k
    assert derive_hybrid_key(qkd, bytes([ss[0] ^ 1]) + ss[1:], ctx) != k
    assert derive_hybrid_key(qkd, ss, ctx + b"x") != k  # the context is bound
    assert k not in (qkd, ss)


def test_one_input_alone_does_not_decrypt(kms, tmp_path: Path) -> None:
    qkd, _, ss, _, ctx = _inputs(kms, tmp_path)
    nonce, aad = bytes(12), b"header"
    body = aes_seal(derive_hybrid_key(qkd, ss, ctx), nonce, aad, b"CUSDEC 5 items")
    other_kem = MLKEM768PrivateKey.generate()
    wrong_ss, _ = other_kem.public_key().encapsulate()
    (tmp_path / "second").mkdir()
    _, wrong_qkd, _, _, _ = _inputs(kms, tmp_path / "second")  # a different real QKD key
    for q, s in ((qkd, wrong_ss), (wrong_qkd, ss), (qkd, bytes(32)), (bytes(32), ss)):
        with pytest.raises(AuthenticationError):
            aes_open(derive_hybrid_key(q, s, ctx), nonce, aad, body)
    assert aes_open(derive_hybrid_key(qkd, ss, ctx), nonce, aad, body) == b"CUSDEC 5 items"


def test_receiver_with_wrong_mlkem_key_refuses(kms, tmp_path: Path) -> None:
    tx, _ = channel_pair(kms, tmp_path)
    wrong = SecureChannel(
        kms.client("customs"), "terminal", state=tmp_path / "w.db",
        mlkem_key=MLKEM768PrivateKey.generate(),
    )  # fmt: skip
    with pytest.raises(MessageRejectedError) as info:
        wrong.receive(tx.send("customs_declaration", b"CUSDEC"))
    assert info.value.reason == "authentication"
    assert wrong.counters["rejected.authentication"] == 1


def test_hybrid_needs_the_peer_mlkem_key(kms, tmp_path: Path) -> None:
    plain = SecureChannel(kms.client("terminal"), "customs", state=tmp_path / "p.db")
    with pytest.raises(ValueError, match="peer_mlkem_public"):
        plain.send("customs_declaration", b"CUSDEC")
