"""Each protection class round-trips between two SAEs through real KMEs over mTLS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdk_helpers import channel_pair

from quaykey.logistics.sdk import Policy, SecureChannel, decode_envelope
from quaykey.logistics.sdk.store import SEQ_BLOCK

CASES = [
    ("customs_decision", [], "otp"),
    ("edi", ["8542.31"], "otp"),  # electronics cargo forces otp
    ("edi", ["0901.21"], "aes"),
    ("telemetry", [], "aes"),
    ("customs_declaration", [], "hybrid"),
]


@pytest.mark.parametrize("size", [0, 1, 200, 3800])
@pytest.mark.parametrize(("msg_type", "hs", "cls"), CASES)
def test_each_class_round_trips(
    kms, tmp_path: Path, msg_type: str, hs: list[str], cls: str, size: int
) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    payload = bytes((i * 7 + size) % 256 for i in range(size))
    env = tx.send(msg_type, payload, hs_codes=hs)
    assert decode_envelope(env).protection == cls
    if size >= 16:
        assert payload not in env  # the plaintext does not travel
    got = rx.receive_message(env)
    assert (got.payload, got.msg_type, got.protection, got.seq) == (payload, msg_type, cls, 1)
    assert rx.counters[f"received.{cls}"] == 1 and tx.counters[f"sent.{cls}"] == 1


def test_key_ids_never_used_twice(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    fresh_ids: list[str] = []
    for i in range(12):
        for msg_type in ("customs_decision", "customs_declaration"):
            env = tx.send(msg_type, f"decision {i}".encode())
            fresh_ids += decode_envelope(env).key_ids
            rx.receive(env)
    assert len(fresh_ids) == len(set(fresh_ids)) == 24
    assert len(tx.keys.taken_ids) == len(set(tx.keys.taken_ids))  # type: ignore[attr-defined]


def test_aes_key_rolls_every_n_messages_and_t_seconds(kms, tmp_path: Path) -> None:
    now = [1_000_000.0]
    policy = Policy.from_dict({"rekey_messages": 3, "rekey_seconds": 10.0, "max_clock_skew_s": 1e9})
    tx, rx = channel_pair(kms, tmp_path, policy=policy)
    tx._clock = rx._clock = lambda: now[0]  # both sides share one simulated clock
    ids = []
    for i in range(7):
        env = tx.send("event", b"LOAD %d" % i)
        ids.append(decode_envelope(env).key_ids)
        assert rx.receive(env) == b"LOAD %d" % i
    assert [len(set(ids[i : i + 3])) for i in (0, 3, 6)] == [1, 1, 1]
    assert len(set(ids)) == 3  # rolled after 3 messages
    now[0] += 11.0
    env = tx.send("event", b"later")
    assert decode_envelope(env).key_ids not in ids  # rolled after 10 s
    assert rx.receive(env) == b"later"


def test_replay_state_survives_restart(kms, tmp_path: Path) -> None:
    tx, rx = channel_pair(kms, tmp_path)
    env = tx.send("customs_decision", b"RELEASE")
    assert rx.receive(env) == b"RELEASE"
    again = SecureChannel(rx._kme, "terminal", state=tmp_path / "customs.db")
    with pytest.raises(Exception, match="replayed"):
        again.receive(env)
    tx2 = SecureChannel(tx._kme, "customs", state=tmp_path / "terminal.db")
    env2 = tx2.send("customs_decision", b"HOLD")
    # the sender's sequence survives too: the first sender did not close, so the restarted
    # one continues above the block it had reserved (never below, never a number twice)
    assert decode_envelope(env2).seq == SEQ_BLOCK + 1
    assert again.receive(env2) == b"HOLD"


def test_sae_id_comes_from_the_kme(kms, tmp_path: Path) -> None:
    tx, _ = channel_pair(kms, tmp_path)
    assert tx.sae_id == "terminal"


def test_concurrent_senders_get_distinct_sequence_numbers(kms, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tx, rx = channel_pair(kms, tmp_path)
    msgs = [(("customs_decision", "edi")[i % 2], b"m%d" % i) for i in range(24)]
    with ThreadPoolExecutor(4) as pool:
        envs = list(pool.map(lambda m: tx.send(*m), msgs))
    by_seq = sorted(envs, key=lambda e: decode_envelope(e).seq)
    assert [decode_envelope(e).seq for e in by_seq] == list(range(1, 25))
    assert sorted(rx.receive(e) for e in by_seq) == sorted(p for _, p in msgs)
