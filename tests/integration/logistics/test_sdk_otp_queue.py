"""Fail closed when key runs short: otp waits in a bounded persistent queue, never goes out weaker.

``terminal`` (KME a) and ``customs-b`` (KME b) share keys relayed over the a-b link, so
their stock is exactly the link key the test feeds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sdk_helpers import channel_pair

from quaykey.logistics.sdk import (
    KeyShortageError,
    MessageQueuedError,
    OtpQueueFullError,
    Policy,
    SecureChannel,
    decode_envelope,
)

DECISION = b"CUSRES release MSCU1234566 " * 4  # 108 bytes: 140 bytes of otp key


def test_otp_queues_when_key_is_drained_and_drains_when_key_arrives(
    fresh_kms, tmp_path: Path
) -> None:
    policy = dataclasses.replace(Policy.standard(), otp_queue_max=3)
    tx, rx = channel_pair(fresh_kms, tmp_path, receiver="customs-b", policy=policy)
    with pytest.raises(KeyShortageError):  # no link key at all yet: nothing goes out
        tx.send("telemetry", b"MEAS 4.5C")
    fresh_kms.feed("a", "b", block_bytes=512)  # 256 bytes each way: one decision's relay
    sent = [tx.send("customs_decision", DECISION + b"#0")]
    queued = []
    for i in (1, 2, 3):  # the stock is drained: these wait, in order
        with pytest.raises(MessageQueuedError) as info:
            tx.send("customs_decision", DECISION + b"#%d" % i)
        queued.append(info.value.queue_id)
    with pytest.raises(OtpQueueFullError, match="otp queue full"):
        tx.send("edi", b"bay plan", hs_codes=["2846.90"])  # rare earths: otp, queue full
    rep = tx.queue_report()
    assert (rep.count, rep.per_peer, rep.capacity) == (3, {"customs-b": 3}, 3)
    assert rep.oldest_age_s is not None and rep.oldest_age_s >= 0
    assert (tx.counters["otp_queued"], tx.counters["otp_queue_refused"]) == (3, 1)
    assert tx.counters["sent.aes"] == tx.counters["sent.hybrid"] == 0  # never weaker
    assert tx.flush_queue() == []  # still no key: stays queued
    # the queue is persistent: a restarted sender sees it
    restarted = SecureChannel(
        tx._kme, "customs-b", policy, state=tmp_path / "terminal.db", key_source=tx.keys
    )
    assert restarted.queue_report().count == 3
    for _ in range(3):
        fresh_kms.feed("a", "b", block_bytes=512)
    flushed = restarted.flush_queue()
    assert [q for q, _ in flushed] == queued
    assert restarted.queue_report().count == 0
    for i, env in enumerate(sent + [e for _, e in flushed]):
        assert decode_envelope(env).protection == "otp"
        assert rx.receive(env) == DECISION + b"#%d" % i
    assert rx.counters["received.otp"] == 4


def test_new_otp_messages_queue_behind_waiting_ones(fresh_kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(fresh_kms, tmp_path, receiver="customs-b")
    with pytest.raises(MessageQueuedError):
        tx.send("ebl_transfer", b"endorse to BANK-SH")
    fresh_kms.feed("a", "b", block_bytes=4096)
    with pytest.raises(MessageQueuedError):  # key is back, but an older one waits first
        tx.send("ebl_transfer", b"surrender")
    flushed = tx.flush_queue()
    assert [rx.receive(e) for _, e in flushed] == [b"endorse to BANK-SH", b"surrender"]
    assert rx.receive(tx.send("ebl_transfer", b"next")) == b"next"  # queue empty: direct
