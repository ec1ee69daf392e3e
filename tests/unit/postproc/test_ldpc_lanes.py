"""The many-frames (SIMD lanes) LDPC decoder against the scalar kernel and the slow twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quaykey.postproc.reconcile import _ldpc_kernels as kernels
from quaykey.postproc.reconcile import _ldpc_lanes as lanes
from quaykey.postproc.reconcile import _ldpc_pools as pools
from quaykey.postproc.reconcile import _ldpc_vector as vector
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob, decode_syndrome
from reference import ldpc_reference as ref


def test_vector_tanh_and_atanh_within_stated_error() -> None:
    # Bounds from _ldpc_vector's docstring: the exp and log2 polynomials err by 5.5e-8 and
    # 1.3e-6, so tanh(a/2) is within 1e-6 (absolute) and 2 atanh(p) within 1e-5 (absolute)
    # of the float64 functions with the same caps, over the whole range the decoder meets.
    a = np.concatenate([[0.0], np.geomspace(1e-9, 80.0, 16 * 2000 - 1)]).astype(np.float32)
    got = vector.tanh_half_rows(a.reshape(-1, vector.W)).reshape(-1)
    np.testing.assert_allclose(got, vector.tanh_half_reference(a), atol=1e-6, rtol=0)
    p = np.concatenate([[0.0], np.linspace(0.0, 1.0, 16 * 2000 - 1)]).astype(np.float32)
    got = vector.atanh2_rows(p.reshape(-1, vector.W)).reshape(-1)
    np.testing.assert_allclose(got, vector.atanh2_reference(p), atol=1e-5, rtol=1e-6)
    assert got.max() == pytest.approx(math.log(2**25 - 1), abs=1e-4)  # the message cap


def test_one_check_update_matches_float64_sum_product() -> None:
    # One iteration from the priors: every message and posterior equals the float64
    # tanh rule (no phi table) within 1e-4, lane by lane. The lanes are marked fresh, so
    # the stored messages (NaN here) must be read as zeros and all be overwritten.
    code, _, llr, syn = _noisy_frames(0.8, 1024, 0.03, vector.W, seed=2)
    post = np.ascontiguousarray(llr.T, dtype=np.float32)
    msg = np.full((code.n_edges, vector.W), np.nan, dtype=np.float32)
    sign = np.ascontiguousarray(np.where(syn.T == 1, -1.0, 1.0), dtype=np.float32)
    deg = int(np.diff(code.check_ptr).max())
    bufs = [np.empty((deg, vector.W), dtype=np.float32) for _ in range(3)]
    fresh = np.ones(vector.W, dtype=np.int32)
    lanes._iteration(code.check_ptr, code.check_var, post, msg, sign, *bufs, fresh)
    assert not fresh.any() and np.isfinite(msg).all()
    p64 = llr.T.astype(np.float64).copy()
    for c in range(code.n_checks):
        edges = np.arange(code.check_ptr[c], code.check_ptr[c + 1])
        x = p64[code.check_var[edges]]  # messages were zero: x = posterior
        t = np.tanh(np.abs(x) / 2)
        s = np.where(x < 0, -1.0, 1.0)
        for j, e in enumerate(edges):
            others = np.delete(np.arange(edges.size), j)
            mag = 2 * np.arctanh(np.minimum(np.prod(t[others], axis=0), vector.P_CAP))
            r = sign[c] * np.prod(s[others], axis=0) * mag
            np.testing.assert_allclose(msg[e], r, atol=1e-4, rtol=1e-4)
            p64[code.check_var[e]] = x[j] + r
    np.testing.assert_allclose(post, p64, atol=1e-3, rtol=1e-4)


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
    bits_l, ok_l, _ = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=30)
    both = ok_r & ok_l
    assert both.sum() >= 6
    np.testing.assert_array_equal(bits_l[both], bits_r[both])


def test_result_independent_of_threads_and_pool_filling() -> None:
    # 37 frames: with 1 thread the pool of 16 lanes is refilled twice; with 2 or 3 threads
    # the pools are partly empty. Lanes never interact, so every split gives the same result.
    code, _, llr, syn = _noisy_frames(0.7, 2048, 0.04, 37, seed=8)
    base = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=1)
    for threads in (2, 3):
        out = pools.decode_frames(
            code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=threads
        )
        for a, b in zip(base, out, strict=True):
            np.testing.assert_array_equal(a, b)
    # Few frames run in a narrower pool (8 or 4 lanes: other vector code), same results.
    for few in (7, 3):
        assert pools.pool_width(few) == (8 if few == 7 else 4)
        out = pools.decode_frames(code.check_ptr, code.check_var, llr[:few], syn[:few], max_iter=40)
        for a, b in zip(base, out, strict=True):
            np.testing.assert_array_equal(a[:few], b)


def test_unsatisfied_counts_every_lane_as_numpy_does() -> None:
    # The hard decisions are packed by one vector compare per row (16, 8 or 4 lanes). The
    # count of unsatisfied checks per lane must equal numpy's H x (+) s, with NaN and -0.0
    # read as bit 0 (not negative) and -1e-30 as bit 1.
    code = build_code(2048, 0.7)
    rng = np.random.default_rng(21)
    rows = np.repeat(np.arange(code.n_checks), np.diff(code.check_ptr))
    for width in (16, 8, 4):
        post = rng.normal(0.0, 1.0, size=(code.length, width)).astype(np.float32)
        post[0, 0], post[1, width - 1], post[2, 1] = np.nan, -0.0, -1e-30
        syn = rng.integers(0, 2, size=(code.n_checks, width), dtype=np.uint8)
        words = (syn.astype(np.uint64) << np.arange(width, dtype=np.uint64)).sum(axis=1)
        hard = np.empty(code.length, dtype=np.uint64)
        unsat = np.zeros(width, dtype=np.int64)
        lanes._unsatisfied(
            code.check_ptr, code.check_var, post, words.astype(np.uint64), hard, unsat
        )
        bits = (post < 0).astype(np.int64)
        assert bits[0, 0] == 0 and bits[1, width - 1] == 0 and bits[2, 1] == 1
        parity = np.zeros((code.n_checks, width), dtype=np.int64)
        np.add.at(parity, rows, bits[code.check_var])
        expect = ((parity + syn) % 2).sum(axis=0)
        np.testing.assert_array_equal(unsat, expect)
        assert hard[2] >> np.uint64(1) & np.uint64(1) == 1


def test_nine_to_sixteen_frames_run_as_two_eight_lane_pools(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 12 frames, 2 threads: two pools of 8 lanes (6 frames each), not one of 16; the result
    # is the same as on one thread. 6 frames stay on one thread.
    code, _, llr, syn = _noisy_frames(0.7, 2048, 0.04, 12, seed=5)
    one = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=1)
    widths: list[tuple[int, int]] = []
    real = pools.decode_lanes

    def spy(*args):  # type: ignore[no-untyped-def]
        widths.append((args[4].size, args[5]))
        return real(*args)

    monkeypatch.setattr(pools, "decode_lanes", spy)
    two = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=40, threads=2)
    assert sorted(widths) == [(6, 8), (6, 8)]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    widths.clear()
    pools.decode_frames(code.check_ptr, code.check_var, llr[:6], syn[:6], max_iter=40, threads=2)
    assert widths == [(6, 8)]


def test_every_pool_width_computes_the_same_bits() -> None:
    # Warm attempts hand back the float32 posteriors and messages: after 5 iterations they
    # must be bit for bit the same in a 16-, 8- and 4-lane pool (exact divisions).
    code, _, llr, syn = _noisy_frames(0.8, 4096, 0.03, 16, seed=4)
    n_edges = code.check_var.size
    outs = []
    for few in (16, 8, 4):
        post = np.ascontiguousarray(llr[:few], dtype=np.float32)
        msg = np.zeros((few, n_edges), dtype=np.float32)
        pools.decode_frames(
            code.check_ptr, code.check_var, post, syn[:few], max_iter=5, warm_msg=msg
        )
        assert pools.pool_width(few) == few
        outs.append((post[:4], msg[:4]))
    for post, msg in outs[1:]:
        np.testing.assert_array_equal(post, outs[0][0])
        np.testing.assert_array_equal(msg, outs[0][1])


def test_narrowing_the_pool_keeps_every_frame_exact() -> None:
    # 20 frames on one thread: the 16-lane pool is refilled, then, once no frame waits and
    # at most 8 (then 4) lanes are busy, their state moves to an 8- (then 4-) lane pool.
    # Every frame must come out exactly as when it is decoded on its own.
    code, _, llr, syn = _noisy_frames(0.7, 2048, 0.03, 20, seed=12)
    together = pools.decode_frames(
        code.check_ptr, code.check_var, llr, syn, max_iter=60, stall=8, threads=1
    )
    assert together[1].sum() >= 15  # most converge (18 of 20 with this seed) ...
    assert len(set(together[2].tolist())) > 5  # ... at many different iterations
    for f in range(20):
        alone = pools.decode_frames(
            code.check_ptr, code.check_var, llr[f : f + 1], syn[f : f + 1], max_iter=60, stall=8
        )
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_array_equal(a[f : f + 1], b)


def test_stall_gives_up_early_and_max_iter_bounds() -> None:
    # Far above threshold (Q = 15 % on a rate-0.8 code) nothing converges: with stall=3 the
    # frames stop well before max_iter; without it they run exactly max_iter iterations.
    code, _, llr, syn = _noisy_frames(0.8, 1024, 0.15, 6, seed=3)
    _, ok, its = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=50)
    assert not ok.any() and np.all(its == 50)
    _, ok, its = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=50, stall=3)
    assert not ok.any() and np.all(its < 50)


def test_blind_reconciliation_with_lanes_decoder_fixed_seed() -> None:
    # Fixed seeds; tolerance stated: every frame corrected, f within 0.05 of the scalar
    # decoder's on the same frames (both use the same blind steps; the decoders differ only
    # in float32 and the tanh-domain vector arithmetic).
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


def test_lanes_decoder_with_warm_rounds_reconciles() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 2, 6 * 3686, dtype=np.uint8)
    b = a ^ (rng.random(a.size) < 0.03).astype(np.uint8)
    bob = LdpcBob(b, 0.03, seed=2, code_length=4096, decoder="sum-product-lanes", restart_every=3)
    res = bob.run(LdpcAlice(a, rng=1).respond)
    assert res.failed_frames == ()
    np.testing.assert_array_equal(res.corrected, a)


def test_warm_attempts_continue_exactly_where_the_last_stopped() -> None:
    # The decoder's whole state is (posteriors, messages): 12 iterations, then 13 more from
    # the stored state, give the same words and state as 25 iterations at once.
    code, _, llr, syn = _noisy_frames(0.8, 4096, 0.03, 5, seed=6)
    cp, cv = code.check_ptr, code.check_var
    once = np.ascontiguousarray(llr, dtype=np.float32)
    msg_once = np.zeros((5, code.n_edges), dtype=np.float32)
    bits_1, ok_1, it_1 = pools.decode_frames(cp, cv, once, syn, max_iter=25, warm_msg=msg_once)
    twice = np.ascontiguousarray(llr, dtype=np.float32)
    msg = np.zeros((5, code.n_edges), dtype=np.float32)
    _, ok_a, it_a = pools.decode_frames(cp, cv, twice, syn, max_iter=12, warm_msg=msg)
    assert np.all(it_a == 12) and not ok_a.any()  # nothing converges that early here
    bits_2, ok_2, it_2 = pools.decode_frames(cp, cv, twice, syn, max_iter=13, warm_msg=msg)
    np.testing.assert_array_equal(bits_2, bits_1)
    np.testing.assert_array_equal(ok_2, ok_1)
    np.testing.assert_array_equal(it_a + it_2, it_1)
    np.testing.assert_array_equal(twice, once)
    np.testing.assert_array_equal(msg, msg_once)
    with pytest.raises(ValueError, match="float32"):
        pools.decode_frames(cp, cv, llr, syn, max_iter=2, warm_msg=msg)


def _frame_vs_round_schedule(q: float, frames: int, tail: int, q_est: float, **kw):  # type: ignore[no-untyped-def]
    """Alice's bits and Bob's results with both schedules on the same channel."""
    rng = np.random.default_rng(31)
    a = rng.integers(0, 2, frames * 3686 + tail, dtype=np.uint8)
    b = a ^ (rng.random(a.size) < q).astype(np.uint8)
    out = {}
    for schedule in ("rounds", "frames"):
        bob = LdpcBob(
            b, q_est, seed=6, code_length=4096, decoder="sum-product-lanes", schedule=schedule, **kw
        )
        out[schedule] = bob.run(LdpcAlice(a, rng=2).respond)
    return a, out["rounds"], out["frames"]


def test_frame_schedule_gives_every_frame_the_round_schedule_result() -> None:
    # 21 full frames and a short last one (its own code, its own pool) on 2 threads,
    # f_start low so most frames need several reveals: asking per frame while the others
    # decode must give each frame the same reveals and the same bits, so the same leak.
    a, rounds, frames = _frame_vs_round_schedule(
        0.03, 21, 900, 0.03, f_start=1.0, f_step=0.02, stall=6, threads=2
    )
    assert rounds.round_trips >= 4  # several blind rounds ...
    assert frames.round_trips > rounds.round_trips  # ... asked in more, smaller requests
    assert frames.failed_frames == rounds.failed_frames == ()
    assert frames.leaked_bits == rounds.leaked_bits
    np.testing.assert_array_equal(frames.corrected, rounds.corrected)
    np.testing.assert_array_equal(frames.corrected, a)


def test_frame_schedule_fails_the_same_frames_when_reveals_run_out() -> None:
    # Q = 9 % on the rate chosen for 3 %, one reveal round: frames fail after their second
    # attempt, in both schedules alike (same failed frames, same leak, Bob keeps his bits).
    _, rounds, frames = _frame_vs_round_schedule(0.09, 10, 0, 0.03, max_rounds=1, threads=2)
    assert len(frames.failed_frames) >= 5
    assert frames.failed_frames == rounds.failed_frames
    assert frames.leaked_bits == rounds.leaked_bits
    np.testing.assert_array_equal(frames.corrected, rounds.corrected)


def test_frame_schedule_needs_the_lanes_decoder_and_fresh_attempts() -> None:
    b = np.zeros(100, dtype=np.uint8)
    with pytest.raises(ValueError, match="schedule must be one of"):
        LdpcBob(b, 0.03, seed=1, schedule="eager")
    with pytest.raises(ValueError, match="needs decoder 'sum-product-lanes'"):
        LdpcBob(b, 0.03, seed=1, schedule="frames")
    with pytest.raises(ValueError, match="restart_every=1"):
        LdpcBob(b, 0.03, seed=1, decoder="sum-product-lanes", schedule="frames", restart_every=2)


def test_frame_schedule_stops_on_a_bad_reveal_reply() -> None:
    # A reveal reply of the wrong size is an error named as such, raised from run(), and
    # the other decoding thread stops too (run returns instead of hanging).
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, 20 * 3686, dtype=np.uint8)
    b = a ^ (rng.random(a.size) < 0.04).astype(np.uint8)
    alice = LdpcAlice(a, rng=1)

    def ask(kind, payload):  # type: ignore[no-untyped-def]
        reply = alice.respond(kind, payload)
        return reply[:-1] if kind == "reveal" else reply

    bob = LdpcBob(
        b,
        0.04,
        seed=2,
        code_length=4096,
        decoder="sum-product-lanes",
        schedule="frames",
        f_start=1.0,
        threads=2,
    )
    with pytest.raises(ValueError, match="reveal reply has"):
        bob.run(ask)


def test_lane_pool_hands_back_stopped_frames_and_takes_new_ones() -> None:
    # 20 frames pushed in two batches into one 16-lane pool: run() returns early with the
    # frames that stopped (a quarter of the lanes idle, none waiting); frames pushed later
    # join the running pool. Every frame ends exactly as decode_frames decodes it.
    code, _, llr, syn = _noisy_frames(0.7, 2048, 0.03, 20, seed=12)
    want = pools.decode_frames(code.check_ptr, code.check_var, llr, syn, max_iter=60, stall=8)
    pri = np.ascontiguousarray(llr, dtype=np.float32)
    bits = np.zeros((20, code.length), dtype=np.uint8)
    ok = np.zeros(20, dtype=np.bool_)
    its = np.zeros(20, dtype=np.int64)
    pool = pools.LanePool(
        code.check_ptr,
        code.check_var,
        pri,
        syn,
        16,
        max_iter=60,
        stall=8,
        bits=bits,
        converged=ok,
        iterations=its,
    )
    pool.push(list(range(14)))
    first = pool.run()
    # 2 lanes start idle, so it returns once 2 frames have stopped (4 idle), lanes still busy
    assert 2 <= len(first) < 14 and pool.busy > 0
    pool.push(list(range(14, 20)))
    seen = list(first)
    while pool.busy or pool.waiting:
        seen += pool.run()
    assert sorted(seen) == list(range(20))
    assert pool.lanes < 16  # the last frames ran in a narrower pool
    for got, exp in zip((bits, ok, its), want, strict=True):
        np.testing.assert_array_equal(got, exp)
    with pytest.raises(ValueError, match="lanes must be 4, 8 or 16"):
        pools.LanePool(
            code.check_ptr,
            code.check_var,
            pri,
            syn,
            12,
            max_iter=5,
            stall=0,
            bits=bits,
            converged=ok,
            iterations=its,
        )
