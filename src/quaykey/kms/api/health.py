"""Liveness and readiness probes (``/healthz``, ``/readyz``), over the same mutual TLS."""

from __future__ import annotations

from fastapi import APIRouter

from quaykey.kms.api.deps import Service

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(service: Service) -> dict[str, str]:
    """Readiness: the key store and the audit log accept a write (rolled back)."""
    service.check_ready()
    return {"status": "ready"}
