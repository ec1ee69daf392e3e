"""The many-frames (SIMD lanes) LDPC decoder against the scalar kernel and the slow twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quaykey.postproc.reconcile import _ldpc_kernels as kernels
from quaykey.postproc.reconcile import _ldpc_lanes as lanes
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob, decode_syndrome
from reference import ldpc_reference as ref


def test_phi_table_within_stated_error() -> None:
    # Bound from the table's docstring: |error| <= 2**-8 (7 mantissa bits, bin centres),
    # checked against the exact function over the range the decoder meets.
    xs = np.concatenate([np.geomspace(1e-9, 39.0, 20001), [0.0, 45.0]]).astype(np.float32)
    idx = (xs.view(np.uint32) & 0x7FFFFFFF) >> 16
    exact = np.array([ref.exact_phi(float(x)) if x < 40 else 0.0 for x in xs.tolist()])
    cap = ref.exact_phi(1e-12)
    np.testing.assert_allclose(lanes._PHI32[idx], np.minimum(exact, cap), atol=2**-8, rtol=0)


def _noisy_frames(
    rate: float, n: int, q: float, n_frames: int, seed: int
) -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    code = build_code(n, rate, seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(n_frames, n), dtype=np.uint8)
    y = x ^ (rng.random((n_frames, n)) < q).astype(np.uint8)
    llr = math.log((1 - q) / q) * (1.0 - 2.0 * y)
    llr[:, rng.choice(n, n // 20, replace=False)] = 0.0  # punctured
    return code, x, llr, code.syndrome(x)


@pytest.mark.parametrize(("rate", "q", "n"), [(0.5, 0.07, 1024), (0.8, 0.014, 4096)])
def test_same_words_as_scalar_kernel_where_both_converge(rate: float, q: float, n: int) -> None:
    code, x, llr, syn = _noisy_frames(rate, n, q, 24, seed=21)
    bits_s, ok_s, _ = decode_syndrome(code, llr, syn, max_iter=60)
    bits_l, ok_l, it_l = decode_syndrome(code, llr, syn, max_iter=60, decoder="sum-product-lanes")
    both = ok_s & ok_l
    # Near threshold some frames fail in one decoder only; most converge in both.
    assert both.sum() >= 18, (ok_s.sum(), ok_l.sum())
    np.testing.assert_array_equal(bits_l[both], bits_s[both])
    np.testing.assert_array_equal(bits_l[ok_l], x[ok_l])  # converged = Alice's word here
    assert np.all(code.syndrome(bits_l[ok_l]) == syn[ok_l])
    assert np.all((it_l >= 1) & (it_l <= 60))


def test_agrees_with_slow_twin_on_decisions() -> None:
    # Same schedule and rule as the float64 slow twin (sum-product, stop early): the float32
    # table kernel reaches the same decision on every frame that both decode.
    code, _, llr, syn = _noisy_frames(0.5, 256, 0.06, 8, seed=4)
    post, msg = llr.copy(), np.zeros((8, code.n_edges))
    bits_r, ok_r, _ = ref.layered_decode(
        code.check_ptr, code.check_var, post, msg, syn, 30, False, 1.0, True, 0,
        phi=kernels.phi.py_func,
    )  # fmt: skip
    bits_l, ok_l, _ = lanes.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=30)
    both = ok_r & ok_l
    assert both.sum() >= 6
    np.testing.assert_array_equal(bits_l[both], bits_r[both])


def test_result_independent_of_threads_and_lanes() -> None:
    code, _, llr, syn = _noisy_frames(0.7, 2048, 0.04, 13, seed=8)
    base = lanes.decode_frames(
        code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=1, lanes=1
    )
    for threads, pool in ((2, 4), (3, 32), (1, 13)):
        out = lanes.decode_frames(
            code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=threads, lanes=pool
        )
        for a, b in zip(base, out, strict=True):
            np.testing.assert_array_equal(a, b)


def test_stall_gives_up_early_and_max_iter_bounds() -> None:
    # Far above threshold (Q = 15 % on a rate-0.8 code) nothing converges: with stall=3 the
    # frames stop well before max_iter; without it they run exactly max_iter iterations.
    code, _, llr, syn = _noisy_frames(0.8, 1024, 0.15, 6, seed=3)
    _, ok, its = lanes.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=50)
    assert not ok.any() and np.all(its == 50)
    _, ok, its = lanes.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=50, stall=3)
    assert not ok.any() and np.all(its < 50)


def test_blind_reconciliation_with_lanes_decoder_fixed_seed() -> None:
    # Fixed seeds; tolerance stated: every frame corrected, f within 0.05 of the scalar
    # decoder's on the same frames (both use the same blind steps; the decoders differ only
    # in float32 and the phi table).
    rng = np.random.default_rng(12)
    a = rng.integers(0, 2, 9 * 3686, dtype=np.uint8)
    b = a ^ (rng.random(a.size) < 0.04).astype(np.uint8)
    out = {}
    for decoder in ("sum-product", "sum-product-lanes"):
        bob = LdpcBob(b, 0.04, seed=3, code_length=4096, decoder=decoder, threads=2)
        out[decoder] = bob.run(LdpcAlice(a, rng=5).respond)
        assert out[decoder].failed_frames == ()
        np.testing.assert_array_equal(out[decoder].corrected, a)
    leak_s = out["sum-product"].leaked_bits
    leak_l = out["sum-product-lanes"].leaked_bits
    assert abs(leak_l - leak_s) / leak_s < 0.05


def test_lanes_decoder_rejects_warm_rounds() -> None:
    with pytest.raises(ValueError, match="restart_every"):
        LdpcBob(np.zeros(10, dtype=np.uint8), 0.02, 1, decoder="sum-product-lanes", restart_every=2)
