"""The authenticated, counted classical channel between Alice and Bob.

Authentication is Wegman–Carter through :class:`quaykey.mac.RecyclingMac`: a tag is
``h_k(transcript) XOR r`` where ``h_k`` is the polynomial-evaluation hash over GF(2^128)
and ``r`` is 128 fresh one-time-pad bits drawn from the authentication key pool. The hash
key ``k`` (128 bits) is drawn once per channel (per block) and reused for every tag of
that channel; only the pads are fresh per tag, which is what makes the
reuse safe (Wegman and Carter 1981; Portmann 2014).

Delayed authentication
----------------------
Cascade needs hundreds of round trips per block; a 128-bit pad per message would cost more
key than a block yields. By default (``mode="stage"``) each endpoint keeps a running
transcript of every message it sent and every message it received (sequence number,
direction, kind, payload). At each stage checkpoint Alice sends a tag over her outgoing
transcript since the previous checkpoint, Bob verifies it against what he received, then
Bob does the same the other way. This is the delayed authentication used by the AIT QKD
software (qkd-auth module): an attacker may alter messages in flight, but the alteration is
caught at the next checkpoint and the block yields no key, because keys are only released
after the last checkpoint. A checkpoint costs 2 x 128 pad bits from each party's pool.
``mode="message"`` tags every message instead (128 pad bits each; verified on receipt).

A tampered, dropped, reordered or replayed message raises
:class:`~quaykey.errors.AuthenticationError`.

The adversary seam: ``adversary(message) -> sequence of messages`` is called on every
message in transit; it may return it unchanged, modified, nothing (drop), several
(replay) or hold it back and release it later (reorder). Tests use it.

References
----------
Wegman, Carter, "New hash functions and their use in authentication and set equality",
JCSS 22, 265 (1981). Portmann, "Key recycling in authentication", IEEE TIT 60, 4383 (2014).
AIT QKD R10, ``lib/crypto/evhash.cpp`` and ``bin/modules/qkd-auth``.
"""

from __future__ import annotations

import hmac
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import AuthenticationError, KeyExhaustedError
from quaykey.mac import TAG_BITS, TAG_BYTES, RecyclingMac

__all__ = [
    "TAG_BITS",
    "Adversary",
    "AuthKeyPool",
    "ChannelStats",
    "ClassicalChannel",
    "Endpoint",
    "Message",
    "decode_array",
    "encode_array",
]

Party = Literal["alice", "bob"]


def _bits_to_int(bits: NDArray[np.uint8]) -> int:
    return int.from_bytes(np.packbits(bits).tobytes(), "big") >> ((-bits.size) % 8)


# --------------------------------------------------------------------------------------
# Authentication key pool
# --------------------------------------------------------------------------------------


class AuthKeyPool:
    """One party's pool of secret authentication key bits, with exact accounting.

    Bits are consumed in order from a stream; every draw is recorded in :attr:`ledger` as a
    half-open interval of stream positions with its purpose, so no bit is ever spent twice.
    The first block uses the pre-shared key the pool was created with; later blocks refill
    it with part of the key they produced (:meth:`deposit`). Alice and Bob each own a
    separate pool object; they stay in step because both draw the same amounts in the same
    order.

    Parameters
    ----------
    bits
        The initial (pre-shared) key bits, 0/1 values.
    name
        A label for reports (never key material).

    Raises
    ------
    ValueError
        If ``bits`` is not a 1-D array of 0/1 values.

    Example
    -------
    >>> alice, bob = AuthKeyPool.pre_shared(512, seed=7)
    >>> alice.draw(128, "tag").size, alice.available_bits, bob.available_bits
    (128, 384, 512)
    """

    def __init__(self, bits: NDArray[np.uint8] | Sequence[int], *, name: str = "") -> None:
        arr = np.asarray(bits)
        if arr.ndim != 1 or (arr.size and (arr.min() < 0 or arr.max() > 1)):
            raise ValueError("bits must be a 1-D array of 0/1 values")
        self._bits = arr.astype(np.uint8).copy()
        self._cursor = 0  # index into self._bits of the next unspent bit
        self._offset = 0  # stream position of self._bits[0]
        self._deposited = int(arr.size)
        self._ledger: list[tuple[int, int, str]] = []
        self.name = name

    @classmethod
    def pre_shared(cls, n_bits: int, *, seed: int | None = None) -> tuple[AuthKeyPool, AuthKeyPool]:
        """Two pools (Alice's, Bob's) holding the same fresh pre-shared key.

        With ``seed=None`` the key comes from :mod:`secrets`; a seed gives a reproducible
        key for simulations and tests.
        """
        if n_bits < 0:
            raise ValueError(f"n_bits must be >= 0, got {n_bits}")
        if seed is None:
            import secrets

            raw = np.frombuffer(secrets.token_bytes((n_bits + 7) // 8), dtype=np.uint8)
            bits = np.unpackbits(raw)[:n_bits]
        else:
            bits = np.random.default_rng(seed).integers(0, 2, n_bits, dtype=np.uint8)
        return cls(bits, name="alice"), cls(bits.copy(), name="bob")

    def __repr__(self) -> str:
        return (
            f"AuthKeyPool(name={self.name!r}, available_bits={self.available_bits}, "
            f"spent_bits={self.spent_bits})"
        )

    @property
    def available_bits(self) -> int:
        """Unspent bits left."""
        return int(self._bits.size - self._cursor)

    @property
    def spent_bits(self) -> int:
        """Bits spent so far (sum of the ledger)."""
        return self._offset + self._cursor

    @property
    def deposited_bits(self) -> int:
        """Bits ever put in (pre-shared plus refills)."""
        return self._deposited

    @property
    def ledger(self) -> tuple[tuple[int, int, str], ...]:
        """Every draw as ``(start, stop, purpose)`` stream positions, in order."""
        return tuple(self._ledger)

    def draw(self, n_bits: int, purpose: str) -> NDArray[np.uint8]:
        """Spend the next ``n_bits`` bits.

        Raises
        ------
        ValueError
            If ``n_bits`` is negative.
        KeyExhaustedError
            If fewer than ``n_bits`` bits are left (nothing is spent then).
        """
        if n_bits < 0:
            raise ValueError(f"n_bits must be >= 0, got {n_bits}")
        if n_bits > self.available_bits:
            raise KeyExhaustedError(
                f"authentication key pool {self.name!r} has {self.available_bits} bits, "
                f"{n_bits} needed for {purpose}"
            )
        start = self._cursor
        out = self._bits[start : start + n_bits].copy()
        self._bits[start : start + n_bits] = 0  # spent material is not kept around
        self._cursor += n_bits
        self._ledger.append((self._offset + start, self._offset + start + n_bits, purpose))
        return out

    def draw_int(self, n_bits: int, purpose: str) -> int:
        """Spend ``n_bits`` bits and return them as an integer (first bit most significant)."""
        return _bits_to_int(self.draw(n_bits, purpose))

    def deposit(self, bits: NDArray[np.uint8]) -> None:
        """Append fresh key bits (e.g. part of a block's final key) to the pool."""
        arr = np.asarray(bits)
        if arr.ndim != 1 or (arr.size and (arr.min() < 0 or arr.max() > 1)):
            raise ValueError("bits must be a 1-D array of 0/1 values")
        self._offset += self._cursor
        self._bits = np.concatenate([self._bits[self._cursor :], arr.astype(np.uint8)])
        self._cursor = 0
        self._deposited += int(arr.size)


# --------------------------------------------------------------------------------------
# Messages and wire encoding
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Message:
    """One classical message in transit. ``payload`` is the wire encoding of an array."""

    seq: int
    sender: Party
    kind: str
    payload: bytes
    tag: bytes = b""

    def __repr__(self) -> str:  # payloads may reveal key-related data; never print them
        return (
            f"Message(seq={self.seq}, sender={self.sender!r}, kind={self.kind!r}, "
            f"payload_bytes={len(self.payload)})"
        )

    def with_payload(self, payload: bytes) -> Message:
        """A copy with another payload (for adversaries in tests)."""
        return replace(self, payload=payload)

    def encode(self) -> bytes:
        """Canonical bytes of the header and payload (what a tag covers)."""
        kind = self.kind.encode()
        return (
            struct.pack(">QBH", self.seq, 0 if self.sender == "alice" else 1, len(kind))
            + kind
            + struct.pack(">Q", len(self.payload))
            + self.payload
        )


#: ``adversary(message) -> messages to deliver`` (empty drops, several replay).
Adversary = Callable[[Message], Sequence[Message]]

_CODE_BITS = b"b"
_CODE_U8 = b"u"
_CODE_I64 = b"q"
_CODE_U32 = b"I"


def encode_array(arr: NDArray[np.int64] | NDArray[np.uint8]) -> bytes:
    """Wire encoding of a 1-D array: uint8 0/1 arrays bit-packed, integers as little-endian
    uint32 when they all fit, else int64 (decoded back to int64).

    Raises
    ------
    ValueError
        For an array that is not 1-D, or a dtype other than uint8/bool/integer.
    """
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ValueError("payload must be a 1-D array")
    if a.dtype == np.bool_ or a.dtype == np.uint8:
        a8 = a.astype(np.uint8, copy=False)
        if a8.size == 0 or int(a8.max()) <= 1:
            return _CODE_BITS + struct.pack("<Q", a8.size) + np.packbits(a8).tobytes()
        return _CODE_U8 + struct.pack("<Q", a8.size) + a8.tobytes()
    if np.issubdtype(a.dtype, np.integer):
        if a.size and int(a.min()) >= 0 and int(a.max()) < 2**32:
            return _CODE_U32 + struct.pack("<Q", a.size) + a.astype("<u4").tobytes()
        return _CODE_I64 + struct.pack("<Q", a.size) + a.astype("<i8").tobytes()
    raise ValueError(f"payload dtype must be uint8 or an integer type, got {a.dtype}")


def decode_array(data: bytes) -> NDArray[np.int64] | NDArray[np.uint8]:
    """Inverse of :func:`encode_array`; raises ValueError on a malformed encoding."""
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
    if code == _CODE_U32:
        if len(body) != 4 * n:
            raise ValueError("malformed payload: uint32-array length mismatch")
        return np.frombuffer(body, dtype="<u4").astype(np.int64)
    if code == _CODE_I64:
        if len(body) != 8 * n:
            raise ValueError("malformed payload: int64-array length mismatch")
        return np.frombuffer(body, dtype="<i8").astype(np.int64)
    raise ValueError("malformed payload: unknown type code")


def _decode_authentic(msg: Message) -> NDArray[np.int64] | NDArray[np.uint8]:
    """Decode a payload; an honest peer never sends a malformed one, so that is tampering."""
    try:
        return decode_array(msg.payload)
    except ValueError as exc:
        raise AuthenticationError(
            f"message #{msg.seq} ({msg.kind!r}) from {msg.sender} is malformed: altered in transit"
        ) from exc


# --------------------------------------------------------------------------------------
# Channel and endpoints
# --------------------------------------------------------------------------------------


@dataclass
class ChannelStats:
    """Traffic counters of one channel (public diagnostics)."""

    messages: dict[str, int] = field(default_factory=lambda: {"alice": 0, "bob": 0})
    payload_bits: dict[str, int] = field(default_factory=lambda: {"alice": 0, "bob": 0})
    tag_messages: int = 0
    direction_changes: int = 0
    checkpoints: int = 0

    @property
    def round_trips(self) -> int:
        """Request/reply exchanges: half the number of direction changes, rounded up."""
        return (self.direction_changes + 1) // 2


class Endpoint:
    """One party's end of the channel: send, receive, and keep a transcript.

    Created by :class:`ClassicalChannel`; each endpoint holds only its own party's
    authentication key pool.
    """

    def __init__(self, channel: ClassicalChannel, party: Party, pool: AuthKeyPool) -> None:
        self._channel = channel
        self.party: Party = party
        self.peer: Party = "bob" if party == "alice" else "alice"
        self.pool = pool
        start = pool.spent_bits
        self._mac = RecyclingMac(
            pool.draw_int(TAG_BITS, "wegman-carter hash key").to_bytes(TAG_BYTES, "big")
        )
        self._sent = 0
        self._received = 0
        self._out = bytearray()
        self._in = bytearray()
        self._auth_start = start

    def __repr__(self) -> str:
        return f"Endpoint(party={self.party!r}, sent={self._sent}, received={self._received})"

    @property
    def auth_bits_used(self) -> int:
        """Authentication key bits this endpoint drew from its pool."""
        return self.pool.spent_bits - self._auth_start

    # -- plain traffic ------------------------------------------------------------------

    def send(self, kind: str, payload: NDArray[np.int64] | NDArray[np.uint8]) -> None:
        """Send one array to the peer."""
        msg = Message(seq=self._sent, sender=self.party, kind=kind, payload=encode_array(payload))
        self._sent += 1
        encoded = msg.encode()
        if self._channel.mode == "message":
            msg = replace(msg, tag=self._tag(encoded, f"message tag {self.party}"))
        else:
            self._out += encoded
        self._channel._transmit(msg)

    def recv(self, kind: str) -> NDArray[np.int64] | NDArray[np.uint8]:
        """Receive the next message, which must be of ``kind``; return its array.

        Raises
        ------
        AuthenticationError
            If no message arrived (dropped), or it is out of sequence, of another kind
            (reordered, replayed, injected) or, in per-message mode, its tag fails.
        """
        msg = self._next(kind_prefix=kind, exact=True)
        return _decode_authentic(msg)

    def recv_prefix(self, prefix: str) -> tuple[str, NDArray[np.int64] | NDArray[np.uint8]]:
        """Receive the next message whose kind starts with ``prefix``; return (kind, array)."""
        msg = self._next(kind_prefix=prefix, exact=False)
        return msg.kind, _decode_authentic(msg)

    def pending(self) -> int:
        """Messages waiting to be read by this endpoint."""
        return len(self._channel._queue(self.party))

    def _next(self, *, kind_prefix: str, exact: bool) -> Message:
        queue = self._channel._queue(self.party)
        if not queue:
            raise AuthenticationError(
                f"{self.party} expected a {kind_prefix!r} message from {self.peer} and none "
                "arrived (dropped in transit)"
            )
        msg = queue.popleft()
        ok_kind = msg.kind == kind_prefix if exact else msg.kind.startswith(kind_prefix)
        if msg.sender != self.peer or msg.seq != self._received or not ok_kind:
            raise AuthenticationError(
                f"{self.party} received message #{msg.seq} of kind {msg.kind!r} from "
                f"{msg.sender} while expecting #{self._received} of kind {kind_prefix!r} "
                f"from {self.peer} (dropped, reordered, replayed or injected)"
            )
        self._accept(msg)
        return msg

    def _accept(self, msg: Message) -> None:
        self._received += 1
        encoded = msg.encode()
        if self._channel.mode == "message":
            expected = self._tag(encoded, f"message tag {self.peer}")
            if not hmac.compare_digest(expected, msg.tag):
                raise AuthenticationError(
                    f"authentication tag of message #{msg.seq} ({msg.kind!r}) from "
                    f"{self.peer} does not verify"
                )
        else:
            self._in += encoded

    def drain(self) -> None:
        """Read every pending message into the transcript (used before an abort check)."""
        queue = self._channel._queue(self.party)
        while queue and queue[0].kind != "auth-tag":
            msg = queue.popleft()
            if msg.sender != self.peer or msg.seq != self._received:
                raise AuthenticationError(
                    f"{self.party} found message #{msg.seq} from {msg.sender} out of sequence"
                )
            self._accept(msg)

    # -- authentication -----------------------------------------------------------------

    def _tag(self, data: bytes, purpose: str) -> bytes:
        pad = self.pool.draw_int(TAG_BITS, purpose).to_bytes(TAG_BYTES, "big")
        return self._mac.tag(data, pad)

    def _segment(self, stage: str, number: int, direction: str, body: bytes | bytearray) -> bytes:
        header = f"checkpoint {number} {stage} {direction}".encode()
        return struct.pack(">H", len(header)) + header + bytes(body)

    def send_checkpoint_tag(self, stage: str, number: int) -> None:
        """Send a tag over everything sent since the previous checkpoint."""
        seg = self._segment(stage, number, f"{self.party}->{self.peer}", self._out)
        tag = self._tag(seg, f"checkpoint {stage} {self.party}->{self.peer}")
        self._out = bytearray()
        self._channel._transmit(
            Message(seq=-1 & 0xFFFFFFFF, sender=self.party, kind="auth-tag", payload=tag)
        )

    def verify_checkpoint_tag(self, stage: str, number: int) -> None:
        """Verify the peer's tag over everything received since the previous checkpoint.

        Raises
        ------
        AuthenticationError
            If the tag is missing, preceded by unread messages, or does not verify.
        """
        queue = self._channel._queue(self.party)
        if not queue:
            raise AuthenticationError(
                f"checkpoint {stage!r}: no authentication tag arrived from {self.peer}"
            )
        msg = queue.popleft()
        if msg.kind != "auth-tag" or msg.sender != self.peer:
            raise AuthenticationError(
                f"checkpoint {stage!r}: expected the authentication tag from {self.peer}, got "
                f"message of kind {msg.kind!r} (replayed or injected traffic)"
            )
        seg = self._segment(stage, number, f"{self.peer}->{self.party}", self._in)
        expected = self._tag(seg, f"checkpoint {stage} {self.peer}->{self.party}")
        self._in = bytearray()
        if not hmac.compare_digest(expected, msg.payload):
            raise AuthenticationError(
                f"checkpoint {stage!r}: the transcript from {self.peer} fails authentication "
                "(a message was tampered with, dropped, reordered or replayed)"
            )


class ClassicalChannel:
    """An authenticated, counted classical channel with an endpoint for each party.

    Parameters
    ----------
    auth_alice, auth_bob
        Each party's own authentication key pool (separate objects holding the same
        pre-shared or replenished key).
    mode
        ``"stage"`` (delayed authentication, one tag per direction per checkpoint; the
        default) or ``"message"`` (one tag per message).
    adversary
        Optional man-in-the-middle seam called on every message in transit.

    Raises
    ------
    ValueError
        For an unknown ``mode`` or the same pool object given for both parties.
    KeyExhaustedError
        If a pool cannot pay for the hash key.

    Example
    -------
    >>> a, b = AuthKeyPool.pre_shared(1024, seed=1)
    >>> ch = ClassicalChannel(a, b)
    >>> ch.alice.send("hello", np.array([1, 0, 1], dtype=np.uint8))
    >>> ch.bob.recv("hello").tolist()
    [1, 0, 1]
    >>> ch.checkpoint("greeting")
    >>> ch.stats.round_trips
    1
    """

    def __init__(
        self,
        auth_alice: AuthKeyPool,
        auth_bob: AuthKeyPool,
        *,
        mode: Literal["stage", "message"] = "stage",
        adversary: Adversary | None = None,
    ) -> None:
        if mode not in ("stage", "message"):
            raise ValueError(f"mode must be 'stage' or 'message', got {mode!r}")
        if auth_alice is auth_bob:
            raise ValueError("auth_alice and auth_bob must be separate pool objects")
        self.mode = mode
        self.adversary = adversary
        self.stats = ChannelStats()
        self._queues: dict[str, deque[Message]] = {"alice": deque(), "bob": deque()}
        self._last_sender: str | None = None
        self._checkpoints = 0
        self.alice = Endpoint(self, "alice", auth_alice)
        self.bob = Endpoint(self, "bob", auth_bob)

    def __repr__(self) -> str:
        return (
            f"ClassicalChannel(mode={self.mode!r}, messages={self.stats.messages}, "
            f"round_trips={self.stats.round_trips})"
        )

    def _queue(self, party: str) -> deque[Message]:
        return self._queues[party]

    def _transmit(self, msg: Message) -> None:
        st = self.stats
        if msg.kind == "auth-tag":
            st.tag_messages += 1
        else:
            st.messages[msg.sender] += 1
        st.payload_bits[msg.sender] += 8 * (len(msg.payload) + len(msg.tag))
        if msg.sender != self._last_sender:
            st.direction_changes += 1
            self._last_sender = msg.sender
        delivered = [msg] if self.adversary is None else list(self.adversary(msg))
        receiver = "bob" if msg.sender == "alice" else "alice"
        self._queues[receiver].extend(delivered)

    @property
    def auth_bits_used(self) -> int:
        """Authentication bits Alice's endpoint spent (Bob's spends the same amount)."""
        return self.alice.auth_bits_used

    def checkpoint(self, stage: str) -> None:
        """Authenticate both transcripts since the previous checkpoint (stage mode).

        Alice tags her outgoing transcript and Bob verifies it, then the reverse. Does
        nothing in per-message mode (every message was verified on receipt).

        Raises
        ------
        AuthenticationError
            If either direction fails.
        """
        if self.mode == "message":
            return
        self._checkpoints += 1
        self.stats.checkpoints += 1
        n = self._checkpoints
        self.alice.send_checkpoint_tag(stage, n)
        self.bob.verify_checkpoint_tag(stage, n)
        self.bob.send_checkpoint_tag(stage, n)
        self.alice.verify_checkpoint_tag(stage, n)

    def settle(self, stage: str) -> None:
        """Before acting on a failure mid-stage: read pending messages, then authenticate.

        Raises AuthenticationError if the traffic so far was not authentic.
        """
        self.alice.drain()
        self.bob.drain()
        self.checkpoint(stage)
