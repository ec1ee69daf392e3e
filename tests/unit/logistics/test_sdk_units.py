"""Unit tests of the SDK's policy, envelope format, one-time pad and SQLite state."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from quaykey.errors import AuthenticationError
from quaykey.logistics.sdk import ChannelStore, Envelope, Policy, decode_envelope
from quaykey.logistics.sdk.protect import otp_key_bytes, otp_open, otp_seal

ENV = Envelope("otp", "customs_decision", "t", "c", 7, 1_000, ("k1", "k2"), b"", b"", b"x" * 20)


@pytest.mark.parametrize(
    ("msg_type", "hs", "cls"),
    [
        ("edi", [], "aes"),
        ("event", ["3004.90"], "otp"),  # pharmaceuticals
        ("event", ["280530"], "otp"),  # rare-earth metals
        ("event", ["2846"], "otp"),  # rare-earth compounds
        ("event", ["2804"], "aes"),  # neighbouring heading, not listed
        ("telemetry", ["0901", "8542.31"], "otp"),  # strongest wins (ICs, chapter 85)
        ("ebl_transfer", [], "otp"),
        ("customs_declaration", ["0901"], "hybrid"),
        ("unknown_type", [], "aes"),
    ],
)
def test_standard_policy(msg_type: str, hs: list[str], cls: str) -> None:
    assert Policy.standard().classify(msg_type, hs) == cls


def test_policy_yaml_and_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("default: aes\nmessage_types: {baplie: hybrid}\nhs_codes: {'93': otp}\n")
    p = Policy.from_yaml(f)
    assert (p.classify("baplie"), p.classify("edi", ["9301"]), p.classify("edi")) == (
        "hybrid", "otp", "aes",
    )  # fmt: skip
    with pytest.raises(ValueError, match="hs_codes"):
        p.classify("edi", ["30a"])
    with pytest.raises(ValueError, match="hs_codes"):
        p.classify("edi", "3004")
    with pytest.raises(ValueError, match="unknown field"):
        Policy.from_dict({"defualt": "aes"})
    with pytest.raises(ValueError, match="protection class"):
        Policy.from_dict({"message_types": {"edi": "des"}})


def test_envelope_round_trip_and_strict_parsing() -> None:
    assert decode_envelope(ENV.encode()) == ENV
    raw = ENV.encode()
    bad = [
        raw.replace(b'"seq":7', b'"seq":"7"'),  # type
        raw.replace(b'"seq":7', b'"seq":0'),  # range
        raw.replace(b'"k2"', b'"k1"'),  # repeated key ID
        raw.replace(b'"class":"otp"', b'"class":"rot"'),
        raw.replace(b'"class":"otp",', b'"class":"otp", '),  # not canonical
    ]
    for b in bad:
        with pytest.raises(ValueError):
            decode_envelope(b)
    assert "x" * 20 not in repr(ENV)


def test_otp_pad_and_tag() -> None:
    payload = b"CUSRES release"
    key = secrets.token_bytes(otp_key_bytes(len(payload)))
    body = otp_seal(key, b"hdr", payload)
    assert payload not in body and otp_open(key, b"hdr", body) == payload
    with pytest.raises(AuthenticationError):
        otp_open(key, b"hdR", body)
    other = bytes([key[0] ^ 1]) + key[1:]
    with pytest.raises(AuthenticationError):
        otp_open(other, b"hdr", body)


def test_store_sequences_keys_and_bounded_queue(tmp_path: Path) -> None:
    s = ChannelStore(tmp_path / "s.db")
    s.mark_keys_used("p", ["A1"], side="in")
    with pytest.raises(ValueError, match="used before"):
        s.mark_keys_used("p", ["b2", "a1"], side="in")  # key IDs compare case-insensitively
    assert s.keys_used(["b2"]) == []  # nothing half-written
    s.accept("p", 3)
    s.accept("p", 2)
    assert s.last_seq_in("p") == 3 and s.was_accepted("p", 2)
    ids = [s.enqueue("p", "customs_decision", b"m%d" % i, capacity=2) for i in range(3)]
    assert ids[2] is None and ids[0] is not None
    s.close()
    s = ChannelStore(tmp_path / "s.db")
    rep = s.queue_report(2)
    assert (rep.count, rep.per_peer) == (2, {"p": 2})
    assert [m.payload for m in s.queued("p")] == [b"m0", b"m1"]
    assert "m0" not in repr(s.queued("p")[0])
