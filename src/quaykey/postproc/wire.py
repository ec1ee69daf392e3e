"""What travels on the classical channel: message kinds, messages and array payloads.

Every message of post-processing has a :class:`MessageKind`. Two kinds carry the name of a
reconciler's own request (``"setup"``, ``"parities"``, ``"syndrome"``, ...) in
:attr:`Message.request`: Bob's reconciliation requests (:attr:`MessageKind.EC_REQUEST`) and
Alice's replies (:attr:`MessageKind.EC_REPLY`). On the wire, a kind is its value followed by
the request name, e.g. ``ec:parities``; that name is part of what a tag covers.

A payload is one 1-D array, encoded by :func:`encode_array`: 0/1 arrays bit-packed,
integers as little-endian uint32 when they all fit, else int64.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Message",
    "MessageKind",
    "Party",
    "decode_array",
    "encode_array",
]

Party = Literal["alice", "bob"]


class MessageKind(enum.Enum):
    """Every kind of classical message, in protocol order.

    The value is the kind's wire name; for :attr:`EC_REQUEST` and :attr:`EC_REPLY` it is the
    prefix that the reconciler's request name completes (:meth:`wire_name`).

    Example
    -------
    >>> MessageKind.EC_REQUEST.wire_name("parities"), MessageKind.SIFT_SLOTS.wire_name()
    ('ec:parities', 'sift-slots')
    """

    #: Bob's click slots (as gaps) and bases.
    SIFT_SLOTS = "sift-slots"
    SIFT_BASES = "sift-bases"
    #: Alice's answer: presence, basis and intensity per announced slot.
    SIFT_REPLY = "sift-reply"
    #: Test-basis bits, Bob's then Alice's.
    EST_BOB_Z = "est-bob-z"
    EST_ALICE_Z = "est-alice-z"
    #: A reconciler's request from Bob and Alice's reply (with the request's name).
    EC_REQUEST = "ec:"
    EC_REPLY = "ec-reply:"
    #: Bob's reconciliation summary (leak, frames, failed frames, error counts).
    EC_DONE = "ec-done"
    #: Alice's verification hashes and tags, Bob's per-frame result.
    VER_HASHES = "ver-hashes"
    VER_TAGS = "ver-tags"
    VER_RESULT = "ver-result"
    #: Alice's final key length and public Toeplitz seed.
    PA_LENGTH = "pa-length"
    PA_SEED = "pa-seed"
    #: A checkpoint's authentication tag (never part of a transcript).
    AUTH_TAG = "auth-tag"

    def __init__(self, wire_prefix: str) -> None:
        #: The wire name, or its prefix where a request name follows (plain attributes:
        #: they are read for every message).
        self.wire_prefix = wire_prefix
        #: Whether messages of this kind carry a reconciler's request name.
        self.names_a_request = wire_prefix.endswith(":")

    def wire_name(self, request: str = "") -> str:
        """The kind as written on the wire (with the request name where there is one).

        Raises
        ------
        ValueError
            If ``request`` is given to a kind without one, or missing for one with one.
        """
        if self.names_a_request != bool(request):
            raise ValueError(
                f"request must be {'a non-empty name' if self.names_a_request else 'empty'} "
                f"for {self.name} messages, got {request!r}"
            )
        return self.wire_prefix + request


@dataclass(frozen=True, eq=False)
class Message:
    """One classical message in transit. ``payload`` is the wire encoding of an array."""

    seq: int
    sender: Party
    kind: MessageKind
    payload: bytes
    tag: bytes = b""
    request: str = ""

    def __post_init__(self) -> None:
        if bool(self.request) != self.kind.names_a_request:
            self.kind.wire_name(self.request)  # raises, naming the problem

    def __repr__(self) -> str:  # payloads may reveal key-related data; never print them
        return (
            f"Message(seq={self.seq}, sender={self.sender!r}, kind={self.wire_kind!r}, "
            f"payload_bytes={len(self.payload)})"
        )

    @property
    def wire_kind(self) -> str:
        """The kind as written on the wire, e.g. ``"ec-reply:parities"``."""
        return self.kind.wire_prefix + self.request  # the request name was checked on creation

    def with_payload(self, payload: bytes) -> Message:
        """A copy with another payload (for adversaries in tests)."""
        return replace(self, payload=payload)

    def encode(self) -> bytes:
        """Canonical bytes of the header and payload (what a tag covers); computed once per
        message (the sender's transcript and the receiver's read the same bytes)."""
        cached: bytes | None = self.__dict__.get("_encoded")
        if cached is None:
            kind = (self.kind.wire_prefix + self.request).encode()
            cached = b"".join(
                (
                    struct.pack(">QBH", self.seq, 0 if self.sender == "alice" else 1, len(kind)),
                    kind,
                    struct.pack(">Q", len(self.payload)),
                    self.payload,
                )
            )
            self.__dict__["_encoded"] = cached  # frozen: the fields never change
        return cached


_CODE_BITS = b"b"
_CODE_U8 = b"u"
_CODE_I64 = b"q"
_CODE_U32 = b"I"
_CODE_U16 = b"H"


def encode_array(arr: NDArray[np.int64] | NDArray[np.uint8]) -> bytes:
    """Wire encoding of a 1-D array: uint8 0/1 arrays bit-packed, integers as little-endian
    uint16 or uint32 when they all fit, else int64 (decoded back to int64).

    Raises
    ------
    ValueError
        For an array that is not 1-D, or a dtype other than uint8/bool/integer.

    Example
    -------
    >>> encode_array(np.array([1, 0, 1], dtype=np.uint8)).hex()
    '620300000000000000a0'
    """
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ValueError("payload must be a 1-D array")
    if a.dtype == np.bool_ or a.dtype == np.uint8:
        a8 = a.astype(np.uint8, copy=False)
        if a8.size == 0 or int(a8.max()) <= 1:
            return _CODE_BITS + struct.pack("<Q", a8.size) + np.packbits(a8).tobytes()
        return _CODE_U8 + struct.pack("<Q", a8.size) + a8.tobytes()
    if a.dtype.kind in "iu":
        low, high = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if a.size and low >= 0 and high < 2**16:
            return _CODE_U16 + struct.pack("<Q", a.size) + a.astype("<u2").tobytes()
        if a.size and low >= 0 and high < 2**32:
            return _CODE_U32 + struct.pack("<Q", a.size) + a.astype("<u4").tobytes()
        return _CODE_I64 + struct.pack("<Q", a.size) + a.astype("<i8").tobytes()
    raise ValueError(f"payload dtype must be uint8 or an integer type, got {a.dtype}")


def decode_array(data: bytes) -> NDArray[np.int64] | NDArray[np.uint8]:
    """Inverse of :func:`encode_array`; raises ValueError on a malformed encoding.

    Example
    -------
    >>> decode_array(encode_array(np.array([7, 2**40], dtype=np.int64))).tolist()
    [7, 1099511627776]
    """
    if len(data) < 9:
        raise ValueError("malformed payload: too short")
    code, n = data[:1], struct.unpack("<Q", data[1:9])[0]
    body = data[9:]
    if code == _CODE_BITS:
        if len(body) != (n + 7) // 8:
            raise ValueError("malformed payload: bit-array length mismatch")
        return np.unpackbits(np.frombuffer(body, dtype=np.uint8), count=n)
    if code == _CODE_U8:
        if len(body) != n:
            raise ValueError("malformed payload: byte-array length mismatch")
        return np.frombuffer(body, dtype=np.uint8).copy()
    if code == _CODE_U16:
        if len(body) != 2 * n:
            raise ValueError("malformed payload: uint16-array length mismatch")
        return np.frombuffer(body, dtype="<u2").astype(np.int64)
    if code == _CODE_U32:
        if len(body) != 4 * n:
            raise ValueError("malformed payload: uint32-array length mismatch")
        return np.frombuffer(body, dtype="<u4").astype(np.int64)
    if code == _CODE_I64:
        if len(body) != 8 * n:
            raise ValueError("malformed payload: int64-array length mismatch")
        return np.frombuffer(body, dtype="<i8").astype(np.int64)
    raise ValueError("malformed payload: unknown type code")
