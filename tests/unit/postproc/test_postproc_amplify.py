"""Toeplitz privacy amplification: the FFT product equals the explicit GF(2) product."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.postproc.amplify import (
    fftw_available,
    identity_toeplitz_hash,
    identity_toeplitz_seed_length,
    seed_length,
    toeplitz_hash,
    toeplitz_matrix,
)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 1), (37, 20), (200, 200), (1000, 333), (4099, 1)])
def test_fft_equals_explicit_matrix(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 7 + m)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(n, m), dtype=np.uint8)
    explicit = (toeplitz_matrix(s, n, m).astype(np.int64) @ x.astype(np.int64)) % 2
    assert np.array_equal(toeplitz_hash(x, s, m), explicit.astype(np.uint8))


def test_matrix_is_toeplitz_with_documented_layout() -> None:
    s = np.array([1, 0, 0, 1, 1], dtype=np.uint8)  # n = 3, m = 3
    t = toeplitz_matrix(s, 3, 3)
    # T[i, j] = s[i - j + n - 1]: first row s[2], s[1], s[0]; first column s[2], s[3], s[4]
    assert t.tolist() == [[0, 0, 1], [1, 0, 0], [1, 1, 0]]


@pytest.mark.parametrize("chunk", [29, 64, 300])
def test_chunked_product_is_exact(chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    n, m = 1000, 421
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    whole = toeplitz_hash(x, s, m)
    assert np.array_equal(toeplitz_hash(x, s, m, max_chunk_bits=chunk), whole)


def test_large_input_matches_chunked_reference() -> None:
    # 2 * 10^5 bits: the single-FFT result equals a split into exact small blocks.
    rng = np.random.default_rng(3)
    n, m = 200_000, 90_000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    assert np.array_equal(toeplitz_hash(x, s, m), toeplitz_hash(x, s, m, max_chunk_bits=4096))


def test_bad_arguments_name_the_problem() -> None:
    x = np.ones(10, dtype=np.uint8)
    with pytest.raises(ValueError, match="seed_bits must hold"):
        toeplitz_hash(x, np.ones(5, dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="n_out_bits must be in"):
        toeplitz_hash(x, np.ones(20, dtype=np.uint8), 11)
    with pytest.raises(ValueError, match="n_out_bits must be in"):
        toeplitz_hash(x, np.ones(9, dtype=np.uint8), 0)
    with pytest.raises(ValueError, match="key_bits must be a 1-D"):
        toeplitz_hash(np.ones((2, 5), dtype=np.uint8), np.ones(13, dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="dtype uint8"):
        toeplitz_hash(np.ones(10), np.ones(13, dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="must not be empty"):
        toeplitz_hash(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint8), 1)


def test_grid_shapes_are_close_and_fft_friendly() -> None:
    from quaykey.postproc.amplify import _CRT_FROM, _factors_of, _grid_shape

    for target in (1, 2, 3, 100, 131_073, 1_048_575, 1_048_576, 1_499_999, 2_000_001, 10**7):
        shape = _grid_shape(target)
        size = int(np.prod(shape))
        assert target <= size <= max(2, int(target * 1.2) + 1)
        if target < _CRT_FROM:
            odd = size
            while odd % 2 == 0:
                odd //= 2
            assert len(shape) == 1 and odd in (1, 3, 5, 9, 15, 25, 27, 45)
        else:  # (odd, 2^k): coprime prime-power factors, a power-of-two row
            odd, width = shape
            assert width & (width - 1) == 0 and odd % 2 == 1
            factors = _factors_of(shape)
            assert int(np.prod(factors)) == odd
            assert all(np.gcd(a, b) == 1 for i, a in enumerate(factors) for b in factors[i + 1 :])


@pytest.mark.skipif(not fftw_available(), reason="optional pyfftw not installed")
@pytest.mark.parametrize(("n", "m"), [(50, 20), (333, 1), (700, 700), (1000, 431)])
def test_crt_grid_equals_explicit_matrix(n: int, m: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Good-Thomas grids at small sizes (rows of 8-16 points, 3-4 dimensions)."""
    import quaykey.postproc.amplify as amp

    monkeypatch.setattr(amp, "_PLANS", {})
    monkeypatch.setattr(amp, "_CRT_FROM", 16)
    monkeypatch.setattr(amp, "_CRT_ROW_COST", {3: 1.0, 4: 1.0})
    monkeypatch.setattr(amp, "_PARALLEL_FROM", 1)
    rng = np.random.default_rng(n + 3 * m)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    assert len(amp._grid_shape(n + m - 1)) == 2
    explicit = (toeplitz_matrix(s, n, m).astype(np.int64) @ x.astype(np.int64)) % 2
    assert np.array_equal(toeplitz_hash(x, s, m), explicit.astype(np.uint8))


@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (2, 1), (40, 17), (40, 31), (300, 300), (1001, 500), (1001, 900)]
)
def test_identity_toeplitz_equals_explicit_matrix(n: int, m: int) -> None:
    rng = np.random.default_rng(5 * n + m)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, identity_toeplitz_seed_length(n, m), dtype=np.uint8)
    t = np.eye(m, dtype=np.int64)
    if n > m:
        t = np.hstack([t, toeplitz_matrix(s, n - m, m).astype(np.int64)])
    assert np.array_equal(identity_toeplitz_hash(x, s, m), (t @ x.astype(np.int64)) % 2)
    assert np.array_equal(identity_toeplitz_hash(x, s, m, max_chunk_bits=64), (t @ x) % 2)


def test_identity_toeplitz_is_linear_and_takes_n_minus_one_seed_bits() -> None:
    rng = np.random.default_rng(11)
    n, m = 250_000, 100_000
    x, y = (rng.integers(0, 2, n, dtype=np.uint8) for _ in range(2))
    s = rng.integers(0, 2, n - 1, dtype=np.uint8)
    assert identity_toeplitz_seed_length(n, m) == n - 1
    hx, hy = identity_toeplitz_hash(x, s, m), identity_toeplitz_hash(y, s, m)
    assert np.array_equal(hx ^ hy, identity_toeplitz_hash(x ^ y, s, m))
    # a difference in the first m bits alone passes straight through (never collides)
    d = np.zeros(n, dtype=np.uint8)
    d[17] = 1
    assert np.array_equal(identity_toeplitz_hash(x ^ d, s, m) ^ hx, d[:m])
    with pytest.raises(ValueError, match="seed_bits must hold 249999 bits"):
        identity_toeplitz_hash(x, s[:-1], m)
    with pytest.raises(ValueError, match="n_out_bits must be in"):
        identity_toeplitz_hash(x, s, n + 1)


@pytest.mark.skipif(not fftw_available(), reason="optional pyfftw not installed")
@pytest.mark.parametrize(
    ("n", "m"), [(131_072, 1), (150_000, 60_000), (700_000, 350_000), (1_500_000, 700_001)]
)
def test_fftw_backend_equals_pocketfft(n: int, m: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import quaykey.postproc.amplify as amp

    rng = np.random.default_rng(n + m)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    # fresh plans, the inverse on every core at these lengths too
    monkeypatch.setattr(amp, "_PLANS", {})
    monkeypatch.setattr(amp, "_THREADED_FROM", 1 << 17)
    with_fftw = toeplitz_hash(x, s, m)
    monkeypatch.setattr(amp, "_pyfftw", None)
    assert np.array_equal(with_fftw, toeplitz_hash(x, s, m))
    # and both equal a split into small exact blocks
    assert np.array_equal(with_fftw, toeplitz_hash(x, s, m, max_chunk_bits=50_000))


def test_parity_rounds_near_integers_of_either_sign() -> None:  # the compiled kernel
    from quaykey.postproc.amplify import _parity

    k = np.arange(-5, 2_000_000, 997, dtype=np.int64)
    noise = np.random.default_rng(3).uniform(-0.45, 0.45, k.size)
    conv = (k + noise) * 8.0  # scaled back by 1/8, as an unnormalised inverse FFT
    assert np.array_equal(_parity(conv, 1.0 / 8.0), (k & 1).astype(np.uint8))
