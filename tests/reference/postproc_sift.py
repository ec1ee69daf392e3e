"""Slow, obviously-correct twin of quaykey.postproc._kernels.sift_split."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sift_split(
    bits: NDArray[np.uint8],
    bases: NDArray[np.uint8],
    intensity: NDArray[np.uint8],
    keep: NDArray[np.bool_],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Boolean indexing: kept slots in basis 0 (X) and basis 1 (Z), in order."""
    x = keep & (bases == 0)
    z = keep & (bases == 1)
    return bits[x], intensity[x], bits[z], intensity[z]
