"""Each GF(2^128) kernel equals its slow twin (tests/reference/postproc_gf128.py)."""

from __future__ import annotations

import numpy as np
import postproc_gf128 as ref
import pytest

from quaykey._kernels import gf128_mul_table
from quaykey.mac import PolyHash128
from quaykey.postproc.verify import gf128_mul


def _rand128(rng: np.random.Generator) -> int:
    return int.from_bytes(rng.bytes(16), "big")


def test_mul_table_entries_match_slow_product() -> None:
    rng = np.random.default_rng(11)
    key = _rand128(rng)
    table = gf128_mul_table(np.uint64(key >> 64), np.uint64(key & (2**64 - 1)))
    for j in (0, 1, 7, 8, 15):
        for b in (1, 2, 3, 0x80, 0xFF, int(rng.integers(256))):
            got = (int(table[j, b, 0]) << 64) | int(table[j, b, 1])
            assert got == ref.gf128_mul(b << (8 * j), key)


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 64, 100, 1000])
def test_polyhash_kernel_matches_twin(length: int) -> None:
    rng = np.random.default_rng(length + 3)
    for _ in range(3):
        key = _rand128(rng)
        message = rng.bytes(length)
        assert PolyHash128(key).digest(message) == ref.polyhash(key, message)


def test_polyhash_edge_keys() -> None:
    message = b"quaykey transcript"
    for key in (0, 1, 2**127, 2**128 - 1):
        assert PolyHash128(key).digest(message) == ref.polyhash(key, message)


def test_python_field_product_matches_twin() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        a, b = _rand128(rng), _rand128(rng)
        assert gf128_mul(a, b) == ref.gf128_mul(a, b)
    assert gf128_mul(1 << 127, 2) == 0x87  # x^128 reduces to x^7 + x^2 + x + 1


def test_polyhash_rejects_out_of_range_key() -> None:
    with pytest.raises(ValueError, match="key must be"):
        PolyHash128(2**128)


@pytest.mark.parametrize("n", [0, 1, 7, 1000, 54_321])
def test_sift_split_matches_twin(n: int) -> None:
    import postproc_sift

    from quaykey.postproc._kernels import sift_split

    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    bases = rng.integers(0, 2, n, dtype=np.uint8)
    intensity = rng.integers(0, 3, n, dtype=np.uint8)
    keep = rng.random(n) < 0.6
    got = sift_split(bits, bases, intensity, keep)
    want = postproc_sift.sift_split(bits, bases, intensity, keep)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.uint8 and np.array_equal(g, w)
