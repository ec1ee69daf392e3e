"""Secure messaging for SAEs over ETSI GS QKD 014 keys: otp, aes and hybrid protection.

An application names its peer SAE and a message type (and the cargo's HS codes); the
:class:`Policy` picks the protection class and :class:`SecureChannel` gets keys from the
SAE's own KME (*Get key* as master, *Get key with key IDs* as slave) and returns or opens
an :class:`Envelope`:

* ``otp``: one-time pad + one-time Wegman–Carter tag (information-theoretic);
* ``aes``: AES-256-GCM under KME keys rolled every N messages or T seconds;
* ``hybrid``: AES-256-GCM under a ConcatKDF (ETSI TS 103 744 style) of a QKD key and an
  ML-KEM-768 (FIPS 203) shared secret.

Receivers refuse tampered, replayed, reordered, misaddressed, stale and downgraded
envelopes (persisted in SQLite); ``otp`` traffic waits in a bounded persistent queue when
key runs short and is never sent under a weaker class. :class:`KmeKeySource` is the
``take``/``lookup`` key interface for per-entry one-time MACs.
"""

from __future__ import annotations

from quaykey.errors import (
    REJECT_REASONS,
    KeyShortageError,
    MessageQueuedError,
    MessageRejectedError,
    OtpQueueFullError,
)
from quaykey.logistics.sdk.channel import SecureChannel
from quaykey.logistics.sdk.envelope import PROTECTION_CLASSES, Envelope, decode_envelope
from quaykey.logistics.sdk.keysource import KeyLimits, KeySource, KmeKeySource
from quaykey.logistics.sdk.policy import DEFAULT_POLICY, Policy
from quaykey.logistics.sdk.protect import derive_hybrid_key, hybrid_context
from quaykey.logistics.sdk.session import ReceivedMessage
from quaykey.logistics.sdk.store import ChannelStore, QueuedMessage, QueueReport

__all__ = [
    "DEFAULT_POLICY",
    "PROTECTION_CLASSES",
    "REJECT_REASONS",
    "ChannelStore",
    "Envelope",
    "KeyLimits",
    "KeyShortageError",
    "KeySource",
    "KmeKeySource",
    "MessageQueuedError",
    "MessageRejectedError",
    "OtpQueueFullError",
    "Policy",
    "QueueReport",
    "QueuedMessage",
    "ReceivedMessage",
    "SecureChannel",
    "decode_envelope",
    "derive_hybrid_key",
    "hybrid_context",
]
