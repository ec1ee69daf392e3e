"""Post-processing throughput: Toeplitz privacy amplification and the whole pipeline.

Run from the repository root::

    .venv/bin/python benchmarks/postproc.py            # everything
    .venv/bin/python benchmarks/postproc.py --quick    # skip 10^7 and the largest block

Part 1 hashes ``n`` input bits to ``m = n / 2`` output bits with

* ``quaykey``: :func:`quaykey.postproc.amplify.toeplitz_hash` (scipy.fft, next_fast_len);
* ``numpy-fft``: a plain ``numpy.fft.rfft``/``irfft`` of power-of-two length;
* ``cryptomite``: ``cryptomite.Toeplitz(n, m).extract(list, list)`` (its public API, with
  its own seed layout), checked equal to the explicit Toeplitz product at small size.

Part 2 times :func:`quaykey.postproc.driver.run_block` (Cascade) on blocks simulated by
:func:`quaykey.physics.sampler.simulate_link` (backbone preset at 20 km with unbiased bases,
so that short blocks already give a key), after a warm-up block that compiles the numba
kernels. Throughput is sifted bits (basis-matched, X and Z) per second of ``run_block``
wall time; both parties run in the same process, so their work adds up.

Part 3 (``--stream``) runs a stream of blocks through
:func:`quaykey.postproc.driver.run_blocks`: first one block at a time (the sequential path,
what ``run_block`` in a loop does), then with ``--workers`` blocks in flight on a process
pool (spawned and warmed before timing; ``--threads``: a thread pool), and checks that
both give the same keys. The ratio is sequential wall time / in-flight wall time, measured
in the same run.

Timings are best-of-``repeat`` wall clock. The machine is shared: quote the table with the
load average printed above it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
from quaykey.postproc.amplify import identity_toeplitz_hash, toeplitz_hash, toeplitz_matrix
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.driver import run_block, run_blocks

_CPU: dict[int, float] = {}


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time; the best CPU time (all threads) is kept in ``_CPU[id(fn)]``."""
    best = float("inf")
    best_cpu = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    _CPU[id(fn)] = best_cpu
    return best


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    wall = _best(fn, repeat)
    return wall, _CPU[id(fn)]


def numpy_toeplitz(x: np.ndarray, s: np.ndarray, m: int) -> np.ndarray:
    """Plain numpy FFT of power-of-two length (the textbook baseline)."""
    n = x.size
    length = 1 << int(np.ceil(np.log2(n + m - 1)))
    conv = np.fft.irfft(np.fft.rfft(s, length) * np.fft.rfft(x, length), length)
    return (np.rint(conv[n - 1 : n - 1 + m]).astype(np.int64) & 1).astype(np.uint8)


def _cryptomite_check() -> None:
    from cryptomite import Toeplitz

    rng = np.random.default_rng(0)
    n, m = 64, 24
    x = rng.integers(0, 2, n).tolist()
    s = rng.integers(0, 2, n + m - 1).tolist()
    got = Toeplitz(n, m).extract(x, s)
    # cryptomite's layout: first column s0..s_{m-1}, first row s0, s_{n+m-2}, ..., s_m
    t = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            t[i, j] = s[i - j] if i >= j else s[n + m - 1 - (j - i)]
    assert list(got) == ((t @ np.array(x)) % 2).tolist(), "cryptomite layout check failed"


def bench_pa(sizes: list[int], repeat: int, with_cryptomite: bool) -> list[dict[str, object]]:
    rows = []
    rng = np.random.default_rng(1)
    if with_cryptomite:
        _cryptomite_check()
    # exactness of the method under test, at a size where the explicit product is cheap
    xs = rng.integers(0, 2, 300, dtype=np.uint8)
    ss = rng.integers(0, 2, 449, dtype=np.uint8)
    assert np.array_equal(toeplitz_hash(xs, ss, 150), toeplitz_matrix(ss, 300, 150) @ xs % 2)
    for n in sizes:
        m = n // 2
        x = rng.integers(0, 2, n, dtype=np.uint8)
        s = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
        ours, ours_cpu = _timed(lambda: toeplitz_hash(x, s, m), repeat)  # noqa: B023
        assert np.array_equal(numpy_toeplitz(x, s, m), toeplitz_hash(x, s, m))
        plain, plain_cpu = _timed(lambda: numpy_toeplitz(x, s, m), repeat)  # noqa: B023
        # the hash the pipeline runs: (I | T) with an n - 1 bit seed
        s2 = s[: n - 1]
        ident, ident_cpu = _timed(lambda: identity_toeplitz_hash(x, s2, m), repeat)  # noqa: B023
        expect = x[:m] ^ numpy_toeplitz(x[m:], s2, m)
        assert np.array_equal(identity_toeplitz_hash(x, s2, m), expect)
        crypt = crypt_cpu = float("nan")
        if with_cryptomite:
            from cryptomite import Toeplitz

            ext = Toeplitz(n, m)
            xl, sl = x.tolist(), s.tolist()
            crypt, crypt_cpu = _timed(
                lambda: ext.extract(xl, sl),  # noqa: B023
                1 if n >= 10**7 else repeat,
            )
        rows.append(
            {
                "n": n,
                "quaykey_s": ours,
                "identity_s": ident,
                "identity_cpu": ident_cpu,
                "numpy_s": plain,
                "cryptomite_s": crypt,
                "quaykey_cpu": ours_cpu,
                "numpy_cpu": plain_cpu,
                "cryptomite_cpu": crypt_cpu,
            }
        )
    return rows


def bench_pipeline(durations_s: list[float], repeat: int) -> list[dict[str, object]]:
    params = load_preset("backbone", distance_km=20).with_overrides(
        {"source.basis_probability_x": 0.5, "source.probabilities": (0.5, 0.3, 0.2)}
    )
    rate = params.source.repetition_rate_hz
    rows = []
    warm = simulate_link(params, int(0.1 * rate), np.random.default_rng(99))
    pa, pb = AuthKeyPool.pre_shared(10**6, seed=1)
    run_block(warm.alice, warm.bob, auth_alice=pa, auth_bob=pb, seed=0)
    for i, dur in enumerate(durations_s):
        sample = simulate_link(params, int(dur * rate), np.random.default_rng(i))
        best = best_cpu = float("inf")
        report = None
        for _ in range(repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            res = run_block(sample.alice, sample.bob, auth_alice=pa, auth_bob=pb, seed=i)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
            assert res.alice_key.matches(res.bob_key)
            report = res
        assert report is not None
        rows.append(
            {
                "link_s": dur,
                "sifted_bits": report.sifted_bits,
                "key_bits": report.sifted_key_bits,
                "final_bits": report.final_key_bits,
                "seconds": best,
                "cpu_seconds": best_cpu,
                "stages": report.stage_seconds,
                "f": report.reconciliation_efficiency,
            }
        )
    return rows


def _stream_params():  # type: ignore[no-untyped-def]
    return load_preset("backbone", distance_km=20).with_overrides(
        {"source.basis_probability_x": 0.5, "source.probabilities": (0.5, 0.3, 0.2)}
    )


def bench_stream(
    durations_s: list[float],
    n_blocks: int,
    reconciler: str,
    workers: int,
    threads: bool = False,
    repeat: int = 1,
) -> list[dict[str, object]]:
    """Sequential vs ``workers`` blocks in flight on the same blocks; best wall times of
    ``repeat`` runs each, same run."""
    params = _stream_params()
    rate = params.source.repetition_rate_hz
    rows = []
    budget = 400_000
    for dur in durations_s:
        blocks = [
            (smp.alice, smp.bob, i)
            for i, smp in enumerate(
                simulate_link(params, int(dur * rate), np.random.default_rng([7, i]))
                for i in range(n_blocks)
            )
        ]
        pa, pb = AuthKeyPool.pre_shared(10**7, seed=1)

        def go(items, **kw):  # type: ignore[no-untyped-def]
            return list(
                run_blocks(
                    items,
                    auth_alice=pa,  # noqa: B023
                    auth_bob=pb,  # noqa: B023
                    auth_budget_bits=budget,
                    reconciler=reconciler,
                    **kw,
                )
            )

        go(blocks[:1])  # compile / load the kernels in this process
        t_seq = cpu_seq = float("inf")
        for _ in range(repeat):  # best of `repeat`: the machine is shared
            c0 = time.process_time()
            t0 = time.perf_counter()
            seq = go(blocks)
            t_seq = min(t_seq, time.perf_counter() - t0)
            cpu_seq = min(cpu_seq, time.process_time() - c0)
        ctx = multiprocessing.get_context("spawn")
        pool: Executor = (
            ThreadPoolExecutor(max_workers=workers)
            if threads
            else ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        )
        with pool as ex:
            go(blocks[: 2 * workers], executor=ex, in_flight=2 * workers)  # warm the workers
            t_par = cpu_par = float("inf")
            for _ in range(repeat):
                c_before = _children_cpu()
                c0 = time.process_time()
                t0 = time.perf_counter()
                par = go(blocks, executor=ex, in_flight=2 * workers)
                t_par = min(t_par, time.perf_counter() - t0)
                cpu_par = min(cpu_par, time.process_time() - c0 + _children_cpu() - c_before)
        for x, y in zip(seq, par, strict=True):
            assert x.alice_key.to_bytes() == y.alice_key.to_bytes(), "in-flight keys differ"
            assert x.final_key_bits == y.final_key_bits
        sifted = sum(r.sifted_bits for r in seq)
        rows.append(
            {
                "link_s": dur,
                "blocks": n_blocks,
                "sifted_bits": sifted,
                "seq_s": t_seq,
                "seq_cpu": cpu_seq,
                "par_s": t_par,
                "par_cpu": cpu_par,
                "f": float(np.mean([r.reconciliation_efficiency or np.nan for r in seq])),
                "stages": {k: sum(r.stage_seconds[k] for r in seq) for k in seq[0].stage_seconds},
            }
        )
    return rows


def _children_cpu() -> float:
    """CPU seconds of this process's live child processes (nan without psutil)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - optional
        return float("nan")
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _print_stream(args: argparse.Namespace) -> None:
    for reconciler in args.reconcilers:
        print(
            f"\n## Stream of {args.stream_blocks} blocks ({reconciler}), one at a time vs "
            f"{args.workers} worker {'threads' if args.threads else 'processes'} "
            f"({2 * args.workers} blocks in flight), best of {args.stream_repeat}; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        print(
            "| block | sifted bits | sequential wall | sequential CPU | in flight wall "
            "| in flight CPU | sifted Mbit/s wall seq / in flight | ratio "
            "| Mbit per CPU-s seq / in flight | f | stage times (sequential) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in bench_stream(
            args.stream_durations,
            args.stream_blocks,
            reconciler,
            args.workers,
            args.threads,
            args.stream_repeat,
        ):
            sifted = int(r["sifted_bits"])  # type: ignore[call-overload]
            t_seq, t_par = float(r["seq_s"]), float(r["par_s"])  # type: ignore[arg-type]
            c_seq, c_par = float(r["seq_cpu"]), float(r["par_cpu"])  # type: ignore[arg-type]
            stages = ", ".join(
                f"{k} {v:.1f}"
                for k, v in sorted(r["stages"].items(), key=lambda kv: -kv[1])[:4]  # type: ignore[attr-defined]
            )
            print(
                f"| {r['link_s']} s | {sifted} | {t_seq:.2f} s | {c_seq:.2f} s | {t_par:.2f} s "
                f"| {c_par:.2f} s | {sifted / t_seq / 1e6:.2f} / {sifted / t_par / 1e6:.2f} "
                f"| {t_seq / t_par:.2f}x | {sifted / c_seq / 1e6:.2f} / {sifted / c_par / 1e6:.2f} "
                f"| {float(r['f']):.3f} | {stages} |",  # type: ignore[arg-type]
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip 10^7 PA and the largest block")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cryptomite", action="store_true")
    ap.add_argument("--stream", action="store_true", help="only part 3: blocks in flight")
    ap.add_argument("--stream-blocks", type=int, default=6)
    ap.add_argument("--stream-durations", type=float, nargs="+", default=[0.1, 0.5])
    ap.add_argument("--stream-repeat", type=int, default=3, help="timed runs of each, best")
    ap.add_argument("--reconcilers", nargs="+", default=["cascade"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", action="store_true", help="worker threads, not processes")
    args = ap.parse_args()
    if args.stream:
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
        _print_stream(args)
        print(f"\nload average after: {os.getloadavg()}")
        return
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    print("\n## Toeplitz privacy amplification (m = n/2), best of", args.repeat)
    print(
        "| n (input bits) | quaykey wall | numpy FFT wall | cryptomite wall | vs numpy "
        "| vs cryptomite | quaykey CPU | numpy CPU | cryptomite CPU | quaykey (I \\| T) wall "
        "| (I \\| T) CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench_pa(sizes, args.repeat, not args.no_cryptomite):
        n = int(r["n"])  # type: ignore[call-overload]
        q, p, c, qc, pc, cc = (
            float(r[k])  # type: ignore[arg-type]
            for k in (
                "quaykey_s",
                "numpy_s",
                "cryptomite_s",
                "quaykey_cpu",
                "numpy_cpu",
                "cryptomite_cpu",
            )
        )
        print(
            f"| {n:.0e} | {q * 1e3:.1f} ms ({n / q / 1e6:.1f} Mbit/s) "
            f"| {p * 1e3:.1f} ms ({n / p / 1e6:.1f} Mbit/s) "
            f"| {c * 1e3:.0f} ms ({n / c / 1e6:.2f} Mbit/s) | {p / q:.1f}x | {c / q:.1f}x "
            f"| {qc * 1e3:.0f} ms | {pc * 1e3:.0f} ms | {cc * 1e3:.0f} ms "
            f"| {float(r['identity_s']) * 1e3:.1f} ms "  # type: ignore[arg-type]
            f"({n / float(r['identity_s']) / 1e6:.1f} Mbit/s) "  # type: ignore[arg-type]
            f"| {float(r['identity_cpu']) * 1e3:.0f} ms |"  # type: ignore[arg-type]
        )
    durations = [0.1, 0.5] if args.quick else [0.1, 0.5, 1.0]
    print("\n## Whole pipeline (Cascade), backbone 20 km, q_x = 0.5, best of", args.repeat)
    print(
        "| link time | sifted bits | key-basis bits | final key | run_block wall "
        "| sifted Mbit/s (wall) | run_block CPU | f | slowest stages |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in bench_pipeline(durations, args.repeat):
        secs = float(r["seconds"])  # type: ignore[arg-type]
        cpu = float(r["cpu_seconds"])  # type: ignore[arg-type]
        stages = sorted(r["stages"].items(), key=lambda kv: -kv[1])[:3]  # type: ignore[attr-defined]
        slow = ", ".join(f"{k} {v:.2f} s" for k, v in stages)
        sifted = int(r["sifted_bits"])  # type: ignore[call-overload]
        print(
            f"| {r['link_s']} s | {sifted} | {r['key_bits']} | {r['final_bits']} "
            f"| {secs:.2f} s | {sifted / secs / 1e6:.2f} | {cpu:.2f} s | {r['f']:.3f} | {slow} |"
        )
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
