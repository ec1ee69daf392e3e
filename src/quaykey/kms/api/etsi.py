"""ETSI GS QKD 014 V1.1.1 routes (``/api/v1/keys/...``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from quaykey.kms.api.deps import Caller, Service
from quaykey.kms.schemas import Error, KeyContainer, KeyIDs, KeyRequest, Status

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Bad request format"},
    401: {"model": Error, "description": "Unauthorized"},
    503: {"model": Error, "description": "Error on server side"},
}

router = APIRouter(prefix="/api/v1/keys", tags=["ETSI GS QKD 014"], responses=_ERRORS)


def _json(model: Status | KeyContainer) -> Response:
    # the service built a validated model: serialise it once, without re-validation
    return Response(model.model_dump_json(exclude_none=True), media_type="application/json")


@router.get("/{slave_SAE_ID:path}/status", response_model=Status, response_model_exclude_none=True)
def get_status(slave_SAE_ID: str, caller: Caller, service: Service) -> Response:
    """Get status of the key supply between the calling SAE and the slave SAE."""
    return _json(service.status(caller, slave_SAE_ID))


@router.get(
    "/{slave_SAE_ID:path}/enc_keys", response_model=KeyContainer, response_model_exclude_none=True
)
def get_key_get(
    slave_SAE_ID: str,
    caller: Caller,
    service: Service,
    number: Annotated[int | None, Query()] = None,
    size: Annotated[int | None, Query()] = None,
) -> Response:
    """Get key: new keys for the calling (master) SAE, shared with the slave SAE."""
    return _json(service.get_key(caller, slave_SAE_ID, KeyRequest(number=number, size=size)))


@router.post(
    "/{slave_SAE_ID:path}/enc_keys", response_model=KeyContainer, response_model_exclude_none=True
)
def get_key_post(
    slave_SAE_ID: str,
    caller: Caller,
    service: Service,
    request: Annotated[KeyRequest | None, Body()] = None,
) -> Response:
    """Get key with a Key request body: new keys shared with the slave (and additional slaves)."""
    return _json(service.get_key(caller, slave_SAE_ID, request or KeyRequest()))


@router.get(
    "/{master_SAE_ID:path}/dec_keys", response_model=KeyContainer, response_model_exclude_none=True
)
def get_key_with_key_ids_get(
    master_SAE_ID: str,
    caller: Caller,
    service: Service,
    key_ID: Annotated[str, Query()],
) -> Response:
    """Get key with key IDs for one key ID: the calling (slave) SAE takes the key once."""
    return _json(service.get_key_with_ids(caller, master_SAE_ID, [key_ID]))


@router.post(
    "/{master_SAE_ID:path}/dec_keys", response_model=KeyContainer, response_model_exclude_none=True
)
def get_key_with_key_ids_post(
    master_SAE_ID: str,
    caller: Caller,
    service: Service,
    request: Annotated[KeyIDs, Body()],
) -> Response:
    """Get key with key IDs: the calling (slave) SAE takes the named keys once, all or none."""
    return _json(
        service.get_key_with_ids(caller, master_SAE_ID, [k.key_ID for k in request.key_IDs])
    )
