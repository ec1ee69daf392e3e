"""Error verification hash: tags, tag length, rejection of a wrong frame."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.errors import VerificationError
from quaykey.postproc.verify import VerifyHash, check_tag, tag_bits_for


def test_tag_length_from_epsilon() -> None:
    assert tag_bits_for(1e-15, 1) == 51  # ceil(log2(2e15))
    assert tag_bits_for(1e-15, 64) == 57
    with pytest.raises(ValueError, match="epsilon_cor"):
        tag_bits_for(0.0, 1)
    with pytest.raises(ValueError, match="n_frames"):
        tag_bits_for(1e-9, 0)


def test_wire_form_roundtrip_and_tag() -> None:
    rng = np.random.default_rng(2)
    h = VerifyHash.draw(rng, 51)
    assert VerifyHash.from_words(h.to_words()) == h
    bits = rng.integers(0, 2, 10_000, dtype=np.uint8)
    tag = h.tag(bits)
    assert 0 <= tag < 2**51
    check_tag(bits, h, tag)
    wrong = bits.copy()
    wrong[1234] ^= 1
    with pytest.raises(VerificationError):
        check_tag(wrong, h, tag)
    with pytest.raises(VerificationError):
        check_tag(bits, h, tag ^ 1)
    with pytest.raises(VerificationError):
        check_tag(bits[:-1], h, tag)  # length is part of the hashed message


def test_wrong_frames_pass_rarely() -> None:
    # 2000 fresh functions with 8-bit tags on a pair of differing frames: the collision
    # rate must be near 2^-8 (expected 7.8; tolerance: < 25, a 5-sigma bound).
    rng = np.random.default_rng(8)
    a = rng.integers(0, 2, 512, dtype=np.uint8)
    b = a.copy()
    b[7] ^= 1
    hits = 0
    for _ in range(2000):
        h = VerifyHash.draw(rng, 8)
        hits += h.tag(a) == h.tag(b)
    assert hits < 25


def test_invalid_members_rejected() -> None:
    with pytest.raises(ValueError, match="a in"):
        VerifyHash(k=1, a=0, tag_bits=10)
    with pytest.raises(ValueError, match="tag_bits"):
        VerifyHash(k=1, a=1, tag_bits=129)
