"""Shared pytest configuration."""

from __future__ import annotations

import os

# Keep numba's on-disk cache inside the checkout so repeated runs reuse compiled kernels.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache")
)
