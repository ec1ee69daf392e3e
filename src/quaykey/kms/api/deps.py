"""Request dependencies: the service and the caller's certificate identity."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from quaykey.kms.pki import Identity, identity_from_der
from quaykey.kms.service import KmeService

__all__ = ["Caller", "Service", "caller_identity", "get_service"]


@lru_cache(maxsize=4096)
def _identity(der: bytes) -> Identity | None:
    return identity_from_der(der)


async def caller_identity(request: Request) -> Identity | None:
    """Identity from the verified client certificate (``None`` if there is none)."""
    tls = request.scope.get("extensions", {}).get("tls")
    if not tls:
        return None
    der = tls.get("quaykey_client_cert_der")
    if not der:
        return None
    return _identity(bytes(der))


async def get_service(request: Request) -> KmeService:
    """The KME service attached to the app."""
    service: KmeService = request.app.state.service
    return service


Caller = Annotated[Identity | None, Depends(caller_identity)]
Service = Annotated[KmeService, Depends(get_service)]
