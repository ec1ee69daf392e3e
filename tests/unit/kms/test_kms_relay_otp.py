"""One-time pad and one-time Wegman–Carter tag of a relay hop."""

from __future__ import annotations

import base64
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quaykey.errors import KmsBadRequestError
from quaykey.kms.relay import MAC_KEY_BYTES, otp_open, otp_seal


@settings(deadline=None)  # the first example loads the MAC kernels
@given(st.binary(min_size=1, max_size=256), st.binary(max_size=64))
def test_seal_open_roundtrip(plain, header):
    material = bytearray(secrets.token_bytes(MAC_KEY_BYTES + len(plain)))
    ct, tag = otp_seal(material, header, plain)
    assert len(base64.b64decode(ct)) == len(plain)
    assert otp_open(material, header, ct, tag) == plain


def test_ciphertext_is_plain_xor_pad():
    plain = bytes(range(16))
    material = bytearray(secrets.token_bytes(MAC_KEY_BYTES + 16))
    ct, _ = otp_seal(material, b"h", plain)
    pad = material[MAC_KEY_BYTES:]
    assert base64.b64decode(ct) == bytes(a ^ b for a, b in zip(plain, pad, strict=True))


@pytest.mark.parametrize("what", ["ct", "tag", "header", "mac_key"])
def test_any_change_fails_authentication(what):
    plain = secrets.token_bytes(32)
    material = bytearray(secrets.token_bytes(MAC_KEY_BYTES + 32))
    ct, tag = otp_seal(material, b"header", plain)
    header = b"header"
    if what == "ct":
        raw = bytearray(base64.b64decode(ct))
        raw[5] ^= 0x10
        ct = base64.b64encode(bytes(raw)).decode()
    elif what == "tag":
        raw = bytearray(base64.b64decode(tag))
        raw[0] ^= 1
        tag = base64.b64encode(bytes(raw)).decode()
    elif what == "header":
        header = b"headeR"
    else:
        material[0] ^= 1
    with pytest.raises(KmsBadRequestError) as e:
        otp_open(material, header, ct, tag)
    assert plain.hex() not in str(e.value)


def test_pad_length_must_match():
    with pytest.raises(ValueError):
        otp_seal(bytearray(40), b"", b"x" * 16)


def test_tag_is_the_one_time_wegman_carter_mac_of_header_and_ciphertext():
    import struct

    from quaykey.mac import TAG_BYTES, OneTimeMac

    plain = secrets.token_bytes(32)
    material = bytearray(secrets.token_bytes(MAC_KEY_BYTES + 32))
    ct, tag = otp_seal(material, b"hdr", plain)
    raw_ct, raw_tag = base64.b64decode(ct), base64.b64decode(tag)
    assert MAC_KEY_BYTES == 32 and len(raw_tag) == TAG_BYTES
    expected = OneTimeMac(material[:MAC_KEY_BYTES]).tag(struct.pack(">Q", 3) + b"hdr" + raw_ct)
    assert raw_tag == expected
