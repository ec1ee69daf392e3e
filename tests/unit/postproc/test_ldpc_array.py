"""The array (GPU) sum-product decoder, run on NumPy here, held to the CPU decoders.

On a machine with CuPy and a CUDA GPU the last test also runs it on the GPU and holds it to
the NumPy run; elsewhere that test is skipped.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

import quaykey.postproc.reconcile._ldpc_array as arr
from quaykey.errors import AcceleratorUnavailableError
from quaykey.postproc.reconcile._ldpc_array import decode_frames_array
from quaykey.postproc.reconcile._ldpc_pools import decode_frames
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob, decode_syndrome


def _frames(n: int, rate: float, q: float, frames: int, seed: int):  # type: ignore[no-untyped-def]
    code = build_code(n, rate, 3)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (frames, n), dtype=np.uint8)
    e = (rng.random((frames, n)) < q).astype(np.uint8)
    llr = math.log((1 - q) / q) * (1.0 - 2.0 * (x ^ e))
    return code, x, llr, code.syndrome(x)


@pytest.mark.parametrize(("rate", "q"), [(0.5, 0.07), (0.8, 0.02)])
def test_same_decisions_as_the_lanes_decoder(rate: float, q: float) -> None:
    code, x, llr, syn = _frames(4096, rate, q, 24, 1)
    bits, ok, it = decode_frames_array(code.check_ptr, code.check_var, llr, syn, max_iter=100)
    ref, ref_ok, ref_it = decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=100)
    both = ok & ref_ok
    assert ok.sum() >= ref_ok.sum() - 2  # flooding, 100 iterations; layered converges a bit more
    assert both.sum() >= 20
    np.testing.assert_array_equal(bits[both], ref[both])
    np.testing.assert_array_equal(bits[ok], x[ok])
    # Flooding needs more iterations than layered decoding, never fewer on average.
    assert it[both].mean() >= ref_it[both].mean()


def _one_flooding_iteration(code, llr: np.ndarray, syn: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Reference: one flooding iteration from zero messages, edge by edge, in float64."""
    post = llr.copy()
    for c in range(code.n_checks):
        vs = code.check_var[code.check_ptr[c] : code.check_ptr[c + 1]]
        x = llr[vs]  # messages start at zero
        for j, v in enumerate(vs):
            others = np.delete(x, j)
            sign = (-1.0) ** syn[c] * np.prod(np.sign(others))
            post[v] += sign * 2.0 * np.arctanh(np.prod(np.tanh(np.abs(others) / 2.0)))
    return post


def test_one_iteration_is_the_tanh_rule() -> None:
    code, _, llr, syn = _frames(256, 0.5, 0.08, 3, 2)
    acode = arr.ArrayCode.build(code.check_ptr, code.check_var, code.length, np)
    prior = np.concatenate([llr, np.full((3, 1), arr._PAD_LLR)], axis=1)
    syn_sign = np.where(syn.astype(bool), -1.0, 1.0)[:, :, None]
    msg = np.zeros((3, acode.m, acode.width))
    post, _ = arr._iterate(acode, prior, prior.copy(), msg, syn_sign, np)
    for f in range(3):
        want = _one_flooding_iteration(code, llr[f], syn[f])
        np.testing.assert_allclose(post[f, :-1], want, rtol=1e-9, atol=1e-9)
    assert np.all(post[:, -1] == arr._PAD_LLR)  # the padding variable never moves


def test_stopping_rules() -> None:
    code, x, llr, syn = _frames(1024, 0.5, 0.07, 6, 4)
    llr[0] = 5.0 * (1.0 - 2.0 * x[0])  # a noiseless frame converges at once
    llr[1] = 0.0  # no information at all: never converges
    bits, ok, it = decode_frames_array(code.check_ptr, code.check_var, llr, syn, max_iter=7)
    assert ok[0] and it[0] == 1
    np.testing.assert_array_equal(bits[0], x[0])
    assert not ok[1] and it[1] == 7
    _, ok_s, it_s = decode_frames_array(
        code.check_ptr, code.check_var, llr[1:2], syn[1:2], max_iter=50, stall=3
    )
    assert not ok_s[0] and it_s[0] < 50  # gave up once it stopped improving


def test_gpu_module_names_the_missing_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cupy(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(arr.importlib, "import_module", no_cupy)
    with pytest.raises(AcceleratorUnavailableError, match=r"pip install 'quaykey\[gpu\]'"):
        arr.gpu_module()
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, 2000, dtype=np.uint8)
    with pytest.raises(AcceleratorUnavailableError, match="CuPy"):
        LdpcBob(bits, 0.03, seed=1, code_length=1024, decoder="sum-product-gpu")
    with pytest.raises(ValueError, match="restart_every=1"):
        LdpcBob(bits, 0.03, seed=1, decoder="sum-product-gpu", restart_every=2)


def test_reconciler_with_the_array_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    # The decoder's own seam: the array module is NumPy instead of CuPy.
    monkeypatch.setattr("quaykey.postproc.reconcile.ldpc.gpu_module", lambda: np)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, 4 * 1843, dtype=np.uint8)  # four full frames of the 2048 code
    b = a ^ (rng.random(a.size) < 0.03).astype(np.uint8)
    res = LdpcBob(b, 0.03, seed=7, code_length=2048, decoder="sum-product-gpu").run(
        LdpcAlice(a, rng=1).respond
    )
    assert res.failed_frames == ()
    np.testing.assert_array_equal(res.corrected, a)
    code, _, llr, syn = _frames(1024, 0.5, 0.06, 4, 6)
    got = decode_syndrome(code, llr, syn, decoder="sum-product-gpu", max_iter=80)
    want = decode_frames_array(code.check_ptr, code.check_var, llr, syn, max_iter=80)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _gpu_present() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        arr.gpu_module()
    except AcceleratorUnavailableError:
        return False
    return True


@pytest.mark.skipif(not _gpu_present(), reason="needs CuPy and a CUDA GPU")
def test_gpu_matches_numpy() -> None:  # pragma: no cover - needs a GPU
    code, _, llr, syn = _frames(4096, 0.8, 0.02, 32, 8)
    gpu = decode_frames_array(
        code.check_ptr, code.check_var, llr, syn, max_iter=100, xp=arr.gpu_module()
    )
    cpu = decode_frames_array(code.check_ptr, code.check_var, llr, syn, max_iter=100)
    np.testing.assert_array_equal(gpu[1], cpu[1])
    both = gpu[1] & cpu[1]
    np.testing.assert_array_equal(gpu[0][both], cpu[0][both])
