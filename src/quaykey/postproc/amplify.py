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
finite-key length (Lim et al. 2014, Eq. 1). The post-processing hashes with
:func:`identity_toeplitz_hash`, the 2-universal family ``(I | T)`` of Hayashi and Tsurumaru:
``n - 1`` seed bits and a convolution of length ``n - 1`` instead of ``n + m - 1``.

Large convolutions run on a grid ``(odd, 2^k)`` of coprime sizes under the
Chinese-remainder index map (Good-Thomas), which turns the 1-D cyclic convolution into a
multi-dimensional one with short, cache-resident rows; compiled kernels lay the bits out
and read the parities back in tiles.

References
----------
Krawczyk, "LFSR-based hashing and authentication", CRYPTO '94 (Toeplitz universal hashing).
Hayashi, Tsurumaru, "More efficient privacy amplification with less random seeds via dual
universal hash function", IEEE TIT 62, 2213 (2016). Tang et al., "High-speed and large-scale
privacy amplification scheme for QKD", Sci. Rep. 9, 15733 (2019) (FFT, block splitting).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

from quaykey.postproc._kernels import crt_gather, crt_scatter, rint_parity

try:  # optional: FFTW 3 (pyfftw) beats pocketfft (1.5-2x at 10^7 bits here)
    import pyfftw as _pyfftw
except ImportError:  # pragma: no cover - depends on the environment
    _pyfftw = None

__all__ = [
    "MAX_CHUNK_BITS",
    "fftw_available",
    "identity_toeplitz_hash",
    "identity_toeplitz_seed_length",
    "seed_length",
    "toeplitz_hash",
    "toeplitz_matrix",
]

#: Largest block (input or output bits) handled by one FFT; well inside float64 exactness.
MAX_CHUNK_BITS = 1 << 26
#: FFT length from which the two forward transforms run on two threads.
_PARALLEL_FROM = 1 << 17
_POOL: ThreadPoolExecutor | None = None
_FFTW_ODD_PARTS = (1, 3, 5, 9, 15, 25, 27, 45)  # FFT-friendly lengths at most 12.5 % apart
#: From this many points the cyclic convolution runs on a grid ``(odd, 2^k)`` under the
#: Chinese-remainder index map (Good-Thomas): FFTW's estimated 1-D plans of 2^21-2^24 points
#: ran at 16-22 ns per point here, the same points on such grids at 7-11.
_CRT_FROM = 1 << 20
#: Odd prime powers with fast FFTW codelets; an odd grid factor is a product of coprime ones.
_ODD_POWERS = ((1, 3, 9, 27), (1, 5, 25), (1, 7))
#: Row lengths 2^k of such grids and their relative cost per point, measured here (2 cores,
#: FFTW 3 estimated plans, the whole hash: 23-24 ns per point for rows of 2^15-2^16 points,
#: 27 for 2^14, 29-30 for 2^17-2^18; the 1-D plans of the same sizes 54).
_CRT_ROW_COST = {14: 1.15, 15: 1.0, 16: 1.0, 17: 1.25, 18: 1.25}
#: Cores this process may run on; the inverse FFTW transform uses them all from
#: :data:`_THREADED_FROM` points (the two forward transforms already overlap on two threads).
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_THREADED_FROM = 1 << 22
_PLANS: dict[tuple[int, ...], list[Any]] = {}
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


def _parity(conv: NDArray[np.float64], scale: float) -> NDArray[np.uint8]:
    """``rint(conv * scale) mod 2`` of an integer-valued block."""
    out = np.empty((1, conv.size), dtype=np.uint8)
    rint_parity(conv.reshape(1, -1), scale, out)
    return out[0]


def fftw_available() -> bool:
    """Whether the optional FFTW backend (pyfftw) is installed."""
    return _pyfftw is not None


def _odd_grid_factors() -> dict[int, tuple[int, ...]]:
    """Every product of :data:`_ODD_POWERS` (one power of each prime) -> its factors > 1."""
    out: dict[int, tuple[int, ...]] = {}
    for a in _ODD_POWERS[0]:
        for b in _ODD_POWERS[1]:
            for c in _ODD_POWERS[2]:
                out[a * b * c] = tuple(f for f in (a, b, c) if f > 1)
    return out


_ODD_GRID_FACTORS = _odd_grid_factors()


def _grid_shape(target: int) -> tuple[int, ...]:
    """FFT grid of at least ``target`` points: ``(odd * 2^k,)`` below :data:`_CRT_FROM`
    (odd parts from a short list, so plans get reused), else ``(odd, 2^k)`` with ``odd`` a
    product of coprime prime powers and 2^k a cache-sized row: the cheapest such grid by
    :data:`_CRT_ROW_COST`."""
    if target < _CRT_FROM:
        best = 1 << max(0, (target - 1).bit_length())
        for odd in _FFTW_ODD_PARTS:
            k = max(0, (-(-target // odd) - 1).bit_length())
            best = min(best, odd << k)
        return (best,)
    options = []
    for odd in _ODD_GRID_FACTORS:
        for k, weight in _CRT_ROW_COST.items():
            if odd << k >= target:
                options.append((weight * (odd << k), odd, k))
    _, odd, k = min(options)
    return (odd << k,) if odd == 1 else (odd, 1 << k)


def _row_offsets(shape: tuple[int, ...], stride: int) -> NDArray[np.int64]:
    """Flat offset of row ``r % odd`` on a grid ``(odd, width)`` whose rows are ``stride``
    apart: its odd prime-power residues ``r mod f`` laid out as a C-order array of the
    factors."""
    odd = shape[0]
    r = np.arange(odd, dtype=np.int64)
    flat = np.zeros(odd, dtype=np.int64)
    for f in _factors_of(shape):  # mixed radix: row = sum (r mod f_i) * prod(f_j, j > i)
        flat = flat * f + r % f
    return flat * stride


class _FftwPlan:
    """Forward (r2c) and backward (c2r) FFTW plans on one grid with their own buffers.

    A grid ``(odd, 2^k)`` holds ``odd * 2^k`` points as an array of shape
    ``(*odd_factors, 2^k)``; since the factors are coprime, cyclic convolution over the
    points is the multi-dimensional cyclic convolution of the arrays under the
    Chinese-remainder map (Good-Thomas), so no twiddles are needed between the axes.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        assert _pyfftw is not None
        self.size = int(np.prod(shape, dtype=np.int64))
        self.width = shape[-1]
        dims = (*_factors_of(shape), self.width)
        threads = _CORES if self.size >= _THREADED_FROM else 1
        axes = tuple(range(len(dims)))
        self.real = _pyfftw.empty_aligned(dims, dtype="float64")
        self.spec = _pyfftw.empty_aligned((*dims[:-1], self.width // 2 + 1), dtype="complex128")
        self.flat = self.real.reshape(-1)
        # bytes in the grid's layout, each row padded by a cache line so that the rows
        # (2^k apart) do not all fall into the same cache sets; none on a 1-D grid
        grid = len(shape) > 1
        self.staging = np.empty((shape[0], self.width + 64) if grid else (0, 0), np.uint8)
        self.rows = _row_offsets(shape, self.width + 64) if grid else np.zeros(0, np.int64)
        self.forward = _pyfftw.FFTW(self.real, self.spec, axes=axes, flags=("FFTW_ESTIMATE",))
        self.backward = _pyfftw.FFTW(
            self.spec,
            self.real,
            axes=axes,
            direction="FFTW_BACKWARD",
            flags=("FFTW_ESTIMATE", "FFTW_DESTROY_INPUT"),
            threads=threads,
        )

    def transform(self, bits: NDArray[np.uint8]) -> None:
        """Spectrum of ``bits`` zero-padded to the grid's size, into :attr:`spec`."""
        if self.staging.size:  # bytes first: the grid's rows are written far apart
            crt_scatter(bits, self.rows, self.width, self.staging.reshape(-1))
            self.real.reshape(self.staging.shape[0], self.width)[:] = self.staging[:, : self.width]
        else:
            self.flat[: bits.size] = bits
            self.flat[bits.size :] = 0.0
        self.forward.execute()

    def parity(self, start: int, count: int) -> NDArray[np.uint8]:
        """Parities of the (unnormalised) inverse's points ``start .. start + count``."""
        if not self.staging.size:
            return _parity(self.flat[start : start + count], 1.0 / self.size)
        rint_parity(
            self.real.reshape(self.staging.shape[0], self.width), 1.0 / self.size, self.staging
        )
        out = np.empty(count, dtype=np.uint8)
        crt_gather(self.staging.reshape(-1), self.rows, self.width, start, out)
        return out


def _factors_of(shape: tuple[int, ...]) -> tuple[int, ...]:
    return _ODD_GRID_FACTORS[shape[0]] if len(shape) > 1 else ()


@contextmanager
def _plan(shape: tuple[int, ...]) -> Iterator[_FftwPlan]:
    """Borrow a plan of ``shape`` (one user at a time); plans are kept for two shapes."""
    with _PLANS_LOCK:
        free = _PLANS.setdefault(shape, [])
        plan = free.pop() if free else None
        if plan is None:  # FFTW's planner is not thread-safe: plan under the lock
            plan = _FftwPlan(shape)
        for other in [k for k in _PLANS if k != shape][: max(0, len(_PLANS) - 2)]:
            del _PLANS[other]
    try:
        yield plan
    finally:
        with _PLANS_LOCK:
            _PLANS.setdefault(shape, []).append(plan)


def _toeplitz_fftw(
    seed: NDArray[np.uint8], key: NDArray[np.uint8], n_out: int, shape: tuple[int, ...]
) -> NDArray[np.uint8]:
    n = key.size
    with _plan(shape) as p, _plan(shape) as q:
        if p.size >= _PARALLEL_FROM:  # the forward transforms release the GIL: overlap them
            job = _executor().submit(q.transform, seed)
            p.transform(key)
            job.result()
        else:
            q.transform(seed)
            p.transform(key)
        np.multiply(p.spec, q.spec, out=p.spec)
        p.backward.execute()  # unnormalised: size * convolution
        return p.parity(n - 1, n_out)


def _toeplitz_fft(seed: NDArray[np.uint8], key: NDArray[np.uint8], n_out: int) -> NDArray[np.uint8]:
    """Product mod 2 for one block; ``seed`` has ``n + n_out - 1`` entries."""
    n = key.size
    if _pyfftw is not None and n + n_out - 1 >= _PARALLEL_FROM:
        return _toeplitz_fftw(seed, key, n_out, _grid_shape(n + n_out - 1))
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


def _checked(
    key_bits: NDArray[np.uint8],
    seed_bits: NDArray[np.uint8],
    n_out_bits: int,
    max_chunk_bits: int,
    *,
    identity: bool,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The two bit arrays, once every argument of a hash is checked (ValueError naming it)."""
    x = _check_bits("key_bits", key_bits)
    s = _check_bits("seed_bits", seed_bits)
    n = x.size
    if n < 1:
        raise ValueError("key_bits must not be empty")
    if not 1 <= n_out_bits <= n:
        raise ValueError(f"n_out_bits must be in [1, {n}] (the input length), got {n_out_bits}")
    if identity:
        want = identity_toeplitz_seed_length(n, n_out_bits)
        if s.size != want:
            raise ValueError(
                f"seed_bits must hold {want} bits (n - 1, or 0 when n_out_bits = n), got {s.size}"
            )
    elif s.size != n + n_out_bits - 1:
        raise ValueError(
            f"seed_bits must hold n + n_out_bits - 1 = {n + n_out_bits - 1} bits, got {s.size}"
        )
    if max_chunk_bits < 1:
        raise ValueError(f"max_chunk_bits must be >= 1, got {max_chunk_bits}")
    return x, s


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
    x, s = _checked(key_bits, seed_bits, n_out_bits, max_chunk_bits, identity=False)
    return _toeplitz_product(x, s, n_out_bits, max_chunk_bits)


def _toeplitz_product(
    x: NDArray[np.uint8], s: NDArray[np.uint8], n_out_bits: int, max_chunk_bits: int
) -> NDArray[np.uint8]:
    """``T x mod 2`` for any ``n_out_bits x x.size`` Toeplitz matrix of ``s`` (validated)."""
    n = x.size
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


def identity_toeplitz_seed_length(n_in_bits: int, n_out_bits: int) -> int:
    """Seed bits of :func:`identity_toeplitz_hash`: ``n - 1``, or 0 when ``m = n``."""
    if n_in_bits < 1 or not 1 <= n_out_bits <= n_in_bits:
        raise ValueError(f"need 1 <= n_out_bits <= n_in_bits, got {n_out_bits} and {n_in_bits}")
    return n_in_bits - 1 if n_out_bits < n_in_bits else 0


def identity_toeplitz_hash(
    key_bits: NDArray[np.uint8],
    seed_bits: NDArray[np.uint8],
    n_out_bits: int,
    *,
    max_chunk_bits: int = MAX_CHUNK_BITS,
) -> NDArray[np.uint8]:
    """Compress ``key_bits`` to ``m = n_out_bits`` bits with the matrix ``(I_m | T)``.

    ``T`` is the ``m x (n - m)`` Toeplitz matrix of ``seed_bits`` (``n - 1`` bits), so the
    output is ``x[:m] XOR T x[m:]``. The family is 2-universal (Hayashi and Tsurumaru 2016):
    for ``x != x'`` with ``d = x XOR x'``, a difference confined to the first ``m`` bits never
    collides, and otherwise ``T d[m:]`` is uniform for a uniform seed, so a collision has
    probability ``2^-m``. The leftover hash lemma therefore applies as to :func:`toeplitz_hash`,
    with ``m`` fewer seed bits and a convolution of length ``n - 1`` instead of ``n + m - 1``.

    Raises
    ------
    ValueError
        As :func:`toeplitz_hash`, with the seed length ``n - 1`` (0 when ``m = n``).

    Example
    -------
    >>> x = np.array([1, 0, 1, 1, 0], dtype=np.uint8)
    >>> s = np.array([1, 0, 0, 1], dtype=np.uint8)
    >>> t = np.hstack([np.eye(2, dtype=np.uint8), toeplitz_matrix(s, 3, 2)])
    >>> identity_toeplitz_hash(x, s, 2).tolist() == (t @ x % 2).tolist()
    True

    References
    ----------
    Hayashi, Tsurumaru, IEEE TIT 62, 2213 (2016), the concatenation of the identity and a
    Toeplitz matrix.
    """
    x, s = _checked(key_bits, seed_bits, n_out_bits, max_chunk_bits, identity=True)
    n = x.size
    if n_out_bits == n:
        return x.copy()
    # T is m x (n - m), taller than wide when m > n/2: T v is still uniform for v != 0
    out = _toeplitz_product(x[n_out_bits:], s, n_out_bits, max_chunk_bits)
    out ^= x[:n_out_bits]
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
