"""The quaykey error tree: every domain error of every layer, in one place.

A caller's mistake (a bad argument) raises :class:`ValueError` or :class:`TypeError`
with a message naming the parameter. A *domain condition* (an eavesdropper detected,
a forged message, a pool that ran dry, a KME refusing a request) raises a
:class:`QuaykeyError` subclass::

    QuaykeyError
    ├── KeyExhaustedError            (a pool cannot supply the requested key bits:
    │   │                             authentication pool, link pool or KME store)
    │   ├── KeyShortageError         (no key for an aes/hybrid message: nothing sent)
    │   ├── MessageQueuedError       (no key: the otp message waits in the persistent queue)
    │   └── OtpQueueFullError        (the otp queue is full: message refused, not stored)
    ├── PostprocError                (the block yields no key)
    │   ├── AcceleratorUnavailableError (a GPU decoder was asked for; no CuPy or no GPU)
    │   ├── SecurityAbortError       (QBER over threshold, no positive key length)
    │   ├── AuthenticationError      (tampered, dropped, reordered or replayed message)
    │   │   ├── MessageRejectedError (an application envelope refused; ``reason`` says why)
    │   │   └── TelemetryRejectedError (a sensor frame refused at the IoT gateway; ``reason``)
    │   └── VerificationError        (reconciled frames differ after the hash check)
    ├── NetworkError
    │   ├── TopologyError            (bad topology file or preset)
    │   └── NoRouteError             (no path between two nodes)
    ├── LogisticsError               (a trade application refuses a record)
    │   ├── DcsaValidationError      (a payload breaks a DCSA schema; carries the DCSA error object)
    │   ├── InvalidInterchangeError  (an EDIFACT interchange fails validation; also a ValueError)
    │   └── LedgerIntegrityError     (a ledger entry or signed tree head fails a check; names the
    │       │                         entry index)
    │       └── EquivocationError    (a participant signed two different histories)
    └── KmsError                     (carries ``status_code``, ``message``, ``details``)
        ├── KmsBadRequestError       400  (malformed or unsatisfiable request)
        │   └── KeyNotFoundError     400  (key IDs unknown, consumed or expired)
        ├── KmsUnauthorizedError     401  (unknown SAE, wrong slave, pair not provisioned)
        ├── KmsUnavailableError      503  (server-side condition)
        │   ├── KmsKeyExhaustedError 503  (not enough key, or a quota reached; also a
        │   │                              KeyExhaustedError)
        │   ├── RelayFailedError     503  (a KME on the path could not reserve the key)
        │   └── AuditUnavailableError 503 (the audit record could not be written)
        ├── MasterKeyError           (master key file missing, malformed or wrong)
        ├── KmeClientError           (a KME answered an SAE with an error status)
        └── KmeIdentityError         (a KME's certificate names another KME ID)

KMS errors map onto ETSI GS QKD 014 status codes through ``status_code``; the API layer
turns them into an ``Error`` JSON body. Messages never carry key material. Security
checks raise; they never return ``False``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "REJECT_REASONS",
    "TELEMETRY_REJECT_REASONS",
    "AcceleratorUnavailableError",
    "AuditUnavailableError",
    "AuthenticationError",
    "DcsaValidationError",
    "EquivocationError",
    "InvalidInterchangeError",
    "KeyExhaustedError",
    "KeyNotFoundError",
    "KeyShortageError",
    "KmeClientError",
    "KmeIdentityError",
    "KmsBadRequestError",
    "KmsError",
    "KmsKeyExhaustedError",
    "KmsUnauthorizedError",
    "KmsUnavailableError",
    "LedgerIntegrityError",
    "LogisticsError",
    "MasterKeyError",
    "MessageQueuedError",
    "MessageRejectedError",
    "NetworkError",
    "NoRouteError",
    "OtpQueueFullError",
    "PostprocError",
    "QuaykeyError",
    "RelayFailedError",
    "SecurityAbortError",
    "TelemetryRejectedError",
    "TopologyError",
    "VerificationError",
]


class QuaykeyError(Exception):
    """Root of every domain error raised by quaykey."""


class KeyExhaustedError(QuaykeyError):
    """A key pool (authentication, link or KME store) cannot supply the requested bits."""


class PostprocError(QuaykeyError):
    """Post-processing of a block failed; the block yields no key."""


class AcceleratorUnavailableError(PostprocError):
    """A GPU decoder was asked for, but CuPy is not installed or sees no CUDA device."""


class SecurityAbortError(PostprocError):
    """The block is not secure (QBER above threshold or no positive key length).

    ``reason`` says why; ``qber_z`` is the test-basis QBER the block disclosed before it
    aborted (public; ``None`` when the abort came before estimation).
    """

    def __init__(self, reason: str, *, qber_z: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.qber_z = qber_z


class AuthenticationError(PostprocError):
    """A classical message failed authentication (tampered, dropped, reordered or replayed)."""


class VerificationError(PostprocError):
    """The two reconciled frames differ after the verification hash."""


class NetworkError(QuaykeyError):
    """A network-layer condition (topology, routing)."""


class TopologyError(NetworkError):
    """A topology file or preset is invalid."""


class NoRouteError(NetworkError):
    """No path joins the two nodes."""


class LogisticsError(QuaykeyError):
    """A trade application (DCSA payloads, the ledger) refuses a record."""


class DcsaValidationError(LogisticsError):
    """A payload breaks a DCSA schema; ``error`` is the DCSA error object naming the field."""

    def __init__(self, message: str, error: dict[str, Any]) -> None:
        super().__init__(message)
        self.error = error


class LedgerIntegrityError(LogisticsError):
    """A ledger entry or signed tree head fails a check; ``index`` names the entry (1-based)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class EquivocationError(LedgerIntegrityError):
    """A participant signed two tree heads that no single append-only history explains."""


class InvalidInterchangeError(LogisticsError, ValueError):
    """An EDIFACT interchange failed validation; ``problems`` lists why."""

    def __init__(self, message_type: str, problems: list[Any]) -> None:
        self.problems = problems
        shown = "; ".join(
            f"segment {p.position}: {p.text}" if p.position else p.text for p in problems[:5]
        )
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid {message_type} interchange: {shown}{more}")


#: Every reason a receiver refuses an application envelope (keys of the rejection counters).
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
    """An application envelope was refused; ``reason`` is one of :data:`REJECT_REASONS`.

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


#: Every reason the IoT gateway refuses a sensor frame (keys of its rejection counters).
TELEMETRY_REJECT_REASONS = (
    "malformed",
    "unknown_device",
    "replayed",
    "tampered",
    "invalid",
    "forward_failed",
)


class TelemetryRejectedError(AuthenticationError):
    """A sensor frame was refused; ``reason`` is one of :data:`TELEMETRY_REJECT_REASONS`.

    Examples
    --------
    >>> TelemetryRejectedError("replayed", "counter 3 of 'reefer-001' not above 7").reason
    'replayed'
    """

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in TELEMETRY_REJECT_REASONS:
            raise ValueError(f"reason must be one of {TELEMETRY_REJECT_REASONS}, got {reason!r}")
        super().__init__(f"telemetry rejected ({reason}): {detail}")
        self.reason = reason


class KeyShortageError(KeyExhaustedError):
    """The KME could not supply key for an ``aes`` or ``hybrid`` message; nothing was sent."""


class MessageQueuedError(KeyExhaustedError):
    """Key ran short: the ``otp`` message was stored in the persistent queue, not sent.

    ``queue_id`` identifies it; the channel's ``flush_queue`` sends it when key arrives.
    """

    def __init__(self, queue_id: int, peer: str, detail: str) -> None:
        super().__init__(f"otp message {queue_id} to {peer!r} queued: {detail}")
        self.queue_id = queue_id
        self.peer = peer


class OtpQueueFullError(KeyExhaustedError):
    """The persistent ``otp`` queue holds its maximum; the message was refused, not stored."""


class KmsError(QuaykeyError):
    """A Key Management Entity condition, with the HTTP status it answers with."""

    status_code: int = 503

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class KmsBadRequestError(KmsError):
    """The request is malformed or asks for something the KME does not offer (HTTP 400)."""

    status_code = 400


class KeyNotFoundError(KmsBadRequestError):
    """One or more requested key IDs are not available to the caller (HTTP 400)."""

    def __init__(self) -> None:
        super().__init__("one or more keys specified are not found on KME")


class KmsUnauthorizedError(KmsError):
    """The authenticated caller is not allowed to do this (HTTP 401)."""

    status_code = 401


class KmsUnavailableError(KmsError):
    """A server-side condition prevents serving the request (HTTP 503)."""

    status_code = 503


class KmsKeyExhaustedError(KmsUnavailableError, KeyExhaustedError):
    """Not enough key material (or a quota reached); nothing was consumed (HTTP 503)."""


class RelayFailedError(KmsUnavailableError):
    """A KME on the relay path refused or could not be reached; the relay was voided."""


class AuditUnavailableError(KmsUnavailableError):
    """The audit record could not be written, so the KME delivers nothing (HTTP 503)."""


class MasterKeyError(KmsError):
    """The master key file is missing, malformed, or does not open this database."""


class KmeClientError(KmsError):
    """A KME answered an SAE with an error status; ``status_code`` and ``error`` say why."""

    def __init__(self, status_code: int, error: Any) -> None:
        super().__init__(f"KME answered {status_code}: {error.message}")
        self.status_code = status_code
        self.error = error


class KmeIdentityError(KmsError):
    """The KME's certificate does not name the expected KME ID."""
