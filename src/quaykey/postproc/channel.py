"""The authenticated, counted classical channel between Alice and Bob.

Each party holds one :class:`Endpoint`; what travels is a
:class:`~quaykey.postproc.wire.Message` of a :class:`~quaykey.postproc.wire.MessageKind`,
paid for from each party's own :class:`~quaykey.postproc.authpool.AuthKeyPool`.

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
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import AuthenticationError
from quaykey.mac import TAG_BITS, TAG_BYTES, RecyclingMac
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.wire import Message, MessageKind, Party, decode_array, encode_array

# AuthKeyPool lives in quaykey.postproc.authpool; it is named here too because the network
# and the command line create pools next to the channel that spends them.
__all__ = [
    "TAG_BITS",
    "Adversary",
    "AuthKeyPool",
    "ChannelStats",
    "ClassicalChannel",
    "Endpoint",
    "Received",
]

#: ``adversary(message) -> messages to deliver`` (empty drops, several replay).
Adversary = Callable[[Message], Sequence[Message]]


class Received(NamedTuple):
    """A message read from the channel: its kind, request name (if any) and array."""

    kind: MessageKind
    request: str
    payload: NDArray[np.int64] | NDArray[np.uint8]

    def __repr__(self) -> str:
        return f"Received(kind={self.kind.name}, request={self.request!r})"


def _expected(kinds: tuple[MessageKind, ...], request: str | None) -> str:
    """How an error message names the kind a party waited for."""
    if request is None:
        return " or ".join(k.name for k in kinds)
    return kinds[0].wire_name(request)


def _decode_authentic(msg: Message) -> NDArray[np.int64] | NDArray[np.uint8]:
    """Decode a payload; an honest peer never sends a malformed one, so that is tampering."""
    try:
        return decode_array(msg.payload)
    except ValueError as exc:
        raise AuthenticationError(
            f"message #{msg.seq} ({msg.wire_kind!r}) from {msg.sender} is malformed: "
            "altered in transit"
        ) from exc


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
        self._mac = RecyclingMac(
            pool.draw_int(TAG_BITS, "wegman-carter hash key").to_bytes(TAG_BYTES, "big")
        )
        self._sent = 0
        self._received = 0
        self._out = bytearray()
        self._in = bytearray()

    def __repr__(self) -> str:
        return f"Endpoint(party={self.party!r}, sent={self._sent}, received={self._received})"

    # -- plain traffic ------------------------------------------------------------------

    def send(
        self,
        kind: MessageKind,
        payload: NDArray[np.int64] | NDArray[np.uint8],
        *,
        request: str = "",
    ) -> None:
        """Send one array to the peer (``request``: the reconciler's request name, for
        :attr:`~MessageKind.EC_REQUEST` and :attr:`~MessageKind.EC_REPLY` only)."""
        msg = Message(
            seq=self._sent,
            sender=self.party,
            kind=kind,
            payload=encode_array(payload),
            request=request,
        )
        self._sent += 1
        encoded = msg.encode()
        if self._channel.mode == "message":
            msg = replace(msg, tag=self._tag(encoded, f"message tag {self.party}"))
        else:
            self._out += encoded
        self._channel._transmit(msg)

    def recv(
        self, kind: MessageKind, *, request: str = ""
    ) -> NDArray[np.int64] | NDArray[np.uint8]:
        """Receive the next message, which must be of ``kind`` (and ``request``); return its
        array.

        Raises
        ------
        AuthenticationError
            If no message arrived (dropped), or it is out of sequence, of another kind
            (reordered, replayed, injected) or, in per-message mode, its tag fails.
        """
        return _decode_authentic(self._next((kind,), request))

    def recv_one_of(self, *kinds: MessageKind) -> Received:
        """Receive the next message, which must be of one of ``kinds`` (any request name).

        Raises
        ------
        AuthenticationError
            As :meth:`recv`.
        """
        msg = self._next(kinds, None)
        return Received(kind=msg.kind, request=msg.request, payload=_decode_authentic(msg))

    def _next(self, kinds: tuple[MessageKind, ...], request: str | None) -> Message:
        """The next message, if it is the expected one (``request=None``: any request name)."""
        queue = self._channel._queue(self.party)
        if not queue:
            raise AuthenticationError(
                f"{self.party} expected a {_expected(kinds, request)!r} message from "
                f"{self.peer} and none arrived (dropped in transit)"
            )
        msg = queue.popleft()
        if (
            msg.sender != self.peer
            or msg.seq != self._received
            or msg.kind not in kinds
            or (request is not None and msg.request != request)
        ):
            raise AuthenticationError(
                f"{self.party} received message #{msg.seq} of kind {msg.wire_kind!r} from "
                f"{msg.sender} while expecting #{self._received} of kind "
                f"{_expected(kinds, request)!r} from {self.peer} (dropped, reordered, "
                "replayed or injected)"
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
                    f"authentication tag of message #{msg.seq} ({msg.wire_kind!r}) from "
                    f"{self.peer} does not verify"
                )
        else:
            self._in += encoded

    def drain(self) -> None:
        """Read every pending message into the transcript (used before an abort check)."""
        queue = self._channel._queue(self.party)
        while queue and queue[0].kind is not MessageKind.AUTH_TAG:
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
            Message(seq=-1 & 0xFFFFFFFF, sender=self.party, kind=MessageKind.AUTH_TAG, payload=tag)
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
        if msg.kind is not MessageKind.AUTH_TAG or msg.sender != self.peer:
            raise AuthenticationError(
                f"checkpoint {stage!r}: expected the authentication tag from {self.peer}, got "
                f"message of kind {msg.wire_kind!r} (replayed or injected traffic)"
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
    >>> ch.alice.send(MessageKind.SIFT_BASES, np.array([1, 0, 1], dtype=np.uint8))
    >>> ch.bob.recv(MessageKind.SIFT_BASES).tolist()
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
        if msg.kind is MessageKind.AUTH_TAG:
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
