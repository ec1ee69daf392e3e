"""The authenticated classical channel: counting, delayed and per-message authentication."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from quaykey.errors import AuthenticationError, KeyExhaustedError
from quaykey.mac import TAG_BITS
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.channel import ClassicalChannel
from quaykey.postproc.wire import Message, MessageKind, encode_array

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


def test_endpoint_hides_its_hash_key() -> None:
    a, b = _pools()
    assert "hidden" in repr(ClassicalChannel(a, b).alice._mac)
