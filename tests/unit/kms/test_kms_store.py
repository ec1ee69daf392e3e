"""Link key pools are consumed bit-exactly, each direction from its own half of a block."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from quaykey.kms.store import Sealer, Store


@pytest.fixture
def pair(tmp_path: Path):
    """Two stores (nodes 'a' and 'b') holding the same link blocks."""
    sa = Store(f"sqlite:///{tmp_path / 'a.db'}", Sealer(secrets.token_bytes(32)), "KME-A")
    sb = Store(f"sqlite:///{tmp_path / 'b.db'}", Sealer(secrets.token_bytes(32)), "KME-B")
    blocks = [secrets.token_bytes(100), secrets.token_bytes(60)]
    for i, blk in enumerate(blocks):
        with sa.write() as c:
            assert sa.deposit(c, "b", f"k{i}", blk)
        with sb.write() as c:
            assert sb.deposit(c, "a", f"k{i}", blk)
    yield sa, sb, blocks
    sa.close()
    sb.close()


def test_sender_and_receiver_get_identical_bytes_across_blocks(pair):
    sa, sb, blocks = pair
    with sa.write() as c:
        assert sa.sendable_bytes(c, "b", True) == 50 + 30
        got = sa.take_send(c, "b", True, 70)
    assert got is not None
    material, segments = got
    assert segments == [("k0", 0, 50), ("k1", 0, 20)]
    assert bytes(material) == blocks[0][:50] + blocks[1][:20]
    with sb.write() as c:
        assert sb.receivable_bytes(c, "a", False) == 80
        recv = sb.take_recv(c, "a", False, segments)
        assert recv == material
        assert sb.receivable_bytes(c, "a", False) == 10
        # b's own sending half is untouched: second halves
        got_b = sb.take_send(c, "a", False, 55)
    assert got_b is not None
    assert bytes(got_b[0]) == blocks[0][50:] + blocks[1][30:35]


def test_not_enough_consumes_nothing(pair):
    sa, _, _ = pair
    with sa.write() as c:
        assert sa.take_send(c, "b", True, 81) is None
        assert sa.sendable_bytes(c, "b", True) == 80


def test_receiver_rejects_replay_overlap_wrong_half_and_unknown_block(pair):
    sa, sb, _ = pair
    with sa.write() as c:
        got = sa.take_send(c, "b", True, 10)
    assert got is not None
    _, segments = got
    with sb.write() as c:
        assert sb.take_recv(c, "a", False, segments) is not None
        assert sb.take_recv(c, "a", False, segments) is None  # replay
        assert sb.take_recv(c, "a", False, [("k0", 5, 10)]) is None  # overlap
        assert sb.take_recv(c, "a", False, [("k0", 45, 10)]) is None  # crosses into b's half
        assert sb.take_recv(c, "a", False, [("nope", 0, 4)]) is None
        assert sb.receivable_bytes(c, "a", False) == 70


def test_duplicate_deposit_is_refused(pair):
    sa, _, _ = pair
    with sa.write() as c:
        assert not sa.deposit(c, "b", "k0", b"xx")


def test_sealer_binds_ciphertext_to_its_row():
    from quaykey.kms.store import MasterKeyError

    s = Sealer(secrets.token_bytes(32))
    blob = s.seal("key|1|bob", b"secret-bytes")
    assert b"secret-bytes" not in blob
    assert s.open("key|1|bob", blob) == b"secret-bytes"
    with pytest.raises(MasterKeyError):
        s.open("key|1|eve", blob)
    assert "AES" in repr(s)
