"""Compatibility names for :mod:`quaykey.network.satellite` until it calls the seam directly.

The link model moved: expected counts to :mod:`quaykey.physics.counts`, the finite-key
length and blocks to :mod:`quaykey.network.links` (THE seam). A satellite pass's block is
``ExactBlock().run(params, BlockWindow(start_s, profile.duration_s), rng,
loss=LossProfile.from_samples(loss_db, step_s))`` (or ``StatisticalBlock()`` for counts).
This module keeps the three names the satellite module imports; remove it once that
module imports from :mod:`quaykey.network.links` and :mod:`quaykey.physics.counts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quaykey.network.links.block import BlockOutcome, BlockWindow, LossProfile
from quaykey.network.links.exact import ExactBlock
from quaykey.network.links.statistical import block_key_bits
from quaykey.physics.counts import expected_counts
from quaykey.physics.params import LinkParams

__all__ = ["block_key_bits", "exact_free_space_block", "expected_counts"]


def exact_free_space_block(
    params: LinkParams,
    loss_db_profile: Sequence[float],
    step_s: float,
    rng: np.random.Generator,
    auth: tuple[Any, Any],
    name: str = "free-space",
    end_s: float = 0.0,
    reconciler: str = "cascade",
    qber_threshold: float = 0.11,
) -> tuple[BlockOutcome, Any]:
    """One exact block over a loss profile, through :class:`ExactBlock` (see module doc)."""
    profile = LossProfile.from_samples(loss_db_profile, step_s)
    block = ExactBlock(reconciler=reconciler, qber_threshold=qber_threshold, auth=auth)
    window = BlockWindow(end_s - profile.duration_s, profile.duration_s)
    out = block.run(params, window, rng, name=name, loss=profile)
    return out, out.keys
