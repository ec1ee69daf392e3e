"""The quaykey error tree.

A caller's mistake (a bad argument) raises :class:`ValueError` or :class:`TypeError`
with a message naming the parameter. A *domain condition* (an eavesdropper detected,
a forged message, a pool that ran dry) raises a :class:`QuaykeyError` subclass::

    QuaykeyError
    ├── PhysicsError
    ├── PostprocError
    │   ├── SecurityAbort            (QBER over threshold, no positive key length)
    │   ├── AuthenticationError      (tampered, dropped, reordered or replayed message)
    │   ├── ReconciliationError      (decoder failed to converge)
    │   ├── VerificationError        (reconciled frames differ after the hash check)
    │   └── KeyExhaustedError        (authentication key pool cannot pay for a tag)
    ├── NetworkError
    │   ├── TopologyError            (bad topology file or preset)
    │   ├── InsufficientKeyError     (a pool cannot supply the requested bits)
    │   └── NoRouteError             (no path between two nodes)
    ├── KmsError
    └── LogisticsError

Security checks raise; they never return ``False``.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "InsufficientKeyError",
    "KeyExhaustedError",
    "KmsError",
    "LogisticsError",
    "NetworkError",
    "NoRouteError",
    "PhysicsError",
    "PostprocError",
    "QuaykeyError",
    "ReconciliationError",
    "SecurityAbort",
    "TopologyError",
    "VerificationError",
]


class QuaykeyError(Exception):
    """Root of every domain error raised by quaykey."""


class PhysicsError(QuaykeyError):
    """A physical model cannot produce a result for these parameters."""


class PostprocError(QuaykeyError):
    """Post-processing of a block failed; the block yields no key."""


class SecurityAbort(PostprocError):
    """The block is not secure (QBER above threshold or no positive key length)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthenticationError(PostprocError):
    """A classical message failed authentication (tampered, dropped, reordered or replayed)."""


class ReconciliationError(PostprocError):
    """Error correction failed (decoder did not converge)."""


class VerificationError(PostprocError):
    """The two reconciled frames differ after the verification hash."""


class KeyExhaustedError(PostprocError):
    """The authentication key pool has too few bits left to pay for a tag."""


class NetworkError(QuaykeyError):
    """A network-layer condition (topology, pools, routing)."""


class TopologyError(NetworkError):
    """A topology file or preset is invalid."""


class InsufficientKeyError(NetworkError):
    """A key pool cannot supply the requested number of bits."""


class NoRouteError(NetworkError):
    """No path joins the two nodes."""


class KmsError(QuaykeyError):
    """A Key Management Entity condition."""


class LogisticsError(QuaykeyError):
    """A logistics-application condition."""
