"""The authentication key pool: spending, replenishing, the ledger."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.postproc.authpool import AuthKeyPool


def test_pool_replenish_and_ledger() -> None:
    a, b = AuthKeyPool.pre_shared(256, seed=1)
    a.draw(200, "x")
    a.replenish(np.ones(100, dtype=np.uint8))
    assert a.available_bits == 156
    drawn = a.draw(150, "y")
    assert drawn[-94:].all()  # after the 56 pre-shared bits come the replenished ones
    assert a.ledger == ((0, 200, "x"), (200, 350, "y"))
    assert a.spent_bits == 350 and a.supplied_bits == 356
    with pytest.raises(ValueError, match="0/1"):
        a.replenish(np.array([2], dtype=np.uint8))
    assert a.supplied_bits == 356  # nothing added
    assert "1" not in repr(b).split("available_bits")[0]  # no bits in repr
