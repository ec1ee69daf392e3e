"""Request and reply: the answer's keys travel with the request, two KME calls per exchange."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sdk_helpers import channel_pair

from quaykey.errors import MessageRejectedError
from quaykey.logistics.sdk import SecureChannel, decode_envelope

ANSWER = b"UNB+UNOC:3+CUSTOMS+DECLARANT'BGM+962+RDEC1+9'STS++REL'UNZ+1+1'" * 2


class Calls:
    """Counts the ETSI 014 key calls a client makes."""

    def __init__(self, *channels: SecureChannel) -> None:
        self.n = 0
        for ch in channels:
            kme: Any = ch.keys._kme
            for name in ("get_key", "get_key_with_key_ids"):
                setattr(kme, name, self._count(getattr(kme, name)))

    def _count(self, fn: Any) -> Any:
        def wrapped(*a: Any, **kw: Any) -> Any:
            self.n += 1
            return fn(*a, **kw)

        return wrapped


def _exchange(tx: SecureChannel, rx: SecureChannel, answer: bytes, reply_bytes: int = 256):
    req = tx.send("customs_declaration", b"CUSDEC body", reply_bytes=reply_bytes)
    got = rx.receive_message(req)
    ans = rx.send("customs_decision", answer, reply_to=got)
    return req, ans, tx.receive_message(ans)


def test_answer_uses_the_requests_reply_keys_and_no_kme_call(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    _exchange(tx, rx, ANSWER)  # warm the Get status caches
    calls = Calls(tx, rx)
    req, ans, got = _exchange(tx, rx, ANSWER)
    assert calls.n == 2  # one Get key, one Get key with key IDs (four without reply keys)
    r, a = decode_envelope(req), decode_envelope(ans)
    assert (got.payload, got.protection) == (ANSWER, "otp")
    assert a.key_ids == r.reply_key_ids and not a.reply_key_ids
    assert not set(r.key_ids) & set(r.reply_key_ids)
    assert rx.counters["reply_keys_used"] == 2
    with pytest.raises(MessageRejectedError, match="replayed"):
        tx.receive(ans)  # the answer's keys are used once
    with pytest.raises(MessageRejectedError, match="replayed"):
        rx.receive(req)


def test_answer_longer_than_its_reply_keys_takes_fresh_keys(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    long_answer = ANSWER * 8  # > 256 bytes of pad
    req = tx.send("customs_declaration", b"CUSDEC body", reply_bytes=256)
    request = rx.receive_message(req)
    ans = rx.send("customs_decision", long_answer, reply_to=request)
    assert tx.receive(ans) == long_answer
    reply_ids = set(decode_envelope(req).reply_key_ids)
    assert set(decode_envelope(ans).key_ids).isdisjoint(reply_ids)
    assert (rx.counters["reply_keys_unused"], rx.counters["reply_keys_used"]) == (1, 0)
    # the reply keys were discarded: a second answer to the same request takes fresh keys
    again = rx.send("customs_decision", ANSWER, reply_to=request)
    assert set(decode_envelope(again).key_ids).isdisjoint(reply_ids)
    assert tx.receive(again) == ANSWER


def test_reply_key_ids_are_authenticated(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    env = decode_envelope(tx.send("customs_declaration", b"CUSDEC", reply_bytes=128))
    swapped = dataclasses.replace(env, reply_key_ids=env.reply_key_ids[::-1])
    with pytest.raises(MessageRejectedError) as exc:
        rx.receive(swapped.encode())
    assert exc.value.reason == "authentication"
    assert rx.store.take_reply_keys("terminal", "answer", str(env.seq), side="out") is None


def test_reply_keys_survive_restarts_sealed(kms, tmp_path: Path) -> None:
    seen: list[bytes] = []
    tx, rx = channel_pair(kms, tmp_path, seen=seen)
    req = tx.send("customs_declaration", b"CUSDEC", reply_bytes=256)
    got = rx.receive_message(req)
    tx.store.close()
    rx.store.close()
    for db in tmp_path.glob("*.db*"):  # both copies of the reply keys are sealed at rest
        raw = db.read_bytes()
        assert not any(k in raw for k in seen if len(k) >= 16)
    rx2 = SecureChannel(rx._kme, "terminal", state=tmp_path / "customs.db", key_source=rx.keys)
    tx2 = SecureChannel(tx._kme, "customs", state=tmp_path / "terminal.db", key_source=tx.keys)
    calls = Calls(tx2, rx2)
    ans = rx2.send("customs_decision", ANSWER, reply_to=got)
    assert tx2.receive(ans) == ANSWER and calls.n == 0


def test_aes_requests_draw_no_reply_keys(kms, tmp_path: Path) -> None:
    tx, _ = channel_pair(kms, tmp_path)
    with pytest.raises(ValueError, match="reply_bytes"):
        tx.send("edi", b"x", protection="aes", reply_bytes=64)
