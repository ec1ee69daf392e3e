"""Expose the verified client certificate to the ASGI app when served by uvicorn.

uvicorn does not fill the ASGI TLS extension, so :class:`TlsH11Protocol` (and the
httptools-based :data:`TlsHttpProtocol` when ``httptools`` is installed) reads the peer
certificate from the SSL transport once per connection (asyncio calls ``connection_made``
only after the handshake, when the certificate has been verified) and adds
``scope["extensions"]["tls"]`` with ``client_cert_chain`` (PEM strings, per the ASGI TLS
extension) and ``quaykey_client_cert_der``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TlsH11Protocol", "TlsHttpProtocol", "tls_extension"]


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
