"""Tampered, replayed, reordered, wrongly keyed or downgraded envelopes: refused, counted."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from sdk_helpers import channel_pair

from quaykey.logistics.sdk import MessageRejectedError, Policy, SecureChannel, decode_envelope

TYPES = {"otp": "customs_decision", "aes": "telemetry", "hybrid": "customs_declaration"}


def _refused(rx: SecureChannel, env: bytes, reason: str) -> None:
    before = rx.counters[f"rejected.{reason}"]
    with pytest.raises(MessageRejectedError) as info:
        rx.receive(env)
    assert info.value.reason == reason
    assert rx.counters[f"rejected.{reason}"] == before + 1


def _with(env: bytes, **changes: object) -> bytes:
    return dataclasses.replace(decode_envelope(env), **changes).encode()  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", sorted(TYPES))
def test_tampered_envelopes_are_refused(kms, tmp_path: Path, cls: str) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    msg_type = TYPES[cls]
    tamperings = [
        lambda e: e[:-1] + bytes([e[-1] ^ 1]),  # tag
        lambda e: e[:-20] + bytes([e[-20] ^ 0x80]) + e[-19:],  # ciphertext
        lambda e: _with(e, seq=decode_envelope(e).seq + 100),  # header: sequence number
        lambda e: _with(e, ts_ms=decode_envelope(e).ts_ms + 1),  # header: timestamp
        lambda e: _with(e, body=decode_envelope(e).body + b"\x00"),  # length
    ]
    for tamper in tamperings:
        env = tx.send(msg_type, b"B/L MSCU1234566 to bank: title transfer #42")
        _refused(rx, tamper(env), "authentication")
    assert rx.counters["rejected.authentication"] == len(tamperings)
    assert sum(v for k, v in rx.counters.items() if k.startswith("received.")) == 0
    env = tx.send(msg_type, b"still works")
    assert rx.receive(env) == b"still works"


def test_malformed_envelopes_are_refused(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    env = tx.send("edi", b"CODECO")
    for bad in (b"", b"QKE", env[:10], b"XYZ" + env[3:], env[:3] + b"\x02" + env[4:]):
        _refused(rx, bad, "malformed")
    assert rx.counters["rejected.malformed"] == 5


@pytest.mark.parametrize("cls", sorted(TYPES))
def test_replayed_and_reordered_envelopes_are_refused(kms, tmp_path: Path, cls: str) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    e1, e2, e3 = (tx.send(TYPES[cls], b"message %d" % i) for i in (1, 2, 3))
    assert rx.receive(e1) == b"message 1"
    _refused(rx, e1, "replayed")
    assert rx.receive(e3) == b"message 3"
    _refused(rx, e2, "reordered")
    _refused(rx, e3, "replayed")
    # a replay under a fresh sequence number is caught by its key IDs (or its tag)
    reason = "authentication" if cls == "aes" else "replayed"
    _refused(rx, _with(e1, seq=99), reason)


def test_wrongly_keyed_envelopes_are_refused(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    # mallory, a provisioned SAE at the same KME, claims to be the terminal
    forger = SecureChannel(
        kms.client("mallory"), "customs", state=tmp_path / "m.db", sae_id="terminal"
    )
    for msg_type in ("customs_decision", "edi"):
        _refused(rx, forger.send(msg_type, b"RELEASE everything"), "key_rejected")
    # key IDs that do not exist at all
    env = tx.send("customs_decision", b"x")
    _refused(rx, _with(env, key_ids=("00000000-0000-4000-8000-000000000000",)), "key_rejected")
    assert rx.counters["rejected.key_rejected"] == 3


def test_misaddressed_skewed_and_downgraded_envelopes_are_refused(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    other = SecureChannel(kms.client("customs"), "mallory", state=tmp_path / "o.db")
    _refused(other, tx.send("edi", b"a"), "misaddressed")
    late = SecureChannel(
        kms.client("customs"),
        "terminal",
        state=tmp_path / "late.db",
        clock=lambda: time.time() + 31,
    )
    _refused(late, tx.send("edi", b"b"), "clock_skew")
    lax = Policy.from_dict({"message_types": {"customs_decision": "aes"}})
    weak_tx = SecureChannel(kms.client("terminal"), "customs", lax, state=tmp_path / "lax.db")
    _refused(rx, weak_tx.send("customs_decision", b"RELEASE"), "policy_downgrade")
    with pytest.raises(ValueError, match="weaker"):
        tx.send("customs_decision", b"RELEASE", protection="aes")
    assert decode_envelope(tx.send("edi", b"c", protection="otp")).protection == "otp"
