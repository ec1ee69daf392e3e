"""The LDPC decoder kernel against its slow twin, the phi table, and an external oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quaykey.postproc.reconcile import _ldpc_kernels as kernels
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import decode_syndrome
from reference import ldpc_reference as ref


def test_phi_table_matches_exact_function() -> None:
    # Interpolation bound: h**2/8 * max phi'' = (1/256)**2 / 8 * (256 + 0.5) < 5e-4.
    xs = np.concatenate([np.linspace(0.0, 45.0, 20001), [1e-15, 1e-9, 0.0624, 0.0625]])
    for x in xs.tolist():
        assert abs(kernels.phi(x) - ref.exact_phi(x)) < 5e-4, x
    # Exact (up to the floor) below 1/16, where phi is steep.
    for x in (1e-13, 1e-6, 0.01, 0.06):
        assert kernels.phi(x) == pytest.approx(-math.log(math.tanh(max(x, 1e-12) / 2)), rel=1e-12)


def _random_instance(
    rate: float, n: int, seed: int, n_frames: int = 2
) -> tuple[object, np.ndarray, np.ndarray]:
    code = build_code(n, rate, seed)
    rng = np.random.default_rng(seed)
    llr = rng.normal(2.0, 2.5, size=(n_frames, n))
    llr[:, rng.choice(n, n // 10, replace=False)] = 0.0  # punctured
    llr[:, rng.choice(n, n // 20, replace=False)] = 100.0  # known
    syn = rng.integers(0, 2, size=(n_frames, code.n_checks), dtype=np.uint8)
    return code, llr, syn


@pytest.mark.parametrize(("rate", "min_sum"), [(0.5, False), (0.8, False), (0.7, True)])
def test_kernel_agrees_with_slow_twin_fixed_iterations(rate: float, min_sum: bool) -> None:
    code, llr, syn = _random_instance(rate, 128, seed=11)
    args = (code.check_ptr, code.check_var)
    post_k, msg_k = llr.copy(), np.zeros((2, code.n_edges))
    post_r, msg_r = llr.copy(), np.zeros((2, code.n_edges))
    out_k = kernels.layered_decode(*args, post_k, msg_k, syn, 4, min_sum, 0.75, False, 0)
    out_r = ref.layered_decode(
        *args, post_r, msg_r, syn, 4, min_sum, 0.75, False, 0, phi=kernels.phi.py_func
    )
    # Same arithmetic up to summation order: agree to 1e-6 (messages are bounded by ~28).
    np.testing.assert_allclose(post_k, post_r, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(msg_k, msg_r, rtol=1e-6, atol=1e-6)
    for a, b in zip(out_k, out_r, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("q", "stall"), [(0.04, 0), (0.09, 2)])
def test_kernel_agrees_with_slow_twin_early_stop_and_warm_start(q: float, stall: int) -> None:
    code = build_code(256, 0.5, 5)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(4, 256), dtype=np.uint8)
    y = x ^ (rng.random((4, 256)) < q).astype(np.uint8)
    llr = math.log((1 - q) / q) * (1.0 - 2.0 * y)
    syn = code.syndrome(x)
    states = [(llr.copy(), np.zeros((4, code.n_edges))) for _ in range(2)]
    for _ in range(2):  # the second call continues from the first call's state
        out_k = kernels.layered_decode(
            code.check_ptr, code.check_var, *states[0], syn, 6, False, 1.0, True, stall
        )
        out_r = ref.layered_decode(
            code.check_ptr,
            code.check_var,
            *states[1],
            syn,
            6,
            False,
            1.0,
            True,
            stall,
            phi=kernels.phi.py_func,
        )
        for a, b in zip(out_k, out_r, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(states[0][0], states[1][0], rtol=1e-6, atol=1e-6)
    # The stall rule fired at least once in the noisy case (fewer than 6 iterations, failed).
    if stall:
        assert np.any(~out_k[1] & (out_k[2] < 6))


def test_decoder_corrects_known_error_pattern() -> None:
    code = build_code(1024, 0.5, 2)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=1024, dtype=np.uint8)
    errors = np.array([3, 100, 101, 517, 900, 1023])
    y = x.copy()
    y[errors] ^= 1
    llr = math.log(0.97 / 0.03) * (1.0 - 2.0 * y)
    bits, ok, _ = decode_syndrome(code, llr[None, :], code.syndrome(x)[None, :])
    assert ok[0]
    np.testing.assert_array_equal(bits[0], x)


def test_agrees_with_pypi_ldpc_bp_decoder() -> None:
    """Oracle: Roffe's `ldpc` BpDecoder (product-sum, syndrome mode) on the same code."""
    ldpc = pytest.importorskip("ldpc")
    code = build_code(2048, 0.7, 4)
    q = 0.035
    rng = np.random.default_rng(8)
    dec = ldpc.BpDecoder(
        code.dense(), error_rate=q, bp_method="product_sum", max_iter=100, schedule="serial"
    )
    agree = 0
    for _ in range(6):
        x = rng.integers(0, 2, size=code.length, dtype=np.uint8)
        e = (rng.random(code.length) < q).astype(np.uint8)
        y = x ^ e
        llr = math.log((1 - q) / q) * (1.0 - 2.0 * y)
        bits, ok, _ = decode_syndrome(code, llr[None, :], code.syndrome(x)[None, :], max_iter=300)
        # The oracle decodes the error pattern from the syndrome difference.
        e_hat = dec.decode(code.syndrome(x) ^ code.syndrome(y))
        if ok[0] and dec.converge:
            np.testing.assert_array_equal(bits[0] ^ y, e_hat)
            agree += 1
    # Q = 3.5 % is below this rate-0.7 code's 5.04 % threshold: both decoders converge (one
    # of the six frames is hard at n = 2048: the oracle's serial schedule needs 83
    # iterations and ours 156, hence the generous iteration limits).
    assert agree == 6
