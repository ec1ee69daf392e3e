"""Fast path for the two hot ETSI 014 requests, in front of the FastAPI routes.

``GET .../{slave}/enc_keys[?number=&size=]`` and ``GET .../{master}/dec_keys?key_ID=``
are what applications call for every key. FastAPI spends about as much CPU per request
on routing, dependency solving and parameter validation as the KME spends on the key
itself, so :func:`try_fast` answers these two shapes directly: it parses the path and
query, reads the caller from the verified client certificate, runs the same
:class:`~quaykey.kms.service.KmeService` request (a same-node delivery on the event loop,
awaiting the group commit; one that relays or refuses the caller on worker threads), and
writes the same JSON (success and error bodies alike). Every request it does not recognise exactly
(other methods or routes, a body, repeated or unknown query parameters, a non-decimal
``number``, unusual characters in an SAE ID) goes to FastAPI unchanged, so the routes,
their validation and the OpenAPI schema stay the reference.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from quaykey.errors import KmsError
from quaykey.kms.api.deps import _identity
from quaykey.kms.schemas import KeyContainer, KeyRequest
from quaykey.kms.service import KmeService

__all__ = ["try_fast"]

log = logging.getLogger("quaykey.kms")

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_PREFIX = "/api/v1/keys/"
_SAE = re.compile(r"[A-Za-z0-9._~-]{1,256}")
_INT = re.compile(r"[0-9]{1,9}")
_JSON_HEADERS = (b"content-type", b"application/json")

# The service blocks on the commit (fsync), so it runs on worker threads; a plain executor
# costs less per call than anyio's. As many threads as anyio's default limit (40), so that
# up to 40 concurrent requests can share one group commit.
_POOL = ThreadPoolExecutor(max_workers=40, thread_name_prefix="kme-fast")


def _error_body(exc: KmsError) -> bytes:
    import json

    body: dict[str, Any] = {"message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _enc_request(query: list[tuple[str, str]]) -> KeyRequest | None:
    vals: dict[str, int] = {}
    for name, value in query:
        if name not in ("number", "size") or name in vals or not _INT.fullmatch(value):
            return None
        vals[name] = int(value)
    return KeyRequest(number=vals.get("number"), size=vals.get("size"))


async def try_fast(service: KmeService, scope: Scope, send: Send) -> bool:
    """Answer ``scope`` if it is one of the two hot GET requests; ``False`` leaves it alone."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return False
    path: str = scope["path"]
    if not path.startswith(_PREFIX) or scope.get("root_path"):
        return False
    sae, _, op = path[len(_PREFIX) :].rpartition("/")
    if op not in ("enc_keys", "dec_keys") or not _SAE.fullmatch(sae):
        return False
    for name, _value in scope["headers"]:
        if name in (b"content-length", b"transfer-encoding"):
            return False
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    call: Callable[[], KeyContainer]
    lane: Callable[[], Awaitable[bytes | None]]
    tls = scope.get("extensions", {}).get("tls") or {}
    der = tls.get("quaykey_client_cert_der")
    who = _identity(bytes(der)) if der else None
    if op == "enc_keys":
        req = _enc_request(query)
        if req is None:
            return False

        def call() -> KeyContainer:
            return service.get_key(who, sae, req)

        def lane() -> Awaitable[bytes | None]:
            return service.get_key_async(who, sae, req)

    else:
        if len(query) != 1 or query[0][0] != "key_ID":
            return False
        key_ids = [query[0][1]]

        def call() -> KeyContainer:
            return service.get_key_with_ids(who, sae, key_ids)

        def lane() -> Awaitable[bytes | None]:
            return service.get_key_with_ids_async(who, sae, key_ids)

    try:
        # a same-node delivery awaits the group commit on the event loop and gives the
        # JSON body; anything that relays or refuses the caller runs on a worker thread
        body = await lane()
        if body is None:
            container = await asyncio.get_running_loop().run_in_executor(_POOL, call)
            body = container.model_dump_json(exclude_none=True).encode()
        status = 200
    except KmsError as exc:
        status, body = exc.status_code, _error_body(exc)
    except Exception as exc:
        log.error("unexpected %s while serving a request", type(exc).__name__)
        status, body = 503, b'{"message":"error on server side"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return True
