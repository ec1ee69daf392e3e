"""Privacy amplification by Toeplitz hashing, computed exactly with real FFTs.

An ``m x n`` Toeplitz matrix over GF(2) is fixed by a seed ``s`` of ``n + m - 1`` bits:
``T[i, j] = s[i - j + n - 1]``. Then ``y = T x`` is the slice ``[n - 1, n - 1 + m)`` of the
linear convolution ``s * x``, which a cyclic convolution of length ``L >= n + m - 1``
computes without wrap-around. The integer convolution is done in float64 (``rfft``/``irfft``
with ``next_fast_len``); each output is an integer at most ``n``, and the rounding error of
an FFT of length ``L`` stays far below 1/2 for ``n`` up to about 10^8, so
``rint(.) & 1`` is exact. Longer inputs (or outputs) are split into column/row blocks of
at most ``max_chunk_bits`` whose partial products are XORed, keeping every FFT in the
exact range.

Toeplitz hashing is a 2-universal family, so the leftover hash lemma applies: an output of
``l`` bits is ``epsilon_PA``-close to uniform given Eve's information when ``l`` is the
finite-key length (Lim et al. 2014, Eq. 1).

References
----------
Krawczyk, "LFSR-based hashing and authentication", CRYPTO '94 (Toeplitz universal hashing).
Hayashi, Tsurumaru, "More efficient privacy amplification with less random seeds via dual
universal hash function", IEEE TIT 62, 2213 (2016). Tang et al., "High-speed and large-scale
privacy amplification scheme for QKD", Sci. Rep. 9, 15733 (2019) (FFT, block splitting).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

__all__ = ["MAX_CHUNK_BITS", "seed_length", "toeplitz_hash", "toeplitz_matrix"]

#: Largest block (input or output bits) handled by one FFT; well inside float64 exactness.
MAX_CHUNK_BITS = 1 << 26
#: FFT length from which the two forward transforms run on two threads.
_PARALLEL_FROM = 1 << 17
_POOL: ThreadPoolExecutor | None = None


def seed_length(n_in_bits: int, n_out_bits: int) -> int:
    """Seed bits needed for an ``n_out_bits x n_in_bits`` Toeplitz matrix (``n + m - 1``)."""
    if n_in_bits < 1 or n_out_bits < 1:
        raise ValueError("n_in_bits and n_out_bits must be >= 1")
    return n_in_bits + n_out_bits - 1


def _check_bits(name: str, arr: NDArray[np.uint8]) -> NDArray[np.uint8]:
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of bits")
    if a.dtype != np.uint8 and a.dtype != np.bool_:
        raise ValueError(f"{name} must have dtype uint8 (0/1 values), got {a.dtype}")
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def _executor() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quaykey-fft")
    return _POOL


def _rfft(bits: NDArray[np.uint8], length: int) -> NDArray[np.complex128]:
    buf = np.zeros(length, dtype=np.float64)
    buf[: bits.size] = bits
    return sfft.rfft(buf, overwrite_x=True)  # type: ignore[no-any-return]


def _toeplitz_fft(seed: NDArray[np.uint8], key: NDArray[np.uint8], n_out: int) -> NDArray[np.int64]:
    """Integer (not reduced) product for one block; ``seed`` has ``n + n_out - 1`` entries."""
    n = key.size
    length = sfft.next_fast_len(n + n_out - 1, real=True)
    if length >= _PARALLEL_FROM:
        # the two forward transforms are independent and release the GIL: overlap them
        job = _executor().submit(_rfft, seed, length)
        spec = _rfft(key, length)
        spec *= job.result()
    else:
        spec = _rfft(seed, length)
        spec *= _rfft(key, length)
    conv = sfft.irfft(spec, length, overwrite_x=True)
    return np.rint(conv[n - 1 : n - 1 + n_out]).astype(np.int64)


def toeplitz_hash(
    key_bits: NDArray[np.uint8],
    seed_bits: NDArray[np.uint8],
    n_out_bits: int,
    *,
    max_chunk_bits: int = MAX_CHUNK_BITS,
) -> NDArray[np.uint8]:
    """Compress ``key_bits`` to ``n_out_bits`` bits with the Toeplitz matrix of ``seed_bits``.

    Parameters
    ----------
    key_bits
        Input bits (uint8 0/1), length ``n >= 1``.
    seed_bits
        Public random seed (uint8 0/1) of exactly ``n + n_out_bits - 1`` bits.
    n_out_bits
        Output length ``m``, ``1 <= m <= n``.
    max_chunk_bits
        Largest input/output block per FFT; larger problems are split and the partial
        products XORed (exact). Tests lower it to exercise the split.

    Returns
    -------
    numpy.ndarray
        ``T x mod 2`` as uint8, length ``n_out_bits``.

    Raises
    ------
    ValueError
        If an array is not 1-D uint8, the seed length is wrong, ``n_out_bits`` is outside
        ``[1, n]`` or ``max_chunk_bits < 1``.

    Example
    -------
    >>> x = np.array([1, 0, 1, 1], dtype=np.uint8)
    >>> s = np.array([1, 0, 0, 1, 1], dtype=np.uint8)
    >>> toeplitz_hash(x, s, 2).tolist() == (toeplitz_matrix(s, 4, 2) @ x % 2).tolist()
    True

    References
    ----------
    Krawczyk, CRYPTO '94; Tang et al., Sci. Rep. 9, 15733 (2019).
    """
    x = _check_bits("key_bits", key_bits)
    s = _check_bits("seed_bits", seed_bits)
    n = x.size
    if n < 1:
        raise ValueError("key_bits must not be empty")
    if not 1 <= n_out_bits <= n:
        raise ValueError(f"n_out_bits must be in [1, {n}] (the input length), got {n_out_bits}")
    if s.size != n + n_out_bits - 1:
        raise ValueError(
            f"seed_bits must hold n + n_out_bits - 1 = {n + n_out_bits - 1} bits, got {s.size}"
        )
    if max_chunk_bits < 1:
        raise ValueError(f"max_chunk_bits must be >= 1, got {max_chunk_bits}")
    if n <= max_chunk_bits and n_out_bits <= max_chunk_bits:
        return (_toeplitz_fft(s, x, n_out_bits) & 1).astype(np.uint8)
    out = np.zeros(n_out_bits, dtype=np.uint8)
    for i0 in range(0, n_out_bits, max_chunk_bits):
        i1 = min(i0 + max_chunk_bits, n_out_bits)
        acc = np.zeros(i1 - i0, dtype=np.int64)
        for j0 in range(0, n, max_chunk_bits):
            j1 = min(j0 + max_chunk_bits, n)
            # rows i0..i1, cols j0..j1 use s[i - j + n - 1] for i - j in [i0 - j1 + 1, i1 - j0 - 1]
            lo = i0 - (j1 - 1) + n - 1
            hi = (i1 - 1) - j0 + n - 1
            acc ^= _toeplitz_fft(s[lo : hi + 1], x[j0:j1], i1 - i0) & 1
        out[i0:i1] = acc
    return out


def toeplitz_matrix(
    seed_bits: NDArray[np.uint8], n_in_bits: int, n_out_bits: int
) -> NDArray[np.uint8]:
    """The explicit ``n_out_bits x n_in_bits`` Toeplitz matrix of a seed (small sizes only).

    ``T[i, j] = seed[i - j + n_in_bits - 1]``.
    """
    s = _check_bits("seed_bits", seed_bits)
    if s.size != n_in_bits + n_out_bits - 1:
        raise ValueError("seed_bits must hold n_in_bits + n_out_bits - 1 bits")
    i = np.arange(n_out_bits)[:, None]
    j = np.arange(n_in_bits)[None, :]
    return s[i - j + n_in_bits - 1].astype(np.uint8)
