"""Wire format of classical messages: kinds, headers and array payloads."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.postproc.wire import Message, MessageKind, decode_array, encode_array


def test_arrays_roundtrip_through_wire_encoding() -> None:
    for arr in (
        np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=np.uint8),
        np.array([0, 255, 3], dtype=np.uint8),
        np.array([-(2**62), 0, 2**62], dtype=np.int64),
        np.array([0, 2**16 - 1, 7], dtype=np.int64),
        np.array([0, 2**16, 2**32 - 1], dtype=np.int64),
        np.zeros(0, dtype=np.uint8),
    ):
        back = decode_array(encode_array(arr))
        assert np.array_equal(back, arr)
    # the narrowest integer width that holds every value: 2, 4, then 8 bytes each
    assert len(encode_array(np.array([0, 2**16 - 1], dtype=np.int64))) == 9 + 2 * 2
    assert len(encode_array(np.array([0, 2**16], dtype=np.int64))) == 9 + 2 * 4
    assert len(encode_array(np.array([-1, 2], dtype=np.int64))) == 9 + 2 * 8
    with pytest.raises(ValueError, match="malformed payload"):
        decode_array(b"q" + (5).to_bytes(8, "little") + b"\0" * 8)
    with pytest.raises(ValueError, match="uint16-array length mismatch"):
        decode_array(b"H" + (5).to_bytes(8, "little") + b"\0" * 8)


def test_wire_kind_names_are_the_transcript_bytes() -> None:
    msg = Message(seq=3, sender="bob", kind=MessageKind.EC_REPLY, payload=b"", request="setup")
    assert msg.wire_kind == "ec-reply:setup"
    assert msg.encode()[11:25] == b"ec-reply:setup"  # seq (8), sender (1), length (2), name
    assert {k.value for k in MessageKind} >= {"sift-slots", "ec:", "ec-done", "auth-tag"}


def test_message_repr_hides_payload() -> None:
    msg = Message(seq=1, sender="alice", kind=MessageKind.SIFT_SLOTS, payload=b"secret-bits")
    assert "secret" not in repr(msg)
