"""Compiled kernels of post-processing (numba). Public wrappers live in the modules that use them.

Sifting: :func:`sift_split` splits the kept slots into key-basis (X) and test-basis (Z)
arrays in one pass (slow twin: boolean indexing in ``tests/reference/postproc_sift.py``).
The GF(2^128) kernels of the one-time MAC are in :mod:`quaykey._kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["sift_split"]


@njit(cache=True)
def sift_split(
    bits: NDArray[np.uint8],
    bases: NDArray[np.uint8],
    intensity: NDArray[np.uint8],
    keep: NDArray[np.bool_],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Bits and intensities of the kept slots, split by basis (0 = X, 1 = Z), in order."""
    n = bits.size
    n_x = 0
    n_z = 0
    for i in range(n):
        if keep[i]:
            if bases[i] == 0:
                n_x += 1
            elif bases[i] == 1:
                n_z += 1
    x_bits = np.empty(n_x, dtype=np.uint8)
    x_int = np.empty(n_x, dtype=np.uint8)
    z_bits = np.empty(n_z, dtype=np.uint8)
    z_int = np.empty(n_z, dtype=np.uint8)
    ix = 0
    iz = 0
    for i in range(n):
        if keep[i]:
            if bases[i] == 0:
                x_bits[ix] = bits[i]
                x_int[ix] = intensity[i]
                ix += 1
            elif bases[i] == 1:
                z_bits[iz] = bits[i]
                z_int[iz] = intensity[i]
                iz += 1
    return x_bits, x_int, z_bits, z_int
