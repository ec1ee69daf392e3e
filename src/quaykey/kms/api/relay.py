"""KME-to-KME relay routes (``/kme/v1/relay/...``), reachable only with a KME certificate."""

from __future__ import annotations

from fastapi import APIRouter

from quaykey.kms.api.deps import Caller, Service
from quaykey.kms.schemas import RelayAck, RelayDecision, RelayReserve

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1/relay", include_in_schema=False)


@router.post("/reserve", response_model=RelayAck)
def reserve(msg: RelayReserve, caller: Caller, service: Service) -> RelayAck:
    """Receive one relay hop and reserve the keys here or forward them."""
    return service.relay_reserve(caller, msg)


@router.post("/confirm", response_model=RelayAck)
def confirm(msg: RelayDecision, caller: Caller, service: Service) -> RelayAck:
    """Confirm a reservation so the slave can fetch the keys."""
    return service.relay_decide(caller, msg, confirm=True)


@router.post("/void", response_model=RelayAck)
def void(msg: RelayDecision, caller: Caller, service: Service) -> RelayAck:
    """Void a reservation."""
    return service.relay_decide(caller, msg, confirm=False)
