"""Links: THE seam from a link's parameters to a block outcome, and consecutive blocks.

See :mod:`quaykey.network.links.block` (interface), :mod:`.statistical` and :mod:`.exact`
(the two implementations) and :mod:`.runner` (consecutive blocks of one link).
"""

from __future__ import annotations

from quaykey.network.links.block import (
    Attack,
    BlockOutcome,
    BlockWindow,
    Fidelity,
    LinkBlock,
    LossProfile,
)
from quaykey.network.links.exact import ExactBlock
from quaykey.network.links.runner import (
    LinkRunner,
    RunSummary,
    diagnose,
    make_block,
    shortest_key_block,
    summarise,
)
from quaykey.network.links.statistical import (
    LinkModel,
    StatisticalBlock,
    block_key_bits,
    error_correction_leak_bits,
    link_model,
)

__all__ = [
    "Attack",
    "BlockOutcome",
    "BlockWindow",
    "ExactBlock",
    "Fidelity",
    "LinkBlock",
    "LinkModel",
    "LinkRunner",
    "LossProfile",
    "RunSummary",
    "StatisticalBlock",
    "block_key_bits",
    "diagnose",
    "error_correction_leak_bits",
    "link_model",
    "make_block",
    "shortest_key_block",
    "summarise",
]
