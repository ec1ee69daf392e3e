"""The SDK's envelope: a versioned, length-framed JSON header followed by ciphertext.

Wire layout (all integers big-endian)::

    b"QKE" | version (1 byte) | header length (4 bytes) | header (UTF-8 JSON) | body

The header names the protection class, the message type, the sender and receiver SAE
IDs, the per-peer sequence number, a timestamp, the ETSI GS QKD 014 key IDs the master
obtained with *Get key* (the slave fetches the same keys with *Get key with key IDs*),
the nonce and, for ``hybrid``, the ML-KEM-768 ciphertext (FIPS 203). Everything before
the body (:attr:`Envelope.authenticated_prefix`) is authenticated: it is the associated
data of AES-256-GCM, or the first part of the message under the one-time Wegman–Carter
tag for ``otp``. Parsing is strict: unknown fields, wrong types and oversized parts are
refused with :class:`ValueError`.

A request may carry ``reply_key_ids`` (present only when not empty): keys the master drew
in the same *Get key* for the peer's answer (the receiver fetches them with the message's
own keys in one *Get key with key IDs*, and protects its reply with them:
:meth:`~quaykey.logistics.sdk.SecureChannel.send`, ``reply_bytes`` and ``reply_to``).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["MAGIC", "PROTECTION_CLASSES", "VERSION", "Envelope", "decode_envelope"]

MAGIC = b"QKE"
VERSION = 1
#: Protection classes, weakest first (the order used to refuse downgrades).
PROTECTION_CLASSES = ("aes", "hybrid", "otp")
_MAX_HEADER_BYTES = 65_536
_MAX_KEY_IDS = 1024
_PREFIX = struct.Struct(">3sBI")
_FIELDS = {
    "class": str,
    "type": str,
    "sender": str,
    "receiver": str,
    "seq": int,
    "ts_ms": int,
    "key_ids": list,
    "nonce": str,
    "kem_ct": str,
}
_OPTIONAL = {"reply_key_ids": list}


@dataclass(frozen=True)
class Envelope:
    """One protected message.

    Attributes
    ----------
    protection : str
        ``"otp"``, ``"aes"`` or ``"hybrid"``.
    msg_type : str
        Application message type (e.g. ``"customs_decision"``), checked against the
        receiver's policy.
    sender, receiver : str
        SAE IDs.
    seq : int
        Per-direction sequence number, starting at 1.
    ts_ms : int
        Sender's clock, Unix milliseconds.
    key_ids : tuple of str
        ETSI GS QKD 014 key IDs, in the order their bytes are used.
    nonce : bytes
        AES-GCM nonce (12 bytes); empty for ``otp``.
    kem_ct : bytes
        ML-KEM-768 ciphertext for ``hybrid``; empty otherwise.
    body : bytes
        Ciphertext and tag.
    reply_key_ids : tuple of str
        Key IDs drawn for the receiver's reply (empty: none).

    Examples
    --------
    >>> env = Envelope("aes", "edi", "terminal", "customs", 1, 0, ("k1",), bytes(12), b"", b"ct")
    >>> decode_envelope(env.encode()) == env
    True
    """

    protection: str
    msg_type: str
    sender: str
    receiver: str
    seq: int
    ts_ms: int
    key_ids: tuple[str, ...]
    nonce: bytes
    kem_ct: bytes
    body: bytes
    reply_key_ids: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Envelope({self.protection}, {self.msg_type!r}, {self.sender!r}->{self.receiver!r},"
            f" seq={self.seq}, keys={len(self.key_ids)}, body={len(self.body)} B)"
        )

    def header(self) -> dict[str, Any]:
        """The header as a JSON-ready dictionary."""
        doc: dict[str, Any] = {
            "class": self.protection,
            "type": self.msg_type,
            "sender": self.sender,
            "receiver": self.receiver,
            "seq": self.seq,
            "ts_ms": self.ts_ms,
            "key_ids": list(self.key_ids),
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
            "kem_ct": base64.b64encode(self.kem_ct).decode("ascii"),
        }
        if self.reply_key_ids:
            doc["reply_key_ids"] = list(self.reply_key_ids)
        return doc

    @property
    def authenticated_prefix(self) -> bytes:
        """Magic, version, header length and header: the bytes every class authenticates."""
        raw = json.dumps(self.header(), sort_keys=True, separators=(",", ":")).encode()
        return _PREFIX.pack(MAGIC, VERSION, len(raw)) + raw

    def encode(self) -> bytes:
        """The envelope's wire bytes."""
        return self.authenticated_prefix + self.body


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"envelope field {name!r} is not base64") from None


def _check_ids(doc: dict[str, Any], name: str) -> None:
    ids = doc[name]
    if not 1 <= len(ids) <= _MAX_KEY_IDS or not all(isinstance(k, str) and k for k in ids):
        raise ValueError(f"envelope field {name!r} must list 1..{_MAX_KEY_IDS} key IDs")


def _check_header(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not set(_FIELDS) <= set(doc) <= set(_FIELDS) | set(_OPTIONAL):
        raise ValueError(
            f"envelope header must have exactly the fields {sorted(_FIELDS)}"
            f" (and optionally {sorted(_OPTIONAL)})"
        )
    for name, kind in (_FIELDS | _OPTIONAL).items():
        value = doc.get(name, kind())
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"envelope field {name!r} must be {kind.__name__}")
    if doc["class"] not in PROTECTION_CLASSES:
        raise ValueError(f"envelope field 'class' must be one of {PROTECTION_CLASSES}")
    _check_ids(doc, "key_ids")
    ids = list(doc["key_ids"])
    if "reply_key_ids" in doc:
        _check_ids(doc, "reply_key_ids")
        ids += doc["reply_key_ids"]
    if len({k.lower() for k in ids}) != len(ids):
        raise ValueError("envelope fields 'key_ids' and 'reply_key_ids' repeat a key ID")
    if doc["seq"] < 1 or doc["ts_ms"] < 0:
        raise ValueError("envelope fields 'seq' (>= 1) and 'ts_ms' (>= 0) out of range")
    return doc


def decode_envelope(data: bytes) -> Envelope:
    """Parse wire bytes into an :class:`Envelope` (no cryptographic check yet).

    Raises
    ------
    ValueError
        If the bytes are not a well-formed envelope of this version.

    Examples
    --------
    >>> decode_envelope(b"nonsense")
    Traceback (most recent call last):
    ...
    ValueError: envelope too short or not an envelope (bad magic)
    """
    if len(data) < _PREFIX.size or data[:3] != MAGIC:
        raise ValueError("envelope too short or not an envelope (bad magic)")
    _, version, n = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"envelope version {version} not supported (this SDK reads {VERSION})")
    if n > _MAX_HEADER_BYTES or _PREFIX.size + n > len(data):
        raise ValueError("envelope header length out of range")
    raw = data[_PREFIX.size : _PREFIX.size + n]
    try:
        doc = _check_header(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("envelope header is not UTF-8 JSON") from None
    env = Envelope(
        protection=doc["class"],
        msg_type=doc["type"],
        sender=doc["sender"],
        receiver=doc["receiver"],
        seq=doc["seq"],
        ts_ms=doc["ts_ms"],
        key_ids=tuple(doc["key_ids"]),
        nonce=_b64(doc["nonce"], "nonce"),
        kem_ct=_b64(doc["kem_ct"], "kem_ct"),
        body=bytes(data[_PREFIX.size + n :]),
        reply_key_ids=tuple(doc.get("reply_key_ids", ())),
    )
    if env.authenticated_prefix != data[: _PREFIX.size + n]:
        raise ValueError("envelope header is not in canonical form")
    return env
