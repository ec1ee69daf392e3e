"""aes across restarts: no (key, nonce) pair twice at the sender, no replay at the receiver."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import pytest
from sdk_helpers import channel_pair

from quaykey.logistics.sdk import ChannelStore, MessageRejectedError, Policy, SecureChannel
from quaykey.logistics.sdk import decode_envelope as dec
from quaykey.logistics.sdk.protect import aes_nonce


def _reason(rx: SecureChannel, env: bytes) -> str:
    with pytest.raises(MessageRejectedError) as info:
        rx.receive(env)
    return info.value.reason


def test_a_sender_restarted_mid_block_never_reuses_a_nonce_under_a_key(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    tx.store = ChannelStore(tmp_path / "terminal.db", seq_block=8)
    envs = [tx.send("telemetry", b"reading %d" % i) for i in range(3)]
    # the state file is reopened mid-block (as after a crash) while the aes key is kept
    tx.store = ChannelStore(tmp_path / "terminal.db", seq_block=8)
    envs += [tx.send("telemetry", b"reading %d" % i) for i in range(3, 6)]
    # and the whole sender restarts (new process: new channel, new key)
    tx2 = SecureChannel(tx._kme, "customs", state=tmp_path / "terminal.db")
    envs += [tx2.send("telemetry", b"reading %d" % i) for i in range(6, 9)]
    parsed = [dec(e) for e in envs]
    assert [p.seq for p in parsed] == [1, 2, 3, 9, 10, 11, 17, 18, 19]
    assert all(p.nonce == aes_nonce(p.seq) for p in parsed)
    pairs = [(p.key_ids, p.nonce) for p in parsed]
    assert len(set(pairs)) == len(pairs)
    assert len({p.key_ids for p in parsed[:6]}) == 1  # one key across the reopened store
    assert [rx.receive(e) for e in envs[:6]] == [b"reading %d" % i for i in range(6)]
    # a nonce other than the sequence number's is refused before any key is fetched
    forged = dataclasses.replace(parsed[6], nonce=secrets.token_bytes(12)).encode()
    assert _reason(rx, forged) == "authentication"
    assert [rx.receive(e) for e in envs[6:]] == [b"reading %d" % i for i in range(6, 9)]


def test_a_restarted_receiver_refuses_replays_of_pre_restart_aes_messages(
    kms, tmp_path: Path
) -> None:
    policy = Policy.from_dict({"rekey_messages": 4})
    tx, rx = channel_pair(kms, tmp_path, policy=policy)
    envs = [tx.send("telemetry", b"reefer %d" % i) for i in range(6)]  # keys A (4) and B (2)
    assert [rx.receive(e) for e in envs] == [b"reefer %d" % i for i in range(6)]
    assert _reason(rx, envs[2]) == "replayed"  # held in memory, not committed
    assert _reason(rx, envs[1]) == "replayed"  # old key: its IDs are committed
    rx2 = SecureChannel(rx._kme, "terminal", policy, state=tmp_path / "customs.db")
    for env in envs:
        assert _reason(rx2, env) == "replayed"
    assert rx2.counters["rejected.replayed"] == 6
    assert sum(v for k, v in rx2.counters.items() if k.startswith("received.")) == 0
    # messages under the sender's current key B are refused until it rolls (documented)
    assert _reason(rx2, tx.send("telemetry", b"reefer 6")) == "replayed"
    tx.send("telemetry", b"reefer 7")  # B's fourth and last message
    assert rx2.receive(tx.send("telemetry", b"reefer 8")) == b"reefer 8"  # key C


def test_a_cleanly_closed_receiver_keeps_the_order_of_aes_messages(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    e1, e2 = tx.send("telemetry", b"t1"), tx.send("telemetry", b"t2")
    late = tx.send("customs_decision", b"RELEASE")  # otp, delivered after e4
    e4 = tx.send("telemetry", b"t4")
    assert [rx.receive(e) for e in (e1, e2, e4)] == [b"t1", b"t2", b"t4"]
    assert _reason(rx, late) == "reordered"
    rx.store.close()  # e4's sequence number was accepted in memory: close commits it
    rx2 = SecureChannel(rx._kme, "terminal", state=tmp_path / "customs.db")
    assert _reason(rx2, late) == "reordered"
    assert _reason(rx2, e4) == "replayed"
