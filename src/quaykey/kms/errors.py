"""Errors raised by the Key Management Entity.

Every class maps onto one ETSI GS QKD 014 status code (400, 401 or 503); the API
layer turns them into an ``Error`` JSON body. Messages never carry key material::

    KmsError
    ├── KmsBadRequest        400  (malformed or unsatisfiable request)
    │   └── KeyNotFound      400  (one or more key IDs unknown, consumed or expired)
    ├── KmsUnauthorized      401  (unknown SAE, wrong slave, pair not provisioned)
    └── KmsUnavailable       503  (server-side condition)
        ├── KeyPoolExhausted 503  (not enough key material, or a quota is reached)
        ├── RelayFailed      503  (a KME on the path could not reserve the key)
        └── AuditUnavailable 503  (the audit record could not be written: nothing delivered)
"""

from __future__ import annotations

from typing import Any

from quaykey.errors import KmsError

__all__ = [
    "AuditUnavailable",
    "KeyNotFound",
    "KeyPoolExhausted",
    "KmsBadRequest",
    "KmsUnauthorized",
    "KmsUnavailable",
    "RelayFailed",
]


class _KmsHttpError(KmsError):
    status_code = 503

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class KmsBadRequest(_KmsHttpError):
    """The request is malformed or asks for something the KME does not offer (HTTP 400)."""

    status_code = 400


class KeyNotFound(KmsBadRequest):
    """One or more requested key IDs are not available to the caller (HTTP 400)."""

    def __init__(self) -> None:
        super().__init__("one or more keys specified are not found on KME")


class KmsUnauthorized(_KmsHttpError):
    """The authenticated caller is not allowed to do this (HTTP 401)."""

    status_code = 401


class KmsUnavailable(_KmsHttpError):
    """A server-side condition prevents serving the request (HTTP 503)."""

    status_code = 503


class KeyPoolExhausted(KmsUnavailable):
    """Not enough key material (or a quota reached); nothing was consumed (HTTP 503)."""


class RelayFailed(KmsUnavailable):
    """A KME on the relay path refused or could not be reached; the relay was voided (HTTP 503)."""


class AuditUnavailable(KmsUnavailable):
    """The audit record could not be written, so the KME delivers nothing (HTTP 503)."""
