"""A small typed ETSI GS QKD 014 client (httpx, mutual TLS, keep-alive).

Applications (SAEs) import only this module and :mod:`quaykey.kms.schemas`::

    from quaykey.kms.client import KmeClient

    with KmeClient("https://127.0.0.1:8443", ca="pki/ca.pem",
                   cert="pki/sae-customs-sh.pem", key="pki/sae-customs-sh.key") as kme:
        container = kme.get_key("terminal-bj", number=2, size=256)
        key_bytes = KmeClient.key_bytes(container.keys[0])
"""

from __future__ import annotations

import base64
import hmac
import socket
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from quaykey.errors import KmeClientError, KmeIdentityError
from quaykey.kms.pki import client_ssl_context, kme_id_from_der
from quaykey.kms.schemas import Error, Key, KeyContainer, Status

__all__ = ["KmeClient", "KmeClientError", "KmeIdentityError", "peer_kme_id"]


@lru_cache(maxsize=256)
def _kme_id(der: bytes) -> str | None:
    return kme_id_from_der(der)


def peer_kme_id(response: httpx.Response) -> str | None:
    """The KME ID named by the server certificate of the connection that carried ``response``."""
    stream = response.extensions.get("network_stream")
    ssl_obj = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_obj.getpeercert(True) if ssl_obj is not None else None
    return _kme_id(der) if der else None


class KmeClient:
    """Client of one KME, authenticated by the SAE's client certificate.

    Parameters
    ----------
    base_url : str
        ``https://host:port`` of the KME.
    ca, cert, key : path-like
        CA that signed the KME certificate; the SAE's certificate and private key.
    timeout_s : float
        Per-request timeout.
    transport : httpx.BaseTransport or None
        Replace the network transport (tests only).
    expected_kme_id : str or None
        If given, every answer must come from a KME whose certificate names this KME ID
        (SAN ``urn:quaykey:kme-id:<id>``); otherwise :class:`KmeIdentityError` is raised
        and the answer is not used.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca: str | Path,
        cert: str | Path,
        key: str | Path,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        expected_kme_id: str | None = None,
    ) -> None:
        self._expected_kme_id = expected_kme_id
        ctx = client_ssl_context(Path(ca), Path(cert), Path(key))
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1/keys/",
            timeout=timeout_s,
            transport=transport
            or httpx.HTTPTransport(
                verify=ctx, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            ),
        )

    def __repr__(self) -> str:
        return f"KmeClient({str(self._http.base_url)!r})"

    def __enter__(self) -> KmeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @staticmethod
    def _sae(sae_id: str) -> str:
        from urllib.parse import quote

        return quote(sae_id, safe="")

    def _check(self, r: httpx.Response) -> dict[str, Any]:
        if self._expected_kme_id is not None:
            got = peer_kme_id(r)
            if got is None or not hmac.compare_digest(got, self._expected_kme_id):
                raise KmeIdentityError(
                    f"KME certificate names KME ID {got!r}, expected {self._expected_kme_id!r}"
                )
        if r.status_code != 200:
            try:
                err = Error.model_validate(r.json())
            except ValueError:
                err = Error(message=r.text[:200] or "no body")
            raise KmeClientError(r.status_code, err)
        out: dict[str, Any] = r.json()
        return out

    def status(self, slave_sae_id: str) -> Status:
        """Get status towards ``slave_sae_id``."""
        r = self._http.get(f"{self._sae(slave_sae_id)}/status")
        return Status.model_validate(self._check(r))

    def get_key(
        self,
        slave_sae_id: str,
        *,
        number: int | None = None,
        size: int | None = None,
        additional_slave_SAE_IDs: list[str] | None = None,
        extension_mandatory: list[dict[str, Any]] | None = None,
        extension_optional: list[dict[str, Any]] | None = None,
    ) -> KeyContainer:
        """Get key (master side): GET with query parameters when possible, else POST."""
        url = f"{self._sae(slave_sae_id)}/enc_keys"
        if additional_slave_SAE_IDs or extension_mandatory or extension_optional:
            body: dict[str, Any] = {}
            for name, value in (
                ("number", number),
                ("size", size),
                ("additional_slave_SAE_IDs", additional_slave_SAE_IDs),
                ("extension_mandatory", extension_mandatory),
                ("extension_optional", extension_optional),
            ):
                if value is not None:
                    body[name] = value
            r = self._http.post(url, json=body)
        else:
            params = {k: str(v) for k, v in (("number", number), ("size", size)) if v is not None}
            r = self._http.get(url, params=params)
        return KeyContainer.model_validate(self._check(r))

    def get_key_with_key_ids(self, master_sae_id: str, key_ids: list[str]) -> KeyContainer:
        """Get key with key IDs (slave side): GET for one ID, POST for several."""
        url = f"{self._sae(master_sae_id)}/dec_keys"
        if len(key_ids) == 1:
            r = self._http.get(url, params={"key_ID": key_ids[0]})
        else:
            r = self._http.post(url, json={"key_IDs": [{"key_ID": k} for k in key_ids]})
        return KeyContainer.model_validate(self._check(r))

    @staticmethod
    def key_bytes(key: Key) -> bytes:
        """Decode one key's base64 bytes."""
        return base64.b64decode(key.key)
