"""quaykey: simulate, operate and use a trusted-relay QKD network for ports and customs.

Layers, in data-path order: :mod:`quaykey.physics` (links) → :mod:`quaykey.postproc`
(keys) → :mod:`quaykey.network` (pools, relay) → :mod:`quaykey.kms` (ETSI GS QKD 014),
with :mod:`quaykey.cli` (the ``quaykey`` command) on top; the foundation below them is
:mod:`quaykey.errors`, :mod:`quaykey.units`, :mod:`quaykey.records`, :mod:`quaykey.decoy`
and :mod:`quaykey.mac`. See ``docs/architecture.md``.

Licensed under the Apache License, Version 2.0 (``LICENSE``); copyright The quaykey authors.
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
