"""ASGI guard in front of every route: request limits, strict queries, the access log.

Runs before the fast path and FastAPI, on the request head only:

* a ``Content-Length`` over ``max_body_bytes`` is refused with 413 before any body byte is
  read (and the connection closed); a chunked body is read up to the limit, no further;
* more than ``max_header_count`` headers is 431 (the protocol checks sizes as it parses);
* a query parameter given twice under ``/api/v1/`` is 400: ETSI GS QKD 014 defines each
  (``number``, ``size``, ``key_ID``) once, and silently taking one of them would let a
  proxy and the KME read different requests;
* the optional access log names the caller from its certificate (``sae:<id>``,
  ``kme:<node>``), the method, the path and the status; never keys.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from quaykey.kms.config import HttpLimits
from quaykey.kms.pki import Identity, caller_label, identity_from_der

__all__ = ["guard_request", "log_access", "send_error"]

access_log = logging.getLogger("quaykey.kms.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _scope_caller(scope: Scope) -> Identity | None:
    tls = scope.get("extensions", {}).get("tls") or {}
    der = tls.get("quaykey_client_cert_der")
    return identity_from_der(bytes(der)) if der else None


async def send_error(send: Send, status: int, message: str, *, close: bool = False) -> None:
    """Send a complete response with the ETSI ``Error`` body."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _refusal(scope: Scope, limits: HttpLimits) -> tuple[int, str] | None:
    headers = scope["headers"]
    if len(headers) > limits.max_header_count:
        return 431, "request header fields too large or too many"
    for name, value in headers:
        if name == b"content-length":
            try:
                n = int(value)
            except ValueError:
                return 400, "bad request format: invalid Content-Length"
            if n > limits.max_body_bytes:
                return 413, f"request body larger than {limits.max_body_bytes} bytes"
    qs: bytes = scope.get("query_string", b"")
    if b"&" in qs and scope["path"].startswith("/api/v1/"):
        names = [n for n, _v in parse_qsl(qs.decode("latin-1"), keep_blank_values=True)]
        if len(set(names)) != len(names):
            return 400, "a query parameter is repeated; give each one once"
    return None


def _chunked(scope: Scope) -> bool:
    return any(n == b"transfer-encoding" for n, _v in scope["headers"])


async def _bounded_body(receive: Receive, limit: int) -> list[Message] | None:
    """Read a body without a declared length, up to ``limit`` bytes (``None`` if longer)."""
    messages: list[Message] = []
    total = 0
    while True:
        msg = await receive()
        messages.append(msg)
        if msg["type"] != "http.request":
            return messages
        total += len(msg.get("body", b""))
        if total > limit:
            return None
        if not msg.get("more_body", False):
            return messages


async def guard_request(
    scope: Scope, receive: Receive, send: Send, limits: HttpLimits
) -> Receive | None:
    """Refuse a request over the limits (answering it); else the ``receive`` to use.

    Returns ``None`` when the request was answered here.
    """
    refusal = _refusal(scope, limits)
    if refusal is not None:
        await send_error(send, *refusal, close=refusal[0] != 400)
        return None
    if not _chunked(scope):
        return receive
    messages = await _bounded_body(receive, limits.max_body_bytes)
    if messages is None:
        await send_error(
            send, 413, f"request body larger than {limits.max_body_bytes} bytes", close=True
        )
        return None

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def log_access(scope: Scope, send: Send) -> Send:
    """Wrap ``send`` so that the response status is logged with the caller's name."""
    t0 = time.perf_counter()

    async def logged(message: Message) -> None:
        if message["type"] == "http.response.start":
            qs = scope.get("query_string", b"").decode("latin-1")
            access_log.info(
                '%s "%s %s%s" %d %.1fms',
                caller_label(_scope_caller(scope)),
                scope["method"],
                scope["path"],
                f"?{qs}" if qs else "",
                message["status"],
                (time.perf_counter() - t0) * 1e3,
            )
        await send(message)

    return logged
