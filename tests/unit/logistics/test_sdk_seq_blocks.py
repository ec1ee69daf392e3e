"""Outgoing sequence numbers reserved in committed blocks, and the aes nonce derived from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from quaykey.logistics.sdk import ChannelStore
from quaykey.logistics.sdk.protect import NONCE_BYTES, aes_nonce


def test_a_crashed_store_never_reissues_a_sequence_number(tmp_path: Path) -> None:
    path = tmp_path / "tx.db"
    issued: list[int] = []
    for crash_after in (3, 4, 1, 6):  # stops mid-block, at a block end, past a block end
        s = ChannelStore(path, seq_block=4)
        issued += [s.next_seq("customs") for _ in range(crash_after)]
        # no close(): the next store opens the file as after a crash of this one
    assert len(issued) == len(set(issued))
    assert issued == sorted(issued)  # and the numbers only grow
    assert issued[:4] == [1, 2, 3, 5]  # the unused rest of the first block is skipped
    assert len({aes_nonce(q) for q in issued}) == len(issued)


def test_the_block_end_is_committed_before_a_number_is_used(tmp_path: Path) -> None:
    s = ChannelStore(tmp_path / "tx.db", seq_block=8)
    assert s.next_seq("customs") == 1
    other = ChannelStore(tmp_path / "tx.db")  # another connection sees the whole block taken
    assert other._read("SELECT last_seq FROM seq_out WHERE peer='customs'") == [(8,)]
    assert other.next_seq("customs") == 9
    assert [s.next_seq("customs") for _ in range(7)] == list(range(2, 9))
    with pytest.raises(ValueError, match="seq_block"):
        ChannelStore(":memory:", seq_block=0)


def test_close_gives_back_only_a_block_nobody_reserved_past(tmp_path: Path) -> None:
    path = tmp_path / "tx.db"
    a = ChannelStore(path, seq_block=4)
    assert [a.next_seq("p"), a.next_seq("p")] == [1, 2]
    a.close()
    b = ChannelStore(path, seq_block=4)
    assert b.next_seq("p") == 3  # a clean close left no gap
    c = ChannelStore(path, seq_block=4)
    assert c.next_seq("p") == 7  # b holds 3..6
    b.close()  # must not lower the mark below c's block
    d = ChannelStore(path, seq_block=4)
    assert d.next_seq("p") == 11
    assert c.next_seq("p") == 8


def test_the_aes_nonce_is_the_sequence_number() -> None:
    assert len(aes_nonce(7)) == NONCE_BYTES
    assert aes_nonce(2**64 - 1) == bytes(4) + b"\xff" * 8
    assert aes_nonce(256) != aes_nonce(1)
    for bad in (-1, 2**64, True, 1.0):
        with pytest.raises(ValueError, match="seq"):
            aes_nonce(bad)  # type: ignore[arg-type]


def test_an_accept_in_memory_is_committed_by_the_next_durable_one_or_close(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rx.db"
    s = ChannelStore(path)
    s.accept("p", 1)
    s.accept("p", 5, durable=False)
    assert s.last_seq_in("p") == 5 and not s.was_accepted("p", 5)
    assert ChannelStore(path).last_seq_in("p") == 1  # what a crash now would leave
    s.accept("p", 6)
    assert ChannelStore(path).last_seq_in("p") == 6
    s.accept("p", 9, durable=False)
    s.close()
    assert ChannelStore(path).last_seq_in("p") == 9
