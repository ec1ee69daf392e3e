"""Errors of the secure-messaging SDK, placed under the project's error tree.

::

    AuthenticationError
    └── MessageRejectedError      (``reason``: why an envelope was refused)
    KeyExhaustedError
    ├── KeyShortageError          (the KME could not supply key for aes/hybrid: not sent)
    ├── MessageQueuedError        (otp message waits in the persistent queue: not sent yet)
    └── OtpQueueFullError         (the otp queue is full: message refused, not stored)

Messages carry key IDs, SAE IDs and counts, never key material.
"""

from __future__ import annotations

from quaykey.errors import AuthenticationError, KeyExhaustedError

__all__ = [
    "REJECT_REASONS",
    "KeyShortageError",
    "MessageQueuedError",
    "MessageRejectedError",
    "OtpQueueFullError",
]

#: Every reason a receiver refuses an envelope (the keys of the rejection counters).
REJECT_REASONS = (
    "malformed",
    "misaddressed",
    "clock_skew",
    "policy_downgrade",
    "replayed",
    "reordered",
    "key_rejected",
    "authentication",
)


class MessageRejectedError(AuthenticationError):
    """An envelope was refused; ``reason`` is one of :data:`REJECT_REASONS`.

    Examples
    --------
    >>> MessageRejectedError("replayed", "sequence 3 from 'terminal' already accepted").reason
    'replayed'
    """

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"reason must be one of {REJECT_REASONS}, got {reason!r}")
        super().__init__(f"envelope rejected ({reason}): {detail}")
        self.reason = reason


class KeyShortageError(KeyExhaustedError):
    """The KME could not supply key for an ``aes`` or ``hybrid`` message; nothing was sent."""


class MessageQueuedError(KeyExhaustedError):
    """Key ran short: the ``otp`` message was stored in the persistent queue, not sent.

    ``queue_id`` identifies it; :meth:`SecureChannel.flush_queue` sends it when key arrives.
    """

    def __init__(self, queue_id: int, peer: str, detail: str) -> None:
        super().__init__(f"otp message {queue_id} to {peer!r} queued: {detail}")
        self.queue_id = queue_id
        self.peer = peer


class OtpQueueFullError(KeyExhaustedError):
    """The persistent ``otp`` queue holds its maximum; the message was refused, not stored."""
