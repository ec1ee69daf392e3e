"""The authenticated classical channel: counting, delayed and per-message authentication."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from quaykey.errors import AuthenticationError, KeyExhaustedError
from quaykey.mac import TAG_BITS
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.channel import ClassicalChannel
from quaykey.postproc.wire import Message, MessageKind, decode_array, encode_array

# The conversation below uses real kinds; the channel does not care what they mean.
A1, B1, A2, A3, B2 = (
    MessageKind.SIFT_SLOTS,
    MessageKind.SIFT_REPLY,
    MessageKind.VER_HASHES,
    MessageKind.VER_TAGS,
    MessageKind.VER_RESULT,
)


def _conversation(ch: ClassicalChannel) -> None:
    """A small two-stage exchange: 3 messages A->B, 2 messages B->A."""
    ch.alice.send(A1, np.array([1, 0, 1, 1], dtype=np.uint8))
    ch.bob.recv(A1)
    ch.bob.send(B1, np.array([5, -7, 2**40], dtype=np.int64))
    ch.alice.recv(B1)
    ch.checkpoint("one")
    ch.alice.send(A2, np.zeros(0, dtype=np.uint8))
    ch.alice.send(A3, np.array([200, 3], dtype=np.uint8))
    ch.bob.recv(A2)
    ch.bob.recv(A3)
    ch.bob.send(B2, np.array([1], dtype=np.uint8))
    ch.alice.recv(B2)
    ch.checkpoint("two")


def _pools(bits: int = 4096) -> tuple[AuthKeyPool, AuthKeyPool]:
    return AuthKeyPool.pre_shared(bits, seed=99)


def test_arrays_roundtrip_through_wire_encoding() -> None:
    for arr in (
        np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=np.uint8),
        np.array([0, 255, 3], dtype=np.uint8),
        np.array([-(2**62), 0, 2**62], dtype=np.int64),
        np.zeros(0, dtype=np.uint8),
    ):
        back = decode_array(encode_array(arr))
        assert np.array_equal(back, arr)
    with pytest.raises(ValueError, match="malformed payload"):
        decode_array(b"q" + (5).to_bytes(8, "little") + b"\0" * 8)


def test_honest_conversation_counts_traffic_and_spends_exact_key() -> None:
    a, b = _pools()
    ch = ClassicalChannel(a, b)
    _conversation(ch)
    assert ch.stats.messages == {"alice": 3, "bob": 2}
    assert ch.stats.checkpoints == 2
    # hash key + 2 tags per checkpoint, on each side, identical positions
    assert a.spent_bits == b.spent_bits == TAG_BITS * (1 + 2 * 2)
    assert [e[:2] for e in a.ledger] == [e[:2] for e in b.ledger]
    assert ch.stats.round_trips >= 4
    bits_a = ch.stats.payload_bits["alice"]
    assert bits_a > 0 and ch.stats.payload_bits["bob"] > 0


def test_message_mode_spends_one_tag_per_message() -> None:
    a, b = _pools()
    ch = ClassicalChannel(a, b, mode="message")
    _conversation(ch)
    assert a.spent_bits == TAG_BITS * (1 + 5)


def _flip_message(index: int, where: str = "payload"):  # type: ignore[no-untyped-def]
    seen = {"n": 0}

    def adversary(msg: Message) -> Sequence[Message]:
        if (msg.kind is MessageKind.AUTH_TAG) != (where == "tag"):
            return [msg]
        i = seen["n"]
        seen["n"] += 1
        if i != index:
            return [msg]
        data = bytearray(msg.payload)
        data[len(data) // 2] ^= 0x01
        return [msg.with_payload(bytes(data))]

    return adversary


@pytest.mark.parametrize("mode", ["stage", "message"])
@pytest.mark.parametrize("index", range(5))
def test_flipping_one_bit_of_any_message_is_caught(mode: str, index: int) -> None:
    a, b = _pools()
    ch = ClassicalChannel(a, b, mode=mode, adversary=_flip_message(index))  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError):
        _conversation(ch)


@pytest.mark.parametrize("index", range(4))
def test_flipping_a_checkpoint_tag_is_caught(index: int) -> None:
    a, b = _pools()
    ch = ClassicalChannel(a, b, adversary=_flip_message(index, where="tag"))
    with pytest.raises(AuthenticationError):
        _conversation(ch)


def test_dropped_message_is_caught() -> None:
    a, b = _pools()

    def drop(msg: Message) -> Sequence[Message]:
        return [] if msg.kind is A2 else [msg]

    with pytest.raises(AuthenticationError, match="dropped"):
        _conversation(ClassicalChannel(a, b, adversary=drop))


def test_replayed_message_is_caught() -> None:
    a, b = _pools()

    def replay(msg: Message) -> Sequence[Message]:
        return [msg, msg] if msg.kind is A1 else [msg]

    with pytest.raises(AuthenticationError):
        _conversation(ClassicalChannel(a, b, adversary=replay))


def test_reordered_messages_are_caught() -> None:
    a, b = _pools()
    held: list[Message] = []

    def reorder(msg: Message) -> Sequence[Message]:
        if msg.kind is A2:
            held.append(msg)
            return []
        if msg.kind is A3:
            return [msg, *held]
        return [msg]

    with pytest.raises(AuthenticationError, match="reordered"):
        _conversation(ClassicalChannel(a, b, adversary=reorder))


def test_forged_message_with_right_sequence_is_caught_at_checkpoint() -> None:
    a, b = _pools()

    def forge(msg: Message) -> Sequence[Message]:
        if msg.kind is B1:
            return [msg.with_payload(encode_array(np.array([6, -7, 2**40], dtype=np.int64)))]
        return [msg]

    ch = ClassicalChannel(a, b, adversary=forge)
    ch.alice.send(A1, np.array([1, 0, 1, 1], dtype=np.uint8))
    ch.bob.recv(A1)
    ch.bob.send(B1, np.array([5, -7, 2**40], dtype=np.int64))
    assert ch.alice.recv(B1)[0] == 6  # delivered: delayed authentication...
    with pytest.raises(AuthenticationError, match="fails authentication"):
        ch.checkpoint("one")  # ...caught at the checkpoint


def test_pool_exhaustion_raises_and_spends_nothing() -> None:
    a, b = _pools(TAG_BITS * 2)
    ch = ClassicalChannel(a, b)
    ch.alice.send(A1, np.array([1], dtype=np.uint8))
    ch.bob.recv(A1)
    spent = a.spent_bits
    with pytest.raises(KeyExhaustedError, match="authentication key pool"):
        ch.checkpoint("one")  # needs 2 tags, only 1 left
    assert a.spent_bits == spent + TAG_BITS  # Alice's own tag was paid; nothing more


def test_pools_must_be_separate_objects_and_mode_valid() -> None:
    a, _ = _pools()
    with pytest.raises(ValueError, match="separate pool objects"):
        ClassicalChannel(a, a)
    a, b = _pools()
    with pytest.raises(ValueError, match="mode must be"):
        ClassicalChannel(a, b, mode="never")  # type: ignore[arg-type]


def test_pool_replenish_and_ledger() -> None:
    a, b = AuthKeyPool.pre_shared(256, seed=1)
    a.draw(200, "x")
    a.replenish(np.ones(100, dtype=np.uint8))
    assert a.available_bits == 156
    drawn = a.draw(150, "y")
    assert drawn[-94:].all()  # after the 56 pre-shared bits come the replenished ones
    assert a.ledger == ((0, 200, "x"), (200, 350, "y"))
    assert a.spent_bits == 350 and a.supplied_bits == 356
    with pytest.raises(ValueError, match="0/1"):
        a.replenish(np.array([2], dtype=np.uint8))
    assert a.supplied_bits == 356  # nothing added
    assert "1" not in repr(b).split("available_bits")[0]  # no bits in repr


def test_reprs_hide_payloads() -> None:
    msg = Message(seq=1, sender="alice", kind=A1, payload=b"secret-bits")
    assert "secret" not in repr(msg)
    a, b = _pools()
    assert "hidden" in repr(ClassicalChannel(a, b).alice._mac)


def test_reconciliation_kinds_carry_their_request_name() -> None:
    a, b = _pools()
    ch = ClassicalChannel(a, b)
    ch.bob.send(MessageKind.EC_REQUEST, np.array([1, 2], dtype=np.int64), request="parities")
    got = ch.alice.recv_one_of(MessageKind.EC_REQUEST, MessageKind.EC_DONE)
    assert (got.kind, got.request, got.payload.tolist()) == (
        MessageKind.EC_REQUEST,
        "parities",
        [1, 2],
    )
    ch.alice.send(MessageKind.EC_REPLY, np.array([1], dtype=np.uint8), request="parities")
    with pytest.raises(AuthenticationError, match="'ec-reply:parities'"):
        ch.bob.recv(MessageKind.EC_REPLY, request="setup")  # a reply to another request
    with pytest.raises(ValueError, match="request must be a non-empty name"):
        ch.bob.send(MessageKind.EC_REQUEST, np.zeros(1, dtype=np.uint8))
    with pytest.raises(ValueError, match="request must be empty"):
        ch.bob.send(MessageKind.EC_DONE, np.zeros(1, dtype=np.uint8), request="x")


def test_wire_kind_names_are_the_transcript_bytes() -> None:
    msg = Message(seq=3, sender="bob", kind=MessageKind.EC_REPLY, payload=b"", request="setup")
    assert msg.wire_kind == "ec-reply:setup"
    assert msg.encode()[11:25] == b"ec-reply:setup"  # seq (8), sender (1), length (2), name
    assert {k.value for k in MessageKind} >= {"sift-slots", "ec:", "ec-done", "auth-tag"}
