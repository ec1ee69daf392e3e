"""Expose the verified client certificate to the ASGI app when served by uvicorn.

uvicorn does not fill the ASGI TLS extension, so :class:`TlsH11Protocol` (and the
httptools-based :data:`TlsHttpProtocol` when ``httptools`` is installed) reads the peer
certificate from the SSL transport once per connection (asyncio calls ``connection_made``
only after the handshake, when the certificate has been verified) and adds
``scope["extensions"]["tls"]`` with ``client_cert_chain`` (PEM strings, per the ASGI TLS
extension) and ``quaykey_client_cert_der``.

On server shutdown the same protocols close idle keep-alive connections at once with
``transport.abort()``: a plain close sends TLS close_notify and waits for the peer's reply,
which an idle client never sends, so the KME would wait for asyncio's SSL shutdown timeout
(30 s). A connection with a request in flight finishes its response first (uvicorn closes
it after that response); if the client has not closed it :data:`CLOSE_GRACE_S` after the
response was fully flushed, it is aborted too.

:func:`http_protocol` binds a :class:`~quaykey.kms.config.HttpLimits` to the protocol, which
then guards every connection before the app sees a request:

* at most ``max_connections_per_client`` open connections per client certificate (the next
  one gets 503 and is closed);
* a request's headers must arrive within ``header_timeout_s`` of its first byte (or of the
  handshake), authenticated or not (else 408 and close);
* with httptools, at most ``max_header_bytes`` of request line and headers and
  ``max_header_count`` headers (else 431 and close; h11 has its own size limit);
* a malformed request gets the ETSI ``Error`` JSON body (400), not uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from quaykey.kms.config import HttpLimits

__all__ = [
    "CLOSE_GRACE_S",
    "TlsH11Protocol",
    "TlsHttpProtocol",
    "http_protocol",
    "raw_json_response",
    "tls_extension",
]

#: On shutdown, how long a connection whose last response is fully flushed may wait for the
#: client to close it before it is aborted (idle keep-alive connections are aborted at once).
CLOSE_GRACE_S = 1.0
_POLL_S = 0.05


def _buffered_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes still queued for the peer in ``transport`` (and the TCP transport under TLS)."""
    n = 0
    if isinstance(transport, asyncio.WriteTransport):
        n += transport.get_write_buffer_size()
    # asyncio's TLS transport buffers only TLS records; the TCP transport below it has its own
    # buffer (not public API, hence the defensive lookup).
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    if isinstance(inner, asyncio.WriteTransport):
        n += inner.get_write_buffer_size()
    return n


def raw_json_response(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response carrying the ETSI ``Error`` body."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderLimitError(Exception):
    """Internal: the request line and headers exceed the limits (becomes a 431)."""


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """Build the ASGI TLS extension dict for a connection, or ``None`` without TLS."""
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return None
    der = obj.getpeercert(binary_form=True)
    version = obj.version()
    cipher = obj.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": version,
        "cipher_suite": cipher[0] if cipher else None,
        "quaykey_client_cert_der": der,
    }


class _TlsScope:
    """Mixin for a uvicorn HTTP protocol: TCP_NODELAY, the TLS extension, connection guards."""

    app: Any
    cycle: Any
    server_state: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    limits: HttpLimits | None = None  # set by http_protocol()
    _client_key: bytes | None = None
    _hdr_timer: asyncio.TimerHandle | None = None
    _hdr_deadline = 0.0
    _hdr_cycle: Any = None
    _hdr_over = False

    # --- guards ----------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(raw_json_response(status, message))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A malformed request (or one over the header limits): JSON error, then close."""
        if self._hdr_over:
            self._refuse(431, "request header fields too large or too many")
        else:
            self._refuse(400, "bad request format: malformed HTTP request")

    def _arm_header_timer(self) -> None:
        # one timer per connection: arming moves the deadline, and the timer, when it
        # fires early, waits on for the latest deadline (no timer made and cancelled per
        # request)
        if self.limits is None:
            return
        self._hdr_cycle = self.cycle
        self._hdr_deadline = self.loop.time() + self.limits.header_timeout_s
        if self._hdr_timer is None:
            self._hdr_timer = self.loop.call_at(self._hdr_deadline, self._header_timeout)

    def _header_timeout(self) -> None:
        if self.loop.time() < self._hdr_deadline:  # armed again since: wait for that deadline
            self._hdr_timer = self.loop.call_at(self._hdr_deadline, self._header_timeout)
            return
        self._hdr_timer = None
        if self.cycle is self._hdr_cycle:  # no request has started since the timer was armed
            self._refuse(408, "request headers not received in time")

    def data_received(self, data: bytes) -> None:
        """Arm the header timer when the first bytes of a new request arrive."""
        if self.transport.is_closing():  # refused: nothing more is read
            return
        if (self.cycle is None or self.cycle.response_complete) and (
            self._hdr_timer is None or self._hdr_cycle is not self.cycle
        ):
            self._arm_header_timer()
        super().data_received(data)  # type: ignore[misc]

    def _admit(self, der: bytes | None) -> bool:
        """Count this connection against its client's cap; ``False`` (refused) if over it."""
        if self.limits is None:
            return True
        key = der if der else repr(self.transport.get_extra_info("peername")).encode()
        counts: dict[bytes, int] = self.server_state.__dict__.setdefault("quaykey_clients", {})
        if counts.get(key, 0) >= self.limits.max_connections_per_client:
            self._refuse(503, "too many connections from this client")
            return False
        counts[key] = counts.get(key, 0) + 1
        self._client_key = key
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the client's connection slot and the header timer."""
        if self._hdr_timer is not None:
            self._hdr_timer.cancel()
            self._hdr_timer = None
        key, self._client_key = self._client_key, None
        if key is not None:
            counts = self.server_state.__dict__.get("quaykey_clients", {})
            left = counts.get(key, 1) - 1
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)
        super().connection_lost(exc)  # type: ignore[misc]

    def shutdown(self) -> None:
        """Graceful for a request in flight, prompt for an idle keep-alive connection."""
        idle = self.cycle is None or self.cycle.response_complete
        if idle and _buffered_bytes(self.transport) == 0:
            self.transport.abort()
            return
        super().shutdown()  # type: ignore[misc]
        self._abort_when_done(None)

    def _abort_when_done(self, flushed_at: float | None) -> None:
        if self not in self.server_state.connections:  # connection_lost already ran
            return
        done = (self.cycle is None or self.cycle.response_complete) and (
            _buffered_bytes(self.transport) == 0
        )
        now = time.monotonic()
        if not done:
            flushed_at = None
        elif flushed_at is None:
            flushed_at = now
        elif now - flushed_at >= CLOSE_GRACE_S:
            self.transport.abort()
            return
        self.loop.call_later(_POLL_S, self._abort_when_done, flushed_at)

    def _tls_connection_made(self, transport: asyncio.Transport) -> None:
        # asyncio enables TCP_NODELAY only for sockets created with proto=IPPROTO_TCP; a
        # listening socket handed in by the caller may have proto 0, and then every
        # response written as header + body waits for the client's delayed ACK (~40 ms).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ext = tls_extension(transport)
        if not self._admit(ext["quaykey_client_cert_der"] if ext else None):
            return
        self._arm_header_timer()
        if ext is None:
            return
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})
            scope["extensions"]["tls"] = ext
            await inner(scope, receive, send)

        self.app = app


class TlsH11Protocol(_TlsScope, H11Protocol):
    """uvicorn's h11 protocol plus the ASGI TLS extension in every request scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls_connection_made(transport)


def _httptools_protocol() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed
        return None

    class TlsHttpToolsProtocol(_TlsScope, HttpToolsProtocol):
        """uvicorn's httptools (C parser) protocol plus the ASGI TLS extension."""

        _hdr_bytes = 0
        _hdr_count = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._tls_connection_made(transport)

        def _count_header(self, n_bytes: int, n_headers: int) -> None:
            if self.limits is None:
                return
            self._hdr_bytes += n_bytes
            self._hdr_count += n_headers
            if (
                self._hdr_bytes > self.limits.max_header_bytes
                or self._hdr_count > self.limits.max_header_count
            ):
                self._hdr_over = True
                raise _HeaderLimitError()

        def on_message_begin(self) -> None:
            self._hdr_bytes = self._hdr_count = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count_header(len(url), 0)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_header(len(name) + len(value) + 4, 1)
            super().on_header(name, value)

    return TlsHttpToolsProtocol


#: The protocol class to serve with: the httptools-based one when ``httptools`` is
#: installed (its C parser costs a fraction of h11's CPU per request), else h11.
TlsHttpProtocol: type[Any] = _httptools_protocol() or TlsH11Protocol


@lru_cache(maxsize=8)
def http_protocol(limits: HttpLimits) -> type[Any]:
    """The protocol class to serve with, guarding connections with ``limits``.

    Parameters
    ----------
    limits : HttpLimits
        Connection and request limits (see the module docstring).

    Returns
    -------
    type
        A subclass of :data:`TlsHttpProtocol` carrying ``limits``.
    """
    return type("GuardedTlsHttpProtocol", (TlsHttpProtocol,), {"limits": limits})
