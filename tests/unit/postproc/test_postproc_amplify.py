"""Toeplitz privacy amplification: the FFT product equals the explicit GF(2) product."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.postproc.amplify import fftw_available, seed_length, toeplitz_hash, toeplitz_matrix


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


def test_grid_lengths_are_close_and_fft_friendly() -> None:
    from quaykey.postproc.amplify import _grid_length

    for target in (1, 2, 3, 100, 131_073, 1_499_999, 2_000_001):
        length = _grid_length(target)
        assert target <= length <= max(2, int(target * 1.2) + 1)
        odd = length
        while odd % 2 == 0:
            odd //= 2
        assert odd in (1, 3, 5, 9, 15, 25, 27, 45)


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


def test_parity_rounds_near_integers_of_either_sign() -> None:
    from quaykey.postproc.amplify import _parity

    k = np.arange(-5, 2_000_000, 997, dtype=np.int64)
    noise = np.random.default_rng(3).uniform(-0.45, 0.45, k.size)
    conv = (k + noise) * 8.0  # scaled back by 1/8, as an unnormalised inverse FFT
    assert np.array_equal(_parity(conv, 1.0 / 8.0), (k & 1).astype(np.uint8))
