"""Compiled kernels of post-processing (numba). Public wrappers live in the modules that use them.

Sifting: :func:`sift_split` splits the kept slots into key-basis (X) and test-basis (Z)
arrays in one pass (slow twin: boolean indexing in ``tests/reference/postproc_sift.py``).
The GF(2^128) kernels of the one-time MAC are in :mod:`quaykey._kernels`.

Privacy amplification: :func:`crt_scatter` lays bits out on a multi-dimensional FFT grid by
the Chinese-remainder (Good-Thomas) index map, :func:`rint_parity` rounds the convolution
to its parities and :func:`crt_gather` reads them back in the original order (slow twin:
the 1-D grid, where the map is the identity, and the explicit GF(2) product in
``tests/unit/postproc``).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["crt_gather", "crt_scatter", "rint_parity", "sift_split"]


@njit(cache=True, nogil=True)
def sift_split(
    bits: NDArray[np.uint8],
    bases: NDArray[np.uint8],
    intensity: NDArray[np.uint8],
    keep: NDArray[np.bool_],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Bits and intensities of the kept slots, split by basis (0 = X, 1 = Z), in order.

    Branch-free (kept slots and bases are random, so branches would mispredict): every slot
    is written to both outputs and only the matching cursor advances."""
    n = bits.size
    x_bits = np.empty(n + 1, dtype=np.uint8)
    x_int = np.empty(n + 1, dtype=np.uint8)
    z_bits = np.empty(n + 1, dtype=np.uint8)
    z_int = np.empty(n + 1, dtype=np.uint8)
    ix = 0
    iz = 0
    for i in range(n):
        b = bits[i]
        v = intensity[i]
        k = int(keep[i])
        x_bits[ix] = b
        x_int[ix] = v
        z_bits[iz] = b
        z_int[iz] = v
        ix += k & int(bases[i] == 0)
        iz += k & int(bases[i] == 1)
    return x_bits[:ix], x_int[:ix], z_bits[:iz], z_int[:iz]


#: Columns per tile of :func:`crt_scatter` / :func:`crt_gather`: a tile of ``odd`` rows by this
#: many bytes stays in the L1 cache while its ``odd`` input segments stream in.
CRT_TILE = 64


@njit(cache=True, nogil=True)
def crt_scatter(
    bits: NDArray[np.uint8], rows: NDArray[np.int64], width: int, out: NDArray[np.uint8]
) -> None:  # pragma: no cover - compiled
    """Write ``bits`` zero-padded to ``out.size`` points, point ``p`` at the flat position
    ``rows[p % rows.size] + p % width`` (``rows`` holds each odd residue's row offset).

    Column ``j`` holds the points ``j + q * width``; a tile of :data:`CRT_TILE` columns is
    filled from ``rows.size`` contiguous input segments, one per ``q``."""
    n_rows = rows.size
    n = bits.size
    for j0 in range(0, width, CRT_TILE):
        j1 = min(j0 + CRT_TILE, width)
        for q in range(n_rows):
            base = q * width
            r = (base + j0) % n_rows
            for j in range(j0, j1):
                p = base + j
                out[rows[r] + j] = bits[p] if p < n else 0
                r += 1
                if r == n_rows:
                    r = 0


@njit(cache=True, nogil=True)
def crt_gather(
    src: NDArray[np.uint8], rows: NDArray[np.int64], width: int, start: int, out: NDArray[np.uint8]
) -> None:  # pragma: no cover - compiled
    """``out[i]`` = the value of point ``start + i`` of ``src``, points mapped as in
    :func:`crt_scatter` (and read in its tile order)."""
    n_rows = rows.size
    stop = start + out.size
    for j0 in range(0, width, CRT_TILE):
        j1 = min(j0 + CRT_TILE, width)
        for q in range(n_rows):
            base = q * width
            if base + j1 <= start or base + j0 >= stop:
                continue
            r = (base + j0) % n_rows
            for j in range(j0, j1):
                p = base + j
                if start <= p < stop:
                    out[p - start] = src[rows[r] + j]
                r += 1
                if r == n_rows:
                    r = 0


@njit(cache=True, nogil=True)
def rint_parity(
    conv: NDArray[np.float64], scale: float, out: NDArray[np.uint8]
) -> None:  # pragma: no cover - compiled
    """``out[i, j] = rint(conv[i, j] * scale) mod 2`` (2-D; ``out`` may have longer rows) for
    values that are integers up to a rounding error below 1/2 (either sign)."""
    for i in range(conv.shape[0]):
        for j in range(conv.shape[1]):
            out[i, j] = np.uint8(np.int64(np.rint(conv[i, j] * scale)) & 1)
