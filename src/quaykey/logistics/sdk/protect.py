"""The three protection classes as pure functions over key bytes and the envelope prefix.

* ``otp``: one-time pad plus a one-time Wegman–Carter tag (Wegman and Carter, "New hash
  functions and their use in authentication and set equality", J. Comput. Syst. Sci. 22,
  1981) with :class:`quaykey.mac.OneTimeMac`; both keys fresh per message, so secrecy and
  integrity are information-theoretic (forgery probability :func:`quaykey.mac.forgery_bound`).
* ``aes``: AES-256-GCM (NIST SP 800-38D) with the envelope prefix as associated data and
  a deterministic nonce (SP 800-38D, Sec. 8.2.1): a zero fixed field and the message's
  sequence number as the invocation field (:func:`aes_nonce`). A key serves one sender
  in one direction, whose sequence numbers never repeat, so neither do its nonces.
* ``hybrid``: AES-256-GCM under a key derived from a QKD key *and* an ML-KEM-768 shared
  secret (FIPS 203) by a concatenation KDF in the manner of ETSI TS 103 744 (CatKDF: the
  secrets concatenated, the context bound in ``OtherInfo``; NIST SP 800-56C one-step KDF
  with SHA-256, cryptography's ``ConcatKDFHash``). The key stays secret while either
  input is.

Each function raises :class:`quaykey.errors.AuthenticationError` when a message does not
verify; none of them logs or repeats key material.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from quaykey.errors import AuthenticationError
from quaykey.mac import ONE_TIME_KEY_BYTES, TAG_BYTES, OneTimeMac

__all__ = [
    "AES_KEY_BYTES",
    "HYBRID_LABEL",
    "NONCE_BYTES",
    "aes_nonce",
    "aes_open",
    "aes_seal",
    "derive_hybrid_key",
    "hybrid_context",
    "otp_key_bytes",
    "otp_open",
    "otp_seal",
]

AES_KEY_BYTES = 32
NONCE_BYTES = 12
HYBRID_LABEL = b"quaykey/sdk/hybrid/v1"


def otp_key_bytes(payload_bytes: int) -> int:
    """Fresh key an ``otp`` message needs: the one-time MAC key plus the pad.

    Examples
    --------
    >>> otp_key_bytes(100)
    132
    """
    return ONE_TIME_KEY_BYTES + payload_bytes


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def otp_seal(key: bytes, prefix: bytes, payload: bytes) -> bytes:
    """Encrypt with the one-time pad and tag ``prefix || ciphertext``; returns body.

    ``key`` is :func:`otp_key_bytes` long: 32 bytes of MAC key, then the pad.

    Examples
    --------
    >>> import secrets
    >>> k = secrets.token_bytes(otp_key_bytes(5))
    >>> otp_open(k, b"hdr", otp_seal(k, b"hdr", b"hello"))
    b'hello'
    """
    if len(key) != otp_key_bytes(len(payload)):
        raise ValueError(f"key must be {otp_key_bytes(len(payload))} bytes, got {len(key)}")
    ct = _xor(payload, key[ONE_TIME_KEY_BYTES:]) if payload else b""
    tag = OneTimeMac(key[:ONE_TIME_KEY_BYTES]).tag(prefix + ct)
    return ct + tag


def otp_open(key: bytes, prefix: bytes, body: bytes) -> bytes:
    """Verify the Wegman–Carter tag, then remove the pad; returns the payload.

    Raises
    ------
    AuthenticationError
        If the tag does not verify (tampered message or wrong key).
    """
    if len(body) < TAG_BYTES or len(key) != otp_key_bytes(len(body) - TAG_BYTES):
        raise AuthenticationError("otp message: body and key lengths do not match")
    ct, tag = body[:-TAG_BYTES], body[-TAG_BYTES:]
    OneTimeMac(key[:ONE_TIME_KEY_BYTES]).verify(prefix + ct, tag, what="otp message")
    return _xor(ct, key[ONE_TIME_KEY_BYTES:]) if ct else b""


def aes_nonce(seq: int) -> bytes:
    """The AES-GCM nonce of the message with sequence number ``seq``.

    Four zero bytes (fixed field) and ``seq`` as a 64-bit big-endian invocation field
    (NIST SP 800-38D, Sec. 8.2.1): distinct sequence numbers give distinct nonces.

    Examples
    --------
    >>> aes_nonce(1).hex()
    '000000000000000000000001'
    """
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**64:
        raise ValueError("seq must be an integer in [0, 2**64)")
    return bytes(NONCE_BYTES - 8) + seq.to_bytes(8, "big")


def aes_seal(key: bytes, nonce: bytes, prefix: bytes, payload: bytes) -> bytes:
    """AES-256-GCM encryption of ``payload`` with ``prefix`` as associated data.

    Examples
    --------
    >>> k, n = bytes(32), bytes(12)
    >>> aes_open(k, n, b"hdr", aes_seal(k, n, b"hdr", b"EDI"))
    b'EDI'
    """
    return AESGCM(key).encrypt(nonce, payload, prefix)


def aes_open(key: bytes, nonce: bytes, prefix: bytes, body: bytes) -> bytes:
    """AES-256-GCM decryption; raises :class:`AuthenticationError` on any mismatch."""
    if len(key) != AES_KEY_BYTES or len(nonce) != NONCE_BYTES:
        raise AuthenticationError("aes message: key or nonce has the wrong length")
    try:
        return AESGCM(key).decrypt(nonce, body, prefix)
    except InvalidTag:
        raise AuthenticationError(
            "aes message: tag does not verify (altered or wrong key)"
        ) from None


def _lp(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def hybrid_context(
    sender: str, receiver: str, key_ids: tuple[str, ...], kem_ct: bytes, kem_public: bytes
) -> bytes:
    """``OtherInfo`` of the hybrid KDF: label, SAE IDs, key IDs and hashes of the KEM data.

    As in ETSI TS 103 744's CatKDF, the context binds the parties and the public values of
    both key establishments (the ML-KEM ciphertext and encapsulation key, the QKD key IDs),
    each length-prefixed so that no two contexts share an encoding.

    Examples
    --------
    >>> ctx = hybrid_context("a", "b", ("k",), b"ct", b"pk")
    >>> ctx != hybrid_context("a", "b", ("k",), b"ct", b"pK")
    True
    """
    return b"".join(
        [
            _lp(HYBRID_LABEL),
            _lp(sender.encode()),
            _lp(receiver.encode()),
            _lp(",".join(key_ids).encode()),
            hashlib.sha256(kem_ct).digest(),
            hashlib.sha256(kem_public).digest(),
        ]
    )


def derive_hybrid_key(qkd_key: bytes, mlkem_secret: bytes, context: bytes) -> bytes:
    """32-byte AES key from ``qkd_key || mlkem_secret`` with SHA-256 ConcatKDF over ``context``.

    Examples
    --------
    >>> k = derive_hybrid_key(bytes(32), bytes(32), b"ctx")
    >>> len(k), k != derive_hybrid_key(bytes(31) + b"x", bytes(32), b"ctx")
    (32, True)
    """
    if len(qkd_key) != AES_KEY_BYTES or len(mlkem_secret) != 32:
        raise ValueError("qkd_key and mlkem_secret must be 32 bytes each")
    kdf = ConcatKDFHash(algorithm=hashes.SHA256(), length=AES_KEY_BYTES, otherinfo=context)
    return kdf.derive(qkd_key + mlkem_secret)
