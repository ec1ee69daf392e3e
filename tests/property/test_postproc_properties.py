"""Property tests of post-processing primitives (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quaykey.errors import KeyExhaustedError, VerificationError
from quaykey.postproc.amplify import toeplitz_hash
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.verify import VerifyHash, check_tag


@st.composite
def toeplitz_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 400))
    m = draw(st.integers(1, n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    y = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    return x, y, s, m


@settings(max_examples=60, deadline=None)
@given(toeplitz_case())
def test_amplification_has_requested_length_and_is_linear(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    x, y, s, m = case
    hx, hy, hxy = toeplitz_hash(x, s, m), toeplitz_hash(y, s, m), toeplitz_hash(x ^ y, s, m)
    assert hx.size == m and hx.dtype == np.uint8 and set(np.unique(hx)) <= {0, 1}
    assert np.array_equal(hxy, hx ^ hy)
    assert not toeplitz_hash(np.zeros_like(x), s, m).any()


@settings(max_examples=60, deadline=None)
@given(
    n_bits=st.integers(1, 3000),
    seed=st.integers(0, 2**32 - 1),
    tag_bits=st.integers(40, 128),
    flip_message=st.booleans(),
    data=st.data(),
)
def test_verify_accepts_own_tag_and_rejects_any_flipped_bit(
    n_bits: int, seed: int, tag_bits: int, flip_message: bool, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n_bits, dtype=np.uint8)
    h = VerifyHash.draw(rng, tag_bits)
    tag = h.tag(bits)
    check_tag(bits, h, tag)
    # a wrong message passes with probability <= (L+1)/2^128 + 2^-40 per example: negligible
    if flip_message:
        i = data.draw(st.integers(0, n_bits - 1))
        bad = bits.copy()
        bad[i] ^= 1
        with pytest.raises(VerificationError):
            check_tag(bad, h, tag)
    else:
        j = data.draw(st.integers(0, tag_bits - 1))
        with pytest.raises(VerificationError):
            check_tag(bits, h, tag ^ (1 << j))


@settings(max_examples=80, deadline=None)
@given(
    initial=st.integers(0, 600),
    ops=st.lists(
        st.tuples(st.sampled_from(["draw", "replenish"]), st.integers(0, 300)), max_size=30
    ),
)
def test_auth_pool_never_spends_a_bit_twice(initial: int, ops: list[tuple[str, int]]) -> None:
    rng = np.random.default_rng(initial)
    stream = rng.integers(0, 2, initial, dtype=np.uint8)
    pool = AuthKeyPool(stream)
    all_bits = list(stream)
    drawn: list[int] = []
    for op, n in ops:
        if op == "replenish":
            new = rng.integers(0, 2, n, dtype=np.uint8)
            pool.replenish(new)
            all_bits.extend(new)
        else:
            before = (pool.spent_bits, pool.available_bits)
            if n > pool.available_bits:
                with pytest.raises(KeyExhaustedError):
                    pool.draw(n, "tag")
                assert (pool.spent_bits, pool.available_bits) == before  # nothing spent
            else:
                drawn.extend(pool.draw(n, "tag"))
    ledger = pool.ledger
    # intervals are disjoint, in order, and contiguous; their total is what was spent
    position = 0
    for start, stop, _ in ledger:
        assert start == position and stop >= start
        position = stop
    assert position == pool.spent_bits == len(drawn)
    assert pool.spent_bits + pool.available_bits == pool.supplied_bits == len(all_bits)
    assert drawn == all_bits[: len(drawn)]  # each bit handed out once, in stream order
