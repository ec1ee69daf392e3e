# ruff: noqa: N815  (field names are fixed by ETSI GS QKD 014)
"""ETSI GS QKD 014 V1.1.1 data formats, and the KME-to-KME relay messages.

Field names follow the standard exactly (``SAE_ID``, ``KME_ID``, ``key_ID``,
``key_IDs``); sizes are in bits. Applications import only this module and
:mod:`quaykey.kms.client`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

__all__ = [
    "Error",
    "Key",
    "KeyContainer",
    "KeyID",
    "KeyIDs",
    "KeyRequest",
    "RelayAck",
    "RelayDecision",
    "RelayReserve",
    "Status",
]


class Status(BaseModel):
    """Status of the key supply between the caller (master) and one slave SAE."""

    model_config = ConfigDict(extra="forbid")

    source_KME_ID: str
    target_KME_ID: str
    master_SAE_ID: str
    slave_SAE_ID: str
    key_size: int
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_SAE_ID_count: int
    status_extension: dict[str, Any] | None = None


class KeyRequest(BaseModel):
    """Body of a POST Get key request; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    number: StrictInt | None = None
    size: StrictInt | None = None
    additional_slave_SAE_IDs: list[StrictStr] | None = None
    extension_mandatory: list[dict[str, Any]] | None = None
    extension_optional: list[dict[str, Any]] | None = None


class Key(BaseModel):
    """One key: a UUID and its base64-encoded bytes."""

    model_config = ConfigDict(extra="forbid")

    key_ID: str
    key: str = Field(repr=False)
    key_ID_extension: dict[str, Any] | None = None
    key_extension: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Key(key_ID={self.key_ID!r}, key=<{len(self.key)} base64 chars>)"

    __str__ = __repr__


class KeyContainer(BaseModel):
    """The keys returned by Get key and Get key with key IDs."""

    model_config = ConfigDict(extra="forbid")

    keys: list[Key]
    key_container_extension: dict[str, Any] | None = None


class KeyID(BaseModel):
    """One requested key ID."""

    model_config = ConfigDict(extra="forbid")

    key_ID: StrictStr
    key_ID_extension: dict[str, Any] | None = None


class KeyIDs(BaseModel):
    """Body of a POST Get key with key IDs request."""

    model_config = ConfigDict(extra="forbid")

    key_IDs: list[KeyID]
    key_IDs_extension: dict[str, Any] | None = None


class Error(BaseModel):
    """Error body of a 400, 401 or 503 answer."""

    message: str
    details: list[dict[str, Any]] | None = None


class RelayReserve(BaseModel):
    """One hop of a relay: keys one-time-padded with link key material, with an HMAC tag.

    ``segments`` name the link key bytes the sender consumed for this hop, as
    ``[block_id, start, length]`` in the sender's half of each block: the first
    32 bytes key the HMAC-SHA256 tag, the rest is the pad.
    """

    model_config = ConfigDict(extra="forbid")

    relay_id: str
    path: list[str]
    hop: int
    master_SAE_ID: str
    slave_SAE_IDs: list[str]
    key_size: int
    key_IDs: list[str]
    expires_at: float
    segments: list[tuple[str, int, int]]
    ciphertext: str = Field(repr=False)
    tag: str = Field(repr=False)


class RelayDecision(BaseModel):
    """Confirm or void a reservation made by :class:`RelayReserve`, forwarded along ``path``."""

    model_config = ConfigDict(extra="forbid")

    relay_id: str
    path: list[str]
    hop: int
    #: a void may name some keys of the relay only (a key stock voids the keys it did not
    #: hand out); ``None``: every key of the relay
    key_IDs: list[str] | None = None


class RelayAck(BaseModel):
    """Answer of a relay step."""

    relay_id: str
    ok: bool
