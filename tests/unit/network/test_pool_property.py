"""Property: under any sequence of operations a pool's accounting holds and never goes negative."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quaykey.errors import KeyExhaustedError
from quaykey.network.pool import KeyPool

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 300)),
        st.tuples(st.just("reserve"), st.integers(0, 400)),
        st.tuples(st.just("take"), st.integers(0, 400)),
        st.tuples(st.just("commit"), st.integers(0, 10)),
        st.tuples(st.just("release"), st.integers(0, 10)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_pool_accounting_invariants(sequence: list[tuple[str, int]]) -> None:
    pool = KeyPool("x--y", "x", materialised=True)
    stream = np.random.default_rng(0).integers(0, 2, 20_000, dtype=np.uint8)
    written = 0  # bits appended so far
    read = 0  # bits handed out so far, in order
    open_res = []
    for op, n in sequence:
        before = (pool.total_bits, pool.available_bits)
        if op == "append":
            pool.append(bits=stream[written : written + n])
            written += n
        elif op in ("reserve", "take"):
            try:
                if op == "reserve":
                    open_res.append(pool.reserve(n))
                else:
                    out = pool.take(n)
                    assert out is not None
                    np.testing.assert_array_equal(out, stream[read : read + n])
                    read += n
            except KeyExhaustedError:
                assert n > before[1]
                assert (pool.total_bits, pool.available_bits) == before
        elif open_res:
            res = open_res.pop(n % len(open_res))
            if op == "commit":
                out = pool.commit(res)
                assert out is not None
                np.testing.assert_array_equal(out, stream[read : read + res.n_bits])
                read += res.n_bits
            else:
                pool.release(res)
        assert pool.available_bits >= 0
        assert pool.total_bits == written - read
        assert pool.reserved_bits == sum(r.n_bits for r in open_res)
        assert pool.deposited_bits - pool.consumed_bits == pool.total_bits
