"""quaykey: simulate, operate and use a trusted-relay QKD network for ports and customs.

Layers, in data-path order: :mod:`quaykey.physics` (links) → :mod:`quaykey.postproc`
(keys) → :mod:`quaykey.network` (pools, relay) → :mod:`quaykey.kms` (ETSI GS QKD 014),
with :mod:`quaykey.cli` (the ``quaykey`` command) on top; the foundation below them is
:mod:`quaykey.errors`, :mod:`quaykey.units`, :mod:`quaykey.records`, :mod:`quaykey.decoy`
and :mod:`quaykey.mac`. See ``docs/architecture.md``.

Licensed under the Apache License, Version 2.0 (``LICENSE``); copyright The quaykey authors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quaykey.errors import (
    AuthenticationError,
    KeyExhaustedError,
    KmsError,
    NetworkError,
    PostprocError,
    QuaykeyError,
    SecurityAbortError,
)

if TYPE_CHECKING:
    from quaykey.records import AliceRecord, BobRecord, PublicProtocol

__version__ = "0.1.0"

#: Names re-exported from :mod:`quaykey.records`, imported on first use (it needs numpy,
#: which ``quaykey --help`` and other light commands do not).
_LAZY = ("AliceRecord", "BobRecord", "PublicProtocol")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from quaykey import records

        return getattr(records, name)
    raise AttributeError(f"module 'quaykey' has no attribute {name!r}")


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
