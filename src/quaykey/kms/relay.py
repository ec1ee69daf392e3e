"""KME-to-KME relay: one-time pad per hop, authenticated with a one-time Wegman–Carter MAC.

Each hop consumes ``32 + n`` bytes of link key material it shares with the next KME: the
first 32 bytes are the key of a :class:`~quaykey.mac.OneTimeMac` (16 bytes of polynomial
hash key over GF(2^128), 16 bytes of pad), which tags the message header and ciphertext;
the remaining ``n`` bytes are XORed with the ``n`` key bytes. Both the pad and the MAC key
are used once, so secrecy and authenticity are information-theoretic: a forged hop verifies
with probability at most ``(L + 1) / 2**128`` for a message of ``L`` 16-byte blocks
(Wegman and Carter, J. Comput. Syst. Sci. 22, 265 (1981); see :mod:`quaykey.mac`),
whatever the attacker's computing power. Messages travel over HTTPS with mutual TLS
between KMEs.

Examples
--------
>>> material = bytearray(range(MAC_KEY_BYTES + 4))
>>> ct, tag = otp_seal(material, b"header", b"key!")
>>> otp_open(material, b"header", ct, tag)
b'key!'
>>> otp_open(material, b"headeR", ct, tag)
Traceback (most recent call last):
...
quaykey.errors.KmsBadRequestError: relay message failed authentication
"""

from __future__ import annotations

import base64
import hmac
import json
import socket
import struct
import threading
from typing import Any

import httpx

from quaykey.errors import AuthenticationError, KmsBadRequestError, RelayFailedError
from quaykey.kms.client import peer_kme_id
from quaykey.kms.pki import client_ssl_context
from quaykey.kms.schemas import RelayReserve
from quaykey.mac import ONE_TIME_KEY_BYTES, OneTimeMac

__all__ = [
    "MAC_KEY_BYTES",
    "PeerTransport",
    "otp_open",
    "otp_seal",
    "otp_verify",
    "tag_header",
    "warm_up",
]

#: Link key bytes each hop spends on authentication (one :class:`~quaykey.mac.OneTimeMac` key).
MAC_KEY_BYTES = ONE_TIME_KEY_BYTES

#: httpx writes a POST's headers and body separately; without TCP_NODELAY the body waits
#: for the server's delayed ACK (~40 ms per request on Linux).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _xor(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    if len(a) != len(b):
        raise ValueError("pad length must equal data length")
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(n, "big")


def tag_header(msg: RelayReserve) -> bytes:
    """Canonical bytes of everything in a relay message except ciphertext and tag."""
    head = msg.model_dump(exclude={"ciphertext", "tag"})
    return json.dumps(head, sort_keys=True, separators=(",", ":")).encode()


def _mac_message(header: bytes, ct: bytes) -> bytes:
    # the header's length first, so that no (header, ciphertext) pair encodes another's
    return struct.pack(">Q", len(header)) + header + ct


def otp_seal(material: bytearray, header: bytes, plaintext: bytes | bytearray) -> tuple[str, str]:
    """Encrypt with the pad and tag with the one-time MAC key; returns base64 (ct, tag).

    Parameters
    ----------
    material : bytearray
        ``32 + len(plaintext)`` bytes of link key material, consumed by the caller.
    header : bytes
        Authenticated header (see :func:`tag_header`).
    plaintext : bytes
        Key bytes to send.

    Returns
    -------
    tuple of str
        Base64 ciphertext and base64 16-byte tag.
    """
    if len(material) != MAC_KEY_BYTES + len(plaintext):
        raise ValueError(f"material must be {MAC_KEY_BYTES} bytes longer than the plaintext")
    ct = _xor(plaintext, material[MAC_KEY_BYTES:])
    tag = OneTimeMac(material[:MAC_KEY_BYTES]).tag(_mac_message(header, ct))
    return base64.b64encode(ct).decode(), base64.b64encode(tag).decode()


def otp_verify(mac_key: bytes | bytearray, header: bytes, ct_b64: str, tag_b64: str) -> bytes:
    """Check the tag; return the raw ciphertext. Raises :class:`KmsBadRequestError` if forged."""
    try:
        ct = base64.b64decode(ct_b64, validate=True)
        tag = base64.b64decode(tag_b64, validate=True)
    except ValueError:
        raise KmsBadRequestError("relay message is not valid base64") from None
    try:
        OneTimeMac(mac_key).verify(_mac_message(header, ct), tag, "relay message")
    except AuthenticationError:
        raise KmsBadRequestError("relay message failed authentication") from None
    return ct


def otp_open(material: bytearray, header: bytes, ct_b64: str, tag_b64: str) -> bytes:
    """Verify and decrypt a relay hop sealed with :func:`otp_seal`."""
    ct = otp_verify(material[:MAC_KEY_BYTES], header, ct_b64, tag_b64)
    if len(ct) != len(material) - MAC_KEY_BYTES:
        raise KmsBadRequestError("relay ciphertext length does not match the pad")
    return _xor(ct, material[MAC_KEY_BYTES:])


def warm_up() -> None:
    """Load the MAC's compiled kernels now, so the first relay does not wait for them."""
    OneTimeMac(bytes(MAC_KEY_BYTES)).tag(b"")


class PeerTransport:
    """HTTPS clients (mutual TLS, keep-alive) towards the peer KMEs.

    Every answer must come from the KME the request was meant for: its server certificate
    must name that node's KME ID (SAN ``urn:quaykey:kme-id:<id>``). A certificate of the
    same CA for another KME (a rogue server on the neighbour's address) fails the relay.

    Parameters
    ----------
    peers : dict
        Node name to base URL.
    ca, cert, key
        Trust anchor and this KME's client certificate and key.
    timeout_s : float
        Per-request timeout.
    kme_ids : dict or None
        Node name to the KME ID its certificate must carry (``None``: not checked; tests).
    """

    def __init__(
        self,
        peers: dict[str, str],
        ca: Any,
        cert: Any,
        key: Any,
        timeout_s: float = 10.0,
        kme_ids: dict[str, str] | None = None,
    ) -> None:
        self._peers = dict(peers)
        self._kme_ids = dict(kme_ids) if kme_ids is not None else None
        self._ctx = client_ssl_context(ca, cert, key)
        self._timeout = timeout_s
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, node: str) -> httpx.Client:
        with self._lock:
            c = self._clients.get(node)
            if c is None:
                if node not in self._peers:
                    raise RelayFailedError(f"no address for KME node {node}")
                limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
                c = httpx.Client(
                    base_url=self._peers[node],
                    timeout=self._timeout,
                    transport=httpx.HTTPTransport(
                        verify=self._ctx, limits=limits, socket_options=NODELAY
                    ),
                )
                self._clients[node] = c
            return c

    def post(self, node: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to a peer KME; raises :class:`RelayFailedError` on any failure."""
        try:
            r = self._client(node).post(path, json=body)
        except httpx.HTTPError as exc:
            raise RelayFailedError(
                f"KME {node} unreachable", [{"peer": node, "error": type(exc).__name__}]
            ) from None
        if self._kme_ids is not None:
            want = self._kme_ids.get(node)
            got = peer_kme_id(r)
            if want is None or got is None or not hmac.compare_digest(got, want):
                raise RelayFailedError(
                    f"KME {node} presented the certificate of another KME",
                    [{"peer": node, "expected_kme_id": want, "certificate_kme_id": got}],
                )
        if r.status_code != 200:
            try:
                msg = str(r.json().get("message", ""))
            except ValueError:
                msg = ""
            raise RelayFailedError(
                f"KME {node} refused the relay",
                [{"peer": node, "status": r.status_code, "reason": msg}],
            )
        out: dict[str, Any] = r.json()
        return out

    def close(self) -> None:
        """Close all connections."""
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()
