"""Privacy amplification by Toeplitz hashing, computed exactly with real FFTs.

An ``m x n`` Toeplitz matrix over GF(2) is fixed by a seed ``s`` of ``n + m - 1`` bits:
``T[i, j] = s[i - j + n - 1]``. Then ``y = T x`` is the slice ``[n - 1, n - 1 + m)`` of the
linear convolution ``s * x``, which a cyclic convolution of length ``L >= n + m - 1``
computes without wrap-around. The integer convolution is done in float64: with FFTW
through the optional pyfftw package (on lengths ``odd * 2^k`` whose estimated plans are
fast; the two forward transforms overlap on two threads and the inverse uses every core
from 2^22 points), else scipy's ``rfft``/``irfft`` with ``next_fast_len``. Each output is an
integer at most ``n``, and the rounding error of an FFT of length ``L`` stays far below 1/2
for ``n`` up to about 10^8, so rounding is exact; the parity is read from the float's
mantissa after adding 1.5 * 2^52 (no integer temporaries). Longer inputs (or outputs) are
split into column/row blocks of at most ``max_chunk_bits`` whose partial products are
XORed, keeping every FFT in the exact range.

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

import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

try:  # optional: FFTW 3 (pyfftw) beats pocketfft (1.5-2x at 10^7 bits here)
    import pyfftw as _pyfftw
except ImportError:  # pragma: no cover - depends on the environment
    _pyfftw = None

__all__ = ["MAX_CHUNK_BITS", "fftw_available", "seed_length", "toeplitz_hash", "toeplitz_matrix"]

#: Largest block (input or output bits) handled by one FFT; well inside float64 exactness.
MAX_CHUNK_BITS = 1 << 26
#: FFT length from which the two forward transforms run on two threads.
_PARALLEL_FROM = 1 << 17
_POOL: ThreadPoolExecutor | None = None
_FFTW_ODD_PARTS = (1, 3, 5, 9, 15, 25, 27, 45)  # FFT-friendly lengths at most 12.5 % apart
#: Above 2^21 points FFTW's estimated plans are slow for odd parts with two prime factors
#: (15 * 2^20 took twice the time per point of 2^24 here): only these odd parts are used.
_FFTW_ODD_PARTS_LARGE = (1, 3, 5, 9)
_LARGE_FROM = 1 << 21
#: Cores this process may run on; the inverse FFTW transform uses them all from
#: :data:`_THREADED_FROM` points (the two forward transforms already overlap on two threads).
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_THREADED_FROM = 1 << 22
_PLANS: dict[int, list[Any]] = {}
_PLANS_LOCK = threading.Lock()


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


#: Adding 1.5 * 2**52 rounds a float of magnitude < 2**51 to an integer whose parity is the
#: lowest bit of the sum's mantissa: the lowest byte of the float64 in memory.
_ROUNDER = 1.5 * 2.0**52
_LOW_BYTE = 0 if sys.byteorder == "little" else 7


def _parity(conv: NDArray[np.float64], scale: float) -> NDArray[np.uint8]:
    """``rint(conv * scale) mod 2`` of a contiguous integer-valued block (``conv`` is scratch
    and overwritten): two passes in place and one strided read, no temporaries."""
    if scale != 1.0:
        conv *= scale
    conv += _ROUNDER
    return conv.view(np.uint8)[_LOW_BYTE::8] & np.uint8(1)  # type: ignore[no-any-return]


def fftw_available() -> bool:
    """Whether the optional FFTW backend (pyfftw) is installed."""
    return _pyfftw is not None


def _grid_length(target: int) -> int:
    """Smallest ``odd * 2**k >= target`` with ``odd`` in a short list (plans get reused)."""
    best = 1 << max(0, (target - 1).bit_length())
    for odd in _FFTW_ODD_PARTS if target <= _LARGE_FROM else _FFTW_ODD_PARTS_LARGE:
        k = max(0, (-(-target // odd) - 1).bit_length())
        best = min(best, odd << k)
    return best


class _FftwPlan:
    """Forward (r2c) and backward (c2r) FFTW plans of one length with their own buffers."""

    def __init__(self, length: int) -> None:
        assert _pyfftw is not None
        threads = _CORES if length >= _THREADED_FROM else 1
        self.real = _pyfftw.empty_aligned(length, dtype="float64")
        self.spec = _pyfftw.empty_aligned(length // 2 + 1, dtype="complex128")
        self.forward = _pyfftw.FFTW(self.real, self.spec, flags=("FFTW_ESTIMATE",))
        self.backward = _pyfftw.FFTW(
            self.spec,
            self.real,
            direction="FFTW_BACKWARD",
            flags=("FFTW_ESTIMATE", "FFTW_DESTROY_INPUT"),
            threads=threads,
        )

    def transform(self, bits: NDArray[np.uint8]) -> None:
        """Spectrum of ``bits`` zero-padded to the plan's length, into :attr:`spec`."""
        self.real[: bits.size] = bits
        self.real[bits.size :] = 0.0
        self.forward.execute()


@contextmanager
def _plan(length: int) -> Iterator[_FftwPlan]:
    """Borrow a plan of ``length`` (one user at a time); plans are kept for two lengths."""
    with _PLANS_LOCK:
        free = _PLANS.setdefault(length, [])
        plan = free.pop() if free else None
        if plan is None:  # FFTW's planner is not thread-safe: plan under the lock
            plan = _FftwPlan(length)
        for other in [k for k in _PLANS if k != length][: max(0, len(_PLANS) - 2)]:
            del _PLANS[other]
    try:
        yield plan
    finally:
        with _PLANS_LOCK:
            _PLANS.setdefault(length, []).append(plan)


def _toeplitz_fftw(
    seed: NDArray[np.uint8], key: NDArray[np.uint8], n_out: int, length: int
) -> NDArray[np.uint8]:
    n = key.size
    with _plan(length) as p, _plan(length) as q:
        if length >= _PARALLEL_FROM:  # the forward transforms release the GIL: overlap them
            job = _executor().submit(q.transform, seed)
            p.transform(key)
            job.result()
        else:
            q.transform(seed)
            p.transform(key)
        np.multiply(p.spec, q.spec, out=p.spec)
        p.backward.execute()  # unnormalised: length * convolution
        return _parity(p.real[n - 1 : n - 1 + n_out], 1.0 / length)


def _toeplitz_fft(seed: NDArray[np.uint8], key: NDArray[np.uint8], n_out: int) -> NDArray[np.uint8]:
    """Product mod 2 for one block; ``seed`` has ``n + n_out - 1`` entries."""
    n = key.size
    if _pyfftw is not None and n + n_out - 1 >= _PARALLEL_FROM:
        return _toeplitz_fftw(seed, key, n_out, _grid_length(n + n_out - 1))
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
    return _parity(conv[n - 1 : n - 1 + n_out], 1.0)


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
        return _toeplitz_fft(s, x, n_out_bits)
    out = np.zeros(n_out_bits, dtype=np.uint8)
    for i0 in range(0, n_out_bits, max_chunk_bits):
        i1 = min(i0 + max_chunk_bits, n_out_bits)
        acc = np.zeros(i1 - i0, dtype=np.uint8)
        for j0 in range(0, n, max_chunk_bits):
            j1 = min(j0 + max_chunk_bits, n)
            # rows i0..i1, cols j0..j1 use s[i - j + n - 1] for i - j in [i0 - j1 + 1, i1 - j0 - 1]
            lo = i0 - (j1 - 1) + n - 1
            hi = (i1 - 1) - j0 + n - 1
            acc ^= _toeplitz_fft(s[lo : hi + 1], x[j0:j1], i1 - i0)
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
