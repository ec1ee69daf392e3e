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
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["CLOSE_GRACE_S", "TlsH11Protocol", "TlsHttpProtocol", "tls_extension"]

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
    """Mixin for a uvicorn HTTP protocol: TCP_NODELAY and the TLS extension per connection."""

    app: Any
    cycle: Any
    server_state: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

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

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._tls_connection_made(transport)

    return TlsHttpToolsProtocol


#: The protocol class to serve with: the httptools-based one when ``httptools`` is
#: installed (its C parser costs a fraction of h11's CPU per request), else h11.
TlsHttpProtocol: type[Any] = _httptools_protocol() or TlsH11Protocol
