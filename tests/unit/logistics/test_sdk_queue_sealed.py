"""Queued otp payloads are sealed at rest: the state file holds no plaintext."""

from __future__ import annotations

import stat

import pytest

from quaykey.errors import MasterKeyError
from quaykey.logistics.sdk import ChannelStore

SECRET = b"RELEASE MSCU1234566 rare-earth consignment 2846 - decision text"


def _file_bytes(path) -> bytes:
    out = b""
    for p in path.parent.glob(path.name + "*"):
        if not p.name.endswith(".key"):
            out += p.read_bytes()
    return out


def test_queue_holds_no_plaintext_and_reads_back(tmp_path):
    path = tmp_path / "tx.db"
    s = ChannelStore(path)
    qid = s.enqueue("customs", "customs_decision", SECRET, capacity=8)
    assert qid is not None
    s.close()
    raw = _file_bytes(path)
    assert raw  # the database (and its WAL) exist
    assert SECRET not in raw and SECRET[:16] not in raw
    key_file = tmp_path / "tx.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = ChannelStore(path)  # a restart keeps the queue, readable with the key file
    (msg,) = again.queued("customs")
    assert (msg.queue_id, msg.msg_type, msg.payload) == (qid, "customs_decision", SECRET)
    again.close()


def test_queue_refuses_another_key_or_a_moved_row(tmp_path):
    path = tmp_path / "tx.db"
    s = ChannelStore(path)
    s.enqueue("customs", "customs_decision", SECRET, capacity=8)
    s.close()
    other = ChannelStore(path, key_file=tmp_path / "other.key")
    with pytest.raises(MasterKeyError):
        other.queued()
    other.close()
    s = ChannelStore(path)
    s._db.execute("UPDATE otp_queue SET peer='carrier'")  # sealed to its peer and type
    with pytest.raises(MasterKeyError):
        s.queued()
    s.close()
