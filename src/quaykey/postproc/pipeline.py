"""Post-processing of one block, as one import: the names callers of this layer use.

The block runs as two parties over the authenticated channel; each piece lives in its own
module:

- :mod:`quaykey.postproc.protocol`: the stages, :class:`SecuritySettings` and the public
  computations both parties apply;
- :mod:`quaykey.postproc.parties`: :class:`AliceParty` and :class:`BobParty`;
- :mod:`quaykey.postproc.driver`: :func:`run_block`, which calls the parties' steps in order,
  and :func:`run_blocks`, which runs a stream of blocks with several in flight;
- :mod:`quaykey.postproc.report`: :class:`BlockResult` (the keys and the public account) and
  :class:`KeyBits`;
- :mod:`quaykey.postproc.channel` and :mod:`quaykey.postproc.authpool`: the channel and the
  authentication key pools.

Example
-------
>>> from quaykey.postproc.pipeline import STAGES
>>> STAGES[0], STAGES[-1]
('sifting', 'amplification')
"""

from __future__ import annotations

from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.driver import run_block, run_blocks
from quaykey.postproc.parties import AliceParty, BobParty
from quaykey.postproc.protocol import STAGES, SecuritySettings
from quaykey.postproc.report import BlockResult, KeyBits

__all__ = [
    "STAGES",
    "AliceParty",
    "AuthKeyPool",
    "BlockResult",
    "BobParty",
    "KeyBits",
    "SecuritySettings",
    "run_block",
    "run_blocks",
]
