"""The KME web application and its uvicorn server (HTTPS with mutual TLS).

:func:`create_app` builds the FastAPI app for one node's settings; :func:`server_config`
builds the uvicorn configuration (client certificate required, trusted CA from the
settings, :func:`~quaykey.kms.tls.http_protocol` so routes see the client certificate and
each connection is held to the ``http`` limits). Every request passes
:func:`~quaykey.kms.api.guard.guard_request` (body, header and query limits) before the fast
path or FastAPI sees it. ``/docs`` and ``/redoc`` are off (they would load their scripts
from a CDN); ``/openapi.json`` stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quaykey.errors import KmsError
from quaykey.kms.api.fast import try_fast
from quaykey.kms.api.guard import guard_request, log_access
from quaykey.kms.config import KmeSettings
from quaykey.kms.periodic import RepeatedFailure
from quaykey.kms.service import KmeService
from quaykey.kms.tls import http_protocol

__all__ = ["ThreadedKme", "create_app", "server_config"]

log = logging.getLogger("quaykey.kms")


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return JSONResponse(status_code=status, content=body)


class _KmeApp(FastAPI):
    """FastAPI behind the request guard, with the fast path answering the two hot requests."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self.state.access_log:
                send = log_access(scope, send)
            guarded = await guard_request(scope, receive, send, self.state.settings.http)
            if guarded is None:
                return
            receive = guarded
            if await try_fast(self.state.service, scope, send):
                return
        await super().__call__(scope, receive, send)


def create_app(settings: KmeSettings, service: KmeService | None = None) -> FastAPI:
    """Build the KME app for one node.

    Parameters
    ----------
    settings : KmeSettings
        This node's settings.
    service : KmeService or None
        An already-open service (default: opened from ``settings``; fails closed if the
        master key does not open the database).

    Returns
    -------
    FastAPI
    """
    svc = service or KmeService.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def expiry_loop() -> None:
            report = RepeatedFailure("expiry pass")
            while True:
                await asyncio.sleep(settings.limits.expiry_interval_s)
                try:
                    await asyncio.to_thread(svc.expire)
                except Exception:
                    report.failed()
                else:
                    report.succeeded()

        task = asyncio.create_task(expiry_loop())
        svc.start_stock()
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(svc.stop_stock)
            svc.close()

    app = _KmeApp(
        title=f"quaykey KME {settings.kme_id}",
        version="1.1.1",
        description=(
            "ETSI GS QKD 014 V1.1.1 key delivery API. The caller's SAE ID is taken from its "
            "TLS client certificate. Sizes are in bits; keys are base64."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = svc
    app.state.settings = settings
    app.state.access_log = False

    from quaykey.kms.api import etsi, health, relay

    app.include_router(etsi.router)
    app.include_router(relay.router)
    app.include_router(health.router)

    _install_error_handlers(app)
    _install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error becomes the ETSI ``Error`` JSON body with a status ETSI 014 defines."""

    @app.exception_handler(KmsError)
    async def _kms_error(_request: Request, exc: KmsError) -> JSONResponse:
        return _error(exc.status_code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "error": str(e.get("msg", ""))}
            for e in exc.errors()[:10]
        ]
        return _error(400, "bad request format", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # ETSI 014 defines only 400, 401 and 503: under /api/v1/ a path or method that
        # matches no route (e.g. an SAE ID with a control character) is a bad request.
        if request.url.path.startswith("/api/v1/") and exc.status_code in (404, 405):
            return _error(400, "bad request format", [{"path": "no such resource or method"}])
        status = exc.status_code if exc.status_code in (400, 401, 404, 405) else 503
        return _error(status, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s while serving a request", type(exc).__name__)
        return _error(503, "error on server side")


def _install_openapi(app: FastAPI) -> None:
    """The OpenAPI document without FastAPI's 422 answers (the KME answers 400)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for item in schema.get("paths", {}).values():
            for op in item.values():
                op.get("responses", {}).pop("422", None)
        comps = schema.get("components", {}).get("schemas", {})
        comps.pop("HTTPValidationError", None)
        comps.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def server_config(
    app: FastAPI, settings: KmeSettings, *, log_level: str = "warning", access_log: bool = False
) -> uvicorn.Config:
    """uvicorn configuration serving ``app`` over HTTPS with a required client certificate.

    Parameters
    ----------
    app : FastAPI
        From :func:`create_app`.
    settings : KmeSettings
        Supplies address and TLS files.
    log_level : str
        uvicorn log level.
    access_log : bool
        Whether to log each request on ``quaykey.kms.access``: the caller named by its
        certificate, method, path, status (paths carry SAE and key IDs, never keys).

    Returns
    -------
    uvicorn.Config
    """
    app.state.access_log = access_log
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls.server_cert),
        ssl_keyfile=str(settings.tls.server_key),
        ssl_ca_certs=str(settings.tls.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        http=http_protocol(settings.http),
        h11_max_incomplete_event_size=settings.http.max_header_bytes,
        log_level=log_level,
        access_log=False,
        # no proxy in front of a KME: X-Forwarded-* headers are not trusted (and not parsed)
        proxy_headers=False,
        lifespan="on",
        timeout_keep_alive=30,
    )


class ThreadedKme:
    """A KME served by uvicorn on a background thread (tests, benchmarks, demos).

    Parameters
    ----------
    settings : KmeSettings
        This node's settings; ``settings.port`` is ignored when ``sock`` is given.
    sock : socket.socket or None
        An already-bound listening socket (lets callers pick ephemeral ports first).
    service : KmeService or None
        An already-open service.
    access_log : bool
        Log each request on ``quaykey.kms.access``.
    """

    def __init__(
        self,
        settings: KmeSettings,
        sock: Any = None,
        service: KmeService | None = None,
        *,
        access_log: bool = False,
    ):
        import threading

        self.settings = settings
        self.app = create_app(settings, service)
        self.service: KmeService = self.app.state.service
        self.server = uvicorn.Server(server_config(self.app, settings, access_log=access_log))
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name=f"kme-{settings.node}", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self._sock] if self._sock is not None else None)

    def start(self, timeout_s: float = 20.0) -> ThreadedKme:
        """Start serving; returns once the server accepts connections."""
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"KME {self.settings.node} did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout_s)
