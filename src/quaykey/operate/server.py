"""The dashboard server of ``quaykey up``: state, events, metrics, health and actions.

``create_dashboard_app(live)`` builds the FastAPI app the dashboard contract describes:
``GET /api/state`` (:class:`~quaykey.operate.models.State`), ``GET /api/events``
(Server-Sent Events: ``state`` every tick, ``alarm`` when one is raised, ``id`` =
``events_seq``), ``GET /metrics`` (Prometheus text), ``GET /healthz`` and
``POST /api/actions/{action}`` (operator token as ``Authorization: Bearer``). The page
itself comes from :mod:`quaykey.dashboard` when that package is installed.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse

from quaykey.operate.actions import BODIES
from quaykey.operate.live import Live
from quaykey.operate.models import ActionResponse, State

__all__ = ["create_dashboard_app"]

log = logging.getLogger("quaykey.operate.server")

POLL_S = 0.05


def _check_token(live: Live, authorization: str | None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), live.token):
        log.warning("operator action refused: no or wrong token", extra={"event": "auth_refused"})
        raise HTTPException(
            401, "operator token missing or wrong", headers={"WWW-Authenticate": "Bearer"}
        )


def _body_error(action: str, exc: ValidationError) -> JSONResponse:
    detail = [
        {"loc": ["body", *[str(p) for p in e["loc"]]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return JSONResponse({"detail": detail, "action": action}, status_code=422)


def create_dashboard_app(live: Live) -> FastAPI:
    """The FastAPI app serving ``live`` (and the dashboard page, if installed)."""
    app = FastAPI(
        title="quaykey up",
        description="Live QKD network, KMEs and port/customs applications.",
        version="1",
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/api/state", response_model=State)
    def state() -> dict[str, Any]:
        """The whole snapshot (the same JSON as every SSE ``state`` event)."""
        return live.snapshot()

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(live.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/api/events")
    async def events(request: Request) -> EventSourceResponse:
        """Server-Sent Events: ``state`` on every tick, ``alarm`` when raised."""
        last = request.headers.get("last-event-id")
        seq = int(last) if last and last.isdigit() else 0

        async def stream() -> AsyncIterator[dict[str, Any]]:
            nonlocal seq
            if seq == 0:  # a new client gets the present state at once
                snap = live.snapshot()
                seq = snap["events_seq"]
                yield {"event": "state", "id": str(seq), "data": json.dumps(snap)}
            while not await request.is_disconnected():
                for s, kind, data in live.events_after(seq):
                    seq = s
                    yield {"event": kind, "id": str(s), "data": data}
                await asyncio.sleep(POLL_S)

        return EventSourceResponse(stream(), ping=15)

    @app.post(
        "/api/actions/{action}",
        response_model=ActionResponse,
        responses={401: {"description": "no or wrong operator token"},
                   404: {"description": "unknown action"},
                   422: {"description": "bad body (the error names the field)"}},
    )  # fmt: skip
    async def action(
        action: str, request: Request, authorization: str | None = Header(default=None)
    ) -> Any:
        """Operator action (``Authorization: Bearer <token>``), audited."""
        _check_token(live, authorization)
        if action not in BODIES:
            raise HTTPException(404, f"unknown action {action!r}; one of {', '.join(BODIES)}")
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            detail = [{"loc": ["body"], "msg": "body must be a JSON object", "type": "type"}]
            return JSONResponse({"detail": detail, "action": action}, status_code=422)
        try:
            body = BODIES[action].model_validate(raw)
        except ValidationError as exc:
            return _body_error(action, exc)
        try:
            out = await asyncio.to_thread(live.apply, action, body.model_dump())
        except ValueError as exc:
            field, _, msg = str(exc).partition(": ")
            detail = [{"loc": ["body", field], "msg": msg or str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail, "action": action}, status_code=422)
        return out

    try:
        dashboard = importlib.import_module("quaykey.dashboard")
    except ImportError:
        log.info("dashboard page not installed; serving the API only",
                 extra={"event": "no_dashboard"})  # fmt: skip
    else:
        dashboard.mount(app)
    return app
