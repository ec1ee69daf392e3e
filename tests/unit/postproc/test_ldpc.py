"""Blind rate-adaptive LDPC reconciliation: correctness, leak accounting, frames, errors."""

from __future__ import annotations

import numpy as np
import pytest

from quaykey.postproc.reconcile.base import ReconcileResult
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob, _layout, _tail_length, choose_rate
from quaykey.units import binary_entropy

_HEADER = 8


def _pair(n_bits: int, q: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n_bits, dtype=np.uint8)
    return a, a ^ (rng.random(n_bits) < q).astype(np.uint8)


def _check_frames(res: ReconcileResult, a: np.ndarray, b: np.ndarray) -> None:
    """Frames not reported failed equal Alice's bits; failed ones keep Bob's bits."""
    for i, (lo, hi) in enumerate(res.frame_bounds):
        want = b if i in res.failed_frames else a
        np.testing.assert_array_equal(res.corrected[lo:hi], want[lo:hi])


class _Recorder:
    """Wraps Alice's respond and records every request and reply size."""

    def __init__(self, alice: LdpcAlice) -> None:
        self.alice = alice
        self.calls: list[tuple[str, np.ndarray, int]] = []

    def __call__(self, kind, payload):  # type: ignore[no-untyped-def]
        reply = self.alice.respond(kind, payload)
        self.calls.append((kind, np.array(payload), int(np.asarray(reply).size)))
        return reply


def test_corrects_known_error_pattern() -> None:
    a, _ = _pair(3000, 0.0, seed=1)
    b = a.copy()
    b[[0, 5, 17, 400, 401, 1500, 2999]] ^= 1
    res = LdpcBob(b, 0.02, seed=4, code_length=2048).run(LdpcAlice(a, rng=0).respond)
    np.testing.assert_array_equal(res.corrected, a)
    assert res.failed_frames == ()


def test_leak_equals_disclosed_bits_minus_punctured_credit() -> None:
    a, b = _pair(9000, 0.04, seed=2)
    rec = _Recorder(LdpcAlice(a, rng=1))
    res = LdpcBob(b, 0.04, seed=5, code_length=2048).run(rec)
    kinds = [k for k, _, _ in rec.calls]
    assert kinds[0] == "syndrome" and set(kinds[1:]) <= {"reveal"}
    assert res.round_trips == len(rec.calls)
    disclosed = sum(size for _, _, size in rec.calls)  # every reply bit Alice sent
    p0_total = int(rec.calls[0][1][_HEADER:].sum())  # punctured positions credited
    assert res.leaked_bits == disclosed - p0_total
    # The reveal replies are exactly the counts Bob asked for.
    for kind, payload, size in rec.calls[1:]:
        assert kind == "reveal" and size == int(payload.reshape(-1, 2)[:, 1].sum())
    _check_frames(res, a, b)


def test_frames_cover_input_with_partial_last_frame() -> None:
    a, b = _pair(5000, 0.03, seed=3)
    res = LdpcBob(b, 0.03, seed=6, code_length=1024).run(LdpcAlice(a, rng=2).respond)
    k = 1024 - round(0.1 * 1024)
    assert res.frame_bounds[0] == (0, k)
    assert res.frame_bounds[-1][1] == 5000
    assert all(x[1] == y[0] for x, y in zip(res.frame_bounds, res.frame_bounds[1:], strict=False))
    assert len(res.frame_bounds) == -(-5000 // k)
    # n = 1024 is far too short for f ~ 1.2 (with this seed 3 of 6 frames fail after 16
    # rounds); failures must be reported, and the others must be right.
    _check_frames(res, a, b)
    assert len(res.failed_frames) < len(res.frame_bounds)


def test_short_last_frame_uses_a_short_code() -> None:
    # 2 full frames of k = 58,982 would be slow here; use n = 8192 (k = 7373) and a tail of
    # 1000 bits, which gets a 1280-bit code (1.25 * 1024; 1152 key columns): its leak stays
    # near the tail's own h(Q) share.
    n, q = 8192, 0.05
    k = n - round(0.1 * n)
    a, b = _pair(k + 1000, q, seed=9)
    rec = _Recorder(LdpcAlice(a, rng=4))
    res = LdpcBob(b, q, seed=2, code_length=n).run(rec)
    _check_frames(res, a, b)
    assert res.frame_bounds == ((0, k), (k, k + 1000))
    syndrome_bits = rec.calls[0][2]
    m_full = round((1 - 0.65) * n)  # choose_rate(0.05, 1.2, 0.1) == 0.65
    assert syndrome_bits == m_full + round((1 - 0.65) * 1280)


def test_last_frame_code_lengths_bound_the_padding() -> None:
    # Every tail size of a 2**16 code: the code fits the tail, is the shortest grid length
    # that does, and pads at most a fifth of its key columns once the tail outgrows the
    # shortest code (256 bits).
    n = 2**16
    d = round(0.1 * n)
    grid = sorted({(2**j * (4 + i)) // 4 for j in range(8, 17) for i in range(4)} | {n})
    grid = [g for g in grid if g <= n]
    for k_t in range(1, n - d + 1, 97):
        n_t = _tail_length(n, d, k_t)
        cap = n_t - round(d * n_t / n)
        assert n_t in grid and cap >= k_t
        shorter = [g for g in grid if g < n_t]
        assert not shorter or shorter[-1] - round(d * shorter[-1] / n) < k_t
        if n_t > 256:
            assert (cap - k_t) / cap <= 0.21, (k_t, n_t)


def test_short_frame_pads_every_degree_in_proportion() -> None:
    # The code lists its columns by degree (degree-21 columns last at rate 0.85); a short
    # frame's padded known zeros must not all land on the highest degree.
    code = build_code(2**15, 0.85, 1)
    d = round(0.1 * code.length)
    lay = _layout(code, d, 23592, 1000, seed=3)
    deg = np.bincount(code.check_var, minlength=code.length)
    pad = np.setdiff1d(lay.known, code.puncture_order[:d])
    assert pad.size == code.length - d - 23592
    assert np.all(np.diff(lay.key_cols) > 0)
    assert np.intersect1d(pad, lay.key_cols).size == 0
    key_and_pad = np.concatenate([lay.key_cols, pad])
    for degree in np.unique(deg[key_and_pad]):
        share_pad = np.mean(deg[pad] == degree)
        share_all = np.mean(deg[key_and_pad] == degree)
        assert abs(share_pad - share_all) <= 0.01, (degree, share_pad, share_all)


def test_short_last_frame_is_efficient() -> None:
    # A last frame of 40 % of k on n = 8192 at Q = 3 % (3584-bit code, 2948 key bits),
    # 12 blocks: f = 1.16, no failure. With the padding on the last (highest-degree)
    # columns, as before, the same blocks gave f = 1.27 and 6 failed or wrong frames.
    n, q, reps = 8192, 0.03, 12
    k_t = int(0.4 * (n - round(0.1 * n)))
    leak, bad = 0, 0
    for r in range(reps):
        a, b = _pair(k_t, q, seed=100 + r)
        res = LdpcBob(b, q, seed=3, code_length=n).run(LdpcAlice(a, rng=r).respond)
        leak += res.leaked_bits
        bad += len(res.failed_frames) + int(not np.array_equal(res.corrected, a))
    f = leak / (reps * k_t * float(binary_entropy(q)))
    assert bad == 0
    assert f <= 1.20, f


def test_short_and_empty_inputs() -> None:
    a, b = _pair(37, 0.03, seed=4)
    res = LdpcBob(b, 0.03, seed=1, code_length=512).run(LdpcAlice(a, rng=0).respond)
    assert res.frame_bounds == ((0, 37),)
    np.testing.assert_array_equal(res.corrected, a)
    empty = np.zeros(0, dtype=np.uint8)

    def never(kind, payload):  # type: ignore[no-untyped-def]
        raise AssertionError("no request expected")

    res0 = LdpcBob(empty, 0.03, seed=1).run(never)
    assert res0.corrected.size == 0 and res0.leaked_bits == 0 and res0.round_trips == 0


def test_underestimated_qber_reports_failed_frames_and_keeps_bobs_bits() -> None:
    a, b = _pair(2 * 922, 0.11, seed=5)
    bob = LdpcBob(b, 0.01, seed=2, code_length=1024, max_rounds=2)
    res = bob.run(LdpcAlice(a, rng=0).respond)
    assert res.failed_frames == (0, 1)
    np.testing.assert_array_equal(res.corrected, b)
    assert isinstance(res, ReconcileResult)


def test_efficiency_quick() -> None:
    """One frame of the default code length (2**16) per QBER.

    Tolerance: the benchmark (benchmarks/ldpc.py, 12 frames per QBER) is where the
    f <= 1.12 target is measured. A single frame's success point varies by about +-0.03
    (at Q = 2 % frames succeed anywhere from f = 1.085 to 1.15), so this test asks
    f <= 1.17 and no failed or miscorrected frame.
    """
    n = 2**16
    k = n - round(0.1 * n)
    for i, q in enumerate([0.02, 0.08]):
        a, b = _pair(k, q, seed=10 + i)
        res = LdpcBob(b, q, seed=3, code_length=n).run(LdpcAlice(a, rng=i).respond)
        f = res.leaked_bits / (a.size * binary_entropy(q))
        assert res.failed_frames == ()
        np.testing.assert_array_equal(res.corrected, a)
        assert f <= 1.17, (q, f)


def test_warm_rounds_and_stall_option() -> None:
    a, b = _pair(6000, 0.05, seed=8)
    bob = LdpcBob(b, 0.05, seed=2, code_length=4096, restart_every=3, stall=6, round_iter=15)
    res = bob.run(LdpcAlice(a, rng=0).respond)
    _check_frames(res, a, b)
    assert res.failed_frames == ()
    assert res.round_trips > 1  # f_start = 1.0 is below what n = 4096 needs


def test_min_sum_decoder_runs() -> None:
    a, b = _pair(4000, 0.02, seed=6)
    res = LdpcBob(b, 0.02, seed=1, code_length=2048, decoder="min-sum").run(
        LdpcAlice(a, rng=0).respond
    )
    # Min-sum is much weaker than sum-product on these high-check-degree codes (see
    # docs/validation.md, LDPC); only consistency is asserted.
    _check_frames(res, a, b)
    assert len(res.failed_frames) < len(res.frame_bounds)


def test_alice_rejects_malformed_requests() -> None:
    a, b = _pair(1000, 0.03, seed=7)
    alice = LdpcAlice(a, rng=0)
    with pytest.raises(ValueError, match="reveal request must follow"):
        alice.respond("reveal", np.array([0, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="unknown request kind"):
        alice.respond("parity", np.zeros(1, dtype=np.int64))
    with pytest.raises(ValueError, match="header"):
        alice.respond("syndrome", np.zeros(3, dtype=np.int64))
    rec = _Recorder(alice)
    LdpcBob(b, 0.03, seed=1, code_length=512).run(rec)
    header = rec.calls[0][1].copy()
    header[5] = 999  # wrong total length
    with pytest.raises(ValueError, match="Alice holds 1000"):
        alice.respond("syndrome", header)
    alice.respond("syndrome", rec.calls[0][1])
    with pytest.raises(ValueError, match="does not exist"):
        alice.respond("reveal", np.array([99, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="out of range"):
        alice.respond("reveal", np.array([0, 10**6], dtype=np.int64))
    with pytest.raises(ValueError, match="pairs"):
        alice.respond("reveal", np.array([0], dtype=np.int64))


def test_bob_rejects_bad_arguments_and_bad_replies() -> None:
    bits = np.zeros(100, dtype=np.uint8)
    with pytest.raises(ValueError, match="qber"):
        LdpcBob(bits, 0.5, seed=1)
    with pytest.raises(ValueError, match="only 0 and 1"):
        LdpcBob(np.full(10, 2, dtype=np.uint8), 0.1, seed=1)
    with pytest.raises(ValueError, match="code_length"):
        LdpcBob(bits, 0.1, seed=1, code_length=10)
    with pytest.raises(ValueError, match="decoder"):
        LdpcBob(bits, 0.1, seed=1, decoder="magic")
    with pytest.raises(ValueError, match="rate"):
        LdpcBob(bits, 0.1, seed=1, rate=0.42)
    with pytest.raises(ValueError, match="syndrome reply"):
        LdpcBob(bits, 0.1, seed=1, code_length=256).run(
            lambda kind, payload: np.zeros(3, dtype=np.uint8)
        )


def test_repr_shows_no_key_bits() -> None:
    a = np.ones(64, dtype=np.uint8)
    assert "1, 1" not in repr(LdpcAlice(a)) and "bits=64" in repr(LdpcAlice(a))
    assert "bits=64" in repr(LdpcBob(a, 0.05, seed=1))


def test_choose_rate_reaches_ceiling() -> None:
    for q in (0.02, 0.03, 0.04, 0.05, 0.06, 0.08):
        r = choose_rate(q, 1.2, 0.1)
        assert (1 - r) >= 1.2 * 0.9 * binary_entropy(q)
    assert choose_rate(0.2, 1.2, 0.1) == 0.5


def test_frame_layouts_are_shared_and_read_only() -> None:
    from quaykey.postproc.reconcile.ldpc import _layout

    code = build_code(1024, 0.8, 3)
    first = _layout(code, 102, 922, 40, 9)
    assert _layout(code, 102, 922, 40, 9) is first  # full frames share one layout
    assert _layout(code, 102, 922, 41, 9).punctured.size == 41
    for arr in (first.key_cols, first.punctured, first.known, first.reveal_order):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0
