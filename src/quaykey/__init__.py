"""quaykey: simulate, operate and use a trusted-relay QKD network for ports and customs.

Layers, in data-path order: :mod:`quaykey.physics` (links) → :mod:`quaykey.postproc`
(keys) → :mod:`quaykey.network` (pools, relay) → :mod:`quaykey.kms` (ETSI GS QKD 014)
→ :mod:`quaykey.logistics` (applications). See ``docs/architecture.md``.
"""

from __future__ import annotations

from quaykey.errors import (
    AuthenticationError,
    KeyExhaustedError,
    KmsError,
    NetworkError,
    PostprocError,
    QuaykeyError,
    SecurityAbortError,
)
from quaykey.records import AliceRecord, BobRecord, PublicProtocol

__version__ = "0.1.0"

__all__ = [
    "AliceRecord",
    "AuthenticationError",
    "BobRecord",
    "KeyExhaustedError",
    "KmsError",
    "NetworkError",
    "PostprocError",
    "PublicProtocol",
    "QuaykeyError",
    "SecurityAbortError",
    "__version__",
]
