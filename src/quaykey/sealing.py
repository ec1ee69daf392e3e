"""A local 256-bit key file and AES-256-GCM sealing of secrets at rest.

Used by the KME store (:mod:`quaykey.kms.store`: key material under the KME master key) and
by the applications' local state (the SDK's otp queue, the IoT gateway's device keys).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quaykey.errors import MasterKeyError

__all__ = ["CANARY", "Sealer", "create_master_key", "local_sealer", "read_master_key"]

#: Sealed into every database on first start; a master key that cannot open it is wrong.
CANARY = b"quaykey-kms-master-key-check"


def create_master_key(path: Path) -> None:
    """Write a fresh 256-bit master key (hex) to ``path`` with mode 0600 unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def read_master_key(path: Path) -> bytes:
    """Read a 256-bit master key written by :func:`create_master_key` (64 hex characters)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise MasterKeyError(
            f"master key file {path} does not exist; create it with `quaykey pki init`"
        ) from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(f"master key file {path} must hold 64 hex characters")
    return raw


class Sealer:
    """AES-256-GCM sealing of key material at rest; ``repr`` never shows the key.

    Examples
    --------
    >>> s = Sealer(bytes(32))
    >>> blob = s.seal("key|id|sae", b"secret")
    >>> bytes(s.open("key|id|sae", blob))
    b'secret'
    >>> s.open("key|other|sae", blob)
    Traceback (most recent call last):
    ...
    quaykey.errors.MasterKeyError: stored key material does not authenticate
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master_key must be 32 bytes")
        self._aead = AESGCM(master_key)

    def __repr__(self) -> str:
        return "Sealer(<AES-256-GCM>)"

    def seal(self, aad: str, plaintext: bytes | bytearray) -> bytes:
        """Encrypt ``plaintext`` bound to ``aad``; returns nonce ‖ ciphertext ‖ tag."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, bytes(plaintext), aad.encode())

    def open(self, aad: str, blob: bytes) -> bytearray:
        """Decrypt a sealed blob; raises :class:`MasterKeyError` if it does not authenticate."""
        try:
            return bytearray(self._aead.decrypt(blob[:12], blob[12:], aad.encode()))
        except InvalidTag:
            raise MasterKeyError("stored key material does not authenticate") from None


def local_sealer(
    db_path: str | os.PathLike[str], key_file: str | os.PathLike[str] | None = None
) -> Sealer:
    """The sealer of a local state database: key from ``key_file`` (default ``<db_path>.key``,
    created with mode 0600 if missing); a ``":memory:"`` database gets a key in memory."""
    path = str(db_path)
    if key_file is None and (path == ":memory:" or path.startswith("file:")):
        return Sealer(secrets.token_bytes(32))
    kf = Path(key_file) if key_file is not None else Path(path + ".key")
    create_master_key(kf)
    return Sealer(read_master_key(kf))
