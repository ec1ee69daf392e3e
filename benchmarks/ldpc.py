"""Benchmark: blind rate-adaptive LDPC reconciliation (efficiency, FER, rounds, throughput).

Run from the repository root::

    .venv/bin/python benchmarks/ldpc.py                       # defaults below
    .venv/bin/python benchmarks/ldpc.py --frames 24 --length 65536 --qber 0.02 0.05

For each QBER, ``frames`` frames of ``k = n - d`` bits go through a binary symmetric channel
and are reconciled with :class:`quaykey.postproc.reconcile.ldpc.LdpcBob` /
:class:`~quaykey.postproc.reconcile.ldpc.LdpcAlice` (in-process ``ask``). Columns:

* ``f`` = leaked_bits / (N h(Q)) with the nominal Q; ``f_act`` uses the realised error rate.
* ``FER`` = frames reported failed plus frames wrong but not reported (``undet``), over frames.
* ``rounds`` = round trips (1 syndrome + reveal rounds) of the whole batch.
* ``Mbit/s`` = N / wall time of ``run`` (code construction and JIT compilation excluded);
  ``Mb/cpu-s`` = N / CPU seconds of the process (all threads) during ``run``: on a shared
  machine this is the per-core figure, the wall figure depends on the other load.
* ``vs today`` = CPU throughput ratio against the default scalar decoder
  (``decoder="sum-product"``, one thread), run on the first ``--today-frames`` frames of the
  same data in the same run (``--today-frames 0`` skips it).
* ``base`` = throughput ratio, ours / baseline, where the baseline is the PyPI ``ldpc``
  package's ``BpDecoder`` (Roffe; product-sum, serial schedule, 60 iterations, 1 thread)
  decoding the same mother code without rate adaptation (full syndrome, all n bits noisy)
  on ``--base-frames`` frames; our kernel decodes the very same frames (60 layered
  iterations, sum-product). ``base_ok``/``ours_ok`` count converged frames.

``--tail 0.2 0.4 0.7`` measures blocks shorter than one frame instead: each block is a
single short last frame on its own (shorter) code, ``--frames`` blocks per QBER and
fraction; columns ``n_t`` (that code's length), ``f``, ``FER``, ``undet`` and the mean
``rounds``.

Timings are wall-clock on whatever machine runs this; say which (cores, other load).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp

from quaykey.errors import AcceleratorUnavailableError
from quaykey.postproc.reconcile import LDPC_LANES_OPTIONS
from quaykey.postproc.reconcile._ldpc_array import gpu_module
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import (
    DECODERS,
    LdpcAlice,
    LdpcBob,
    _frame_codes,
    decode_syndrome,
)
from quaykey.units import binary_entropy


def _baseline(
    code, q: float, frames: int, seed: int, decoder: str
) -> tuple[float, float, int, int]:  # type: ignore[no-untyped-def]
    """Throughput (bit/s) of ours and of ldpc.BpDecoder on identical plain frames."""
    if frames <= 0:
        return math.nan, math.nan, 0, 0
    # This script is itself called ldpc.py: import the PyPI package, not this file.
    here = os.path.dirname(os.path.abspath(__file__))
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.modules.pop("ldpc", None)
    try:
        from ldpc import BpDecoder
    except ImportError:  # pragma: no cover - optional oracle
        return math.nan, math.nan, 0, 0
    finally:
        sys.path[:] = saved
    rng = np.random.default_rng(seed)
    n = code.length
    rows = np.repeat(np.arange(code.n_checks), np.diff(code.check_ptr))
    h = sp.csr_matrix(
        (np.ones(code.n_edges, dtype=np.uint8), (rows, code.check_var)),
        shape=(code.n_checks, n),
    )
    dec = BpDecoder(h, error_rate=q, bp_method="product_sum", schedule="serial", max_iter=60)
    x = rng.integers(0, 2, size=(frames, n), dtype=np.uint8)
    e = (rng.random((frames, n)) < q).astype(np.uint8)
    y = x ^ e
    syn = code.syndrome(x)
    t0 = time.perf_counter()
    base_ok = 0
    for i in range(frames):
        e_hat = dec.decode(syn[i] ^ code.syndrome(y[i]))
        base_ok += int(dec.converge and np.array_equal(e_hat, e[i]))
    t_base = time.perf_counter() - t0
    llr = math.log((1 - q) / q) * (1.0 - 2.0 * y)
    t0 = time.perf_counter()
    bits, ok, _ = decode_syndrome(code, llr, syn, max_iter=60, decoder=decoder)
    t_ours = time.perf_counter() - t0
    ours_ok = int(np.sum(ok & np.all(bits == x, axis=1)))
    return frames * n / t_ours, frames * n / t_base, ours_ok, base_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=2**16, help="mother-code length n")
    parser.add_argument("--frames", type=int, default=16, help="frames per QBER")
    parser.add_argument("--base-frames", type=int, default=2, help="frames for the baseline")
    parser.add_argument(
        "--qber", type=float, nargs="+", default=[0.02, 0.03, 0.04, 0.05, 0.06, 0.08]
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--decoder", default="sum-product", choices=list(DECODERS))
    parser.add_argument("--threads", type=int, default=None, help="sum-product-lanes threads")
    parser.add_argument(
        "--today-frames", type=int, default=0, help="frames for the default-decoder baseline"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="other LdpcBob options, e.g. f_start=1.06 stall=6 schedule=rounds",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="warm rounds: restart_every=4, round_iter=20, stall=8, schedule=rounds",
    )
    parser.add_argument("--stall", type=int, default=None, help="LdpcBob stall (default 0)")
    parser.add_argument(
        "--tail",
        type=float,
        nargs="+",
        default=None,
        metavar="FRACTION",
        help="instead: blocks of FRACTION x k bits, each a single short last frame on its "
        "own code (--frames blocks per QBER and fraction); prints f and FER per case",
    )
    parser.add_argument(
        "--profile",
        choices=["ldpc-lanes"],
        default=None,
        help="start from a registry profile's options (ldpc-lanes: LDPC_LANES_OPTIONS and "
        "decoder sum-product-lanes); --set and --stall still override",
    )
    args = parser.parse_args()
    options: dict[str, object] = {}
    if args.profile == "ldpc-lanes":
        options.update(LDPC_LANES_OPTIONS)
        args.decoder = "sum-product-lanes"
    if args.fast:
        options.update({"restart_every": 4, "round_iter": 20, "stall": 8, "schedule": "rounds"})
    if args.stall is not None:
        options["stall"] = args.stall
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            options[name] = float(value) if "." in value else int(value)
        except ValueError:
            options[name] = value  # a word, e.g. schedule=rounds
    if args.threads is not None:
        options["threads"] = args.threads

    if args.decoder == "sum-product-gpu":
        try:
            gpu_module()
        except AcceleratorUnavailableError as exc:
            sys.exit(f"error: --decoder: {exc}")
    n = args.length
    k = n - round(0.1 * n)
    print(
        f"# LDPC blind reconciliation: n={n}, k={k}, frames/QBER={args.frames}, "
        f"decoder={args.decoder}, seed={args.seed}, options={options or 'defaults'}; "
        f"{platform.processor() or platform.machine()}; cpus {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    if args.tail:
        _tails(args, options)
        return
    # Compile the kernels before timing anything.
    warm_a = np.zeros(100, dtype=np.uint8)
    for dec in ("sum-product", args.decoder):
        bob = LdpcBob(warm_a, 0.05, seed=0, code_length=256, decoder=dec)
        bob.run(LdpcAlice(warm_a, rng=0).respond)
    header = (
        f"{'Q':>5} {'rate':>5} {'f':>6} {'f_act':>6} {'FER':>7} {'undet':>5} {'rounds':>6} "
        f"{'Mbit/s':>7} {'Mb/cpu-s':>8} {'vs today':>8} {'base':>6} {'ours_ok':>7} {'base_ok':>7}"
    )
    print(header)
    for j, q in enumerate(args.qber):
        rng = np.random.default_rng([args.seed, j])
        total = k * args.frames
        a = rng.integers(0, 2, total, dtype=np.uint8)
        b = a ^ (rng.random(total) < q).astype(np.uint8)
        bob = LdpcBob(b, q, seed=args.seed, code_length=n, decoder=args.decoder, **options)
        code = build_code(n, bob._rate, args.seed)  # build outside the timed region
        alice = LdpcAlice(a, rng=[args.seed, j, 1])
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = bob.run(alice.respond)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        today = _today(a, b, q, args, j)
        wrong = [
            i
            for i, (lo, hi) in enumerate(res.frame_bounds)
            if not np.array_equal(res.corrected[lo:hi], a[lo:hi])
        ]
        undetected = len(set(wrong) - set(res.failed_frames))
        fer = (len(res.failed_frames) + undetected) / len(res.frame_bounds)
        q_act = float(np.mean(a != b))
        f = res.leaked_bits / (total * binary_entropy(q))
        f_act = res.leaked_bits / (total * binary_entropy(q_act))
        ours, base, ours_ok, base_ok = _baseline(
            code, q, args.base_frames, args.seed + 7 * j, args.decoder
        )
        print(
            f"{q:5.3f} {bob._rate:5.2f} {f:6.3f} {f_act:6.3f} {fer:7.1e} {undetected:5d} "
            f"{res.round_trips:6d} {total / wall / 1e6:7.3f} {total / cpu / 1e6:8.3f} "
            f"{total / cpu / today:8.1f} {ours / base:6.2f} "
            f"{ours_ok:>4d}/{args.base_frames:<2d} {base_ok:>4d}/{args.base_frames:<2d}",
            flush=True,
        )
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


def _tails(args: argparse.Namespace, options: dict[str, object]) -> None:
    """f and FER of blocks shorter than a frame: one short last frame each, on its own code."""
    n = args.length
    d = round(0.1 * n)
    k = n - d
    cols = ("Q", "tail", "bits", "n_t", "f", "FER", "undet", "rounds")
    print(" ".join(f"{c:>{w}}" for c, w in zip(cols, (5, 5, 6, 6, 6, 7, 5, 6), strict=True)))
    for j, q in enumerate(args.qber):
        for frac in args.tail:
            if not 0.0 < frac < 1.0:
                sys.exit(f"error: --tail: fractions must be in (0, 1), got {frac}")
            k_t = max(1, round(frac * k))
            n_t = _frame_codes(n, d, k_t)[-1][2]
            leaked = bad = undet = trips = 0
            for i in range(args.frames):
                rng = np.random.default_rng([args.seed, j, i, k_t])
                a = rng.integers(0, 2, k_t, dtype=np.uint8)
                b = a ^ (rng.random(k_t) < q).astype(np.uint8)
                bob = LdpcBob(b, q, seed=args.seed, code_length=n, decoder=args.decoder, **options)
                res = bob.run(LdpcAlice(a, rng=[args.seed, j, i]).respond)
                wrong = not np.array_equal(res.corrected, a)
                bad += int(wrong or bool(res.failed_frames))
                undet += int(wrong and not res.failed_frames)
                leaked += res.leaked_bits
                trips += res.round_trips
            f = leaked / (args.frames * k_t * binary_entropy(q))
            print(
                f"{q:5.3f} {frac:5.2f} {k_t:6d} {n_t:6d} {f:6.3f} {bad / args.frames:7.1e} "
                f"{undet:5d} {trips / args.frames:6.1f}",
                flush=True,
            )
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


def _today(a: np.ndarray, b: np.ndarray, q: float, args: argparse.Namespace, j: int) -> float:
    """Bits per CPU-second of the default decoder on the first ``today_frames`` frames."""
    if args.today_frames <= 0:
        return math.nan
    k = args.length - round(0.1 * args.length)
    total = k * args.today_frames
    bob = LdpcBob(b[:total], q, seed=args.seed, code_length=args.length)
    alice = LdpcAlice(a[:total], rng=[args.seed, j, 2])
    c0 = time.process_time()
    res = bob.run(alice.respond)
    assert np.array_equal(res.corrected, a[:total]) or res.failed_frames
    return total / (time.process_time() - c0)


if __name__ == "__main__":
    main()
