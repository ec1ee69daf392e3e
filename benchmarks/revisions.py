"""The same workloads on two revisions of quaykey, alternately, in one run: a ratio per workload.

A restructuring must not make anything slower. This script checks out a baseline revision
into a temporary ``git worktree``, then times each workload on the baseline and on the
working tree in fresh interpreters, alternating (baseline, current, baseline, current, ...)
so that machine load affects both alike, and prints the best CPU time of each and their
ratio (``current / baseline`` throughput: above 1 is faster). CPU time, not wall time: the
machine is shared.

Run from the repository root::

    .venv/bin/python benchmarks/revisions.py --baseline 7db6fb0 --rounds 3

Workloads (after a warm-up call that compiles the numba kernels):

* ``sampler``: :func:`simulate_link`, gys preset at 50 km, 10^9 pulses (pulses per CPU-s);
* ``pipeline``: :func:`run_block` (Cascade) on a 0.5 s block of the backbone preset at 20 km
  with unbiased bases (sifted bits per CPU-s);
* ``amplify``: Toeplitz privacy amplification of 10^6 bits to 5 x 10^5 (bits per CPU-s);
* ``amplify7``: the same at 10^7 bits to 5 x 10^6;
* ``amplify7_pipeline``: the hash the pipeline runs, 10^7 bits to 5 x 10^6: ``(I | T)``
  (:func:`identity_toeplitz_hash`) where the revision has it, else plain Toeplitz;
* ``sampler1e10``: :func:`simulate_link`, gys at 50 km, 10^10 pulses (pulses per CPU-s);
* ``cli_help``: ``python -m quaykey.cli.main --help`` in a child process (runs per second:
  only the wall-time ratio counts, the child's CPU time is not this process's);
* ``keyrate``: the optimised Lim 2014 finite-key rate at 50 km, 10^8-bit blocks (calls/CPU-s);
* ``ldpc_kernel``: the many-frames LDPC decoder alone, 32 frames of the rate-0.8 2^16 code
  at Q = 3.5 % (above its threshold, so every frame runs all 15 iterations; edge-frame
  iterations per CPU-s);
* ``ldpc_lanes``: the ``ldpc-lanes`` reconciler (registry profile) on 48 frames of 2^16 bits
  at each of Q = 2, 5 and 8 % (sifted bits per CPU-s; every frame must come out corrected);
* ``network``: 24 simulated hours of the beijing-shanghai preset, statistical fidelity
  (simulated hours per CPU-s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _amplify_probe(exponent: int, imports: str) -> str:
    """A probe hashing 10^exponent bits to half as many with ``h`` (seed of ``seed_bits``)."""
    return f"""
import numpy as np
{imports}
rng = np.random.default_rng(0)
n, m = 10**{exponent}, 5 * 10**{exponent - 1}
x = rng.integers(0, 2, n, dtype=np.uint8)
s = rng.integers(0, 2, seed_bits(n, m), dtype=np.uint8)
h(x, s, m)
def run(i):
    h(x, s, m)
    return n
"""


#: Each probe prints ``{"work": units of work, "cpu_s": best CPU seconds}`` as JSON. It
#: imports the names that both the baseline and the current tree export.
PROBES: dict[str, str] = {
    "sampler": """
import numpy as np
from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
p = load_preset("gys", distance_km=50)
simulate_link(p, 10**7, np.random.default_rng(0))
n = 10**9
def run(i):
    simulate_link(p, n, np.random.default_rng(i))
    return n
""",
    "pipeline": """
import numpy as np
from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
from quaykey.postproc.channel import AuthKeyPool
from quaykey.postproc.pipeline import run_block
p = load_preset("backbone", distance_km=20).with_overrides(
    {"source.basis_probability_x": 0.5, "source.probabilities": (0.5, 0.3, 0.2)})
rate = p.source.repetition_rate_hz
warm = simulate_link(p, int(0.1 * rate), np.random.default_rng(99))
pa, pb = AuthKeyPool.pre_shared(10**6, seed=1)
run_block(warm.alice, warm.bob, auth_alice=pa, auth_bob=pb, seed=0)
sample = simulate_link(p, int(0.5 * rate), np.random.default_rng(1))
def run(i):
    res = run_block(sample.alice, sample.bob, auth_alice=pa, auth_bob=pb, seed=i)
    return res.report.sifted_bits
""",
    "amplify": _amplify_probe(
        6, "from quaykey.postproc.amplify import seed_length as seed_bits, toeplitz_hash as h"
    ),
    "amplify7": _amplify_probe(
        7, "from quaykey.postproc.amplify import seed_length as seed_bits, toeplitz_hash as h"
    ),
    "amplify7_pipeline": _amplify_probe(
        7,
        """try:
    from quaykey.postproc.amplify import identity_toeplitz_hash as h
    from quaykey.postproc.amplify import identity_toeplitz_seed_length as seed_bits
except ImportError:
    from quaykey.postproc.amplify import seed_length as seed_bits, toeplitz_hash as h""",
    ),
    "sampler1e10": """
import numpy as np
from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
p = load_preset("gys", distance_km=50)
simulate_link(p, 10**7, np.random.default_rng(0))
n = 10**10
def run(i):
    simulate_link(p, n, np.random.default_rng(i))
    return n
""",
    "cli_help": """
import subprocess, sys
def run(i):
    subprocess.run([sys.executable, "-m", "quaykey.cli.main", "--help"], check=True,
                   capture_output=True)
    return 1
""",
    "keyrate": """
from quaykey.physics.keyrate import key_rate
from quaykey.physics.params import load_preset
p = load_preset("gys", distance_km=50)
key_rate(p, "finite", block_bits=1e8)
def run(i):
    for _ in range(5):
        key_rate(p, "finite", block_bits=1e8)
    return 5
""",
    "ldpc_kernel": """
import numpy as np
from quaykey.postproc.reconcile.codes import build_code
from quaykey.postproc.reconcile.ldpc import decode_syndrome
code = build_code(2**16, 0.8, 1)
rng = np.random.default_rng(1)
x = rng.integers(0, 2, (32, code.length), dtype=np.uint8)
y = x ^ (rng.random(x.shape) < 0.035).astype(np.uint8)
llr = np.log(0.965 / 0.035) * (1.0 - 2.0 * y)
syn = code.syndrome(x)
decode_syndrome(code, llr[:2], syn[:2], max_iter=2, decoder="sum-product-lanes")
def run(i):
    _, ok, it = decode_syndrome(code, llr, syn, max_iter=15, decoder="sum-product-lanes")
    return int(it.sum()) * code.n_edges
""",
    "ldpc_lanes": """
import numpy as np
from quaykey.postproc.reconcile import get_reconciler
alice, bob = get_reconciler("ldpc-lanes")
k = 2**16 - round(0.1 * 2**16)
rng = np.random.default_rng(5)
a = rng.integers(0, 2, 48 * k, dtype=np.uint8)
b = {q: a ^ (rng.random(a.size) < q).astype(np.uint8) for q in (0.02, 0.05, 0.08)}
bob(b[0.05][:k], 0.05, 1).run(alice(a[:k]).respond)
def run(i):
    for q, bits in b.items():
        res = bob(bits, q, 1).run(alice(a).respond)
        assert np.array_equal(res.corrected, a), q
    return 3 * a.size
""",
    "network": """
try:
    from quaykey.network.sim import NetworkSimulation, SimulationConfig
except ImportError:
    from quaykey.network.engine import NetworkSimulation, SimulationConfig
from quaykey.network.presets import load_preset_topology
t = load_preset_topology("beijing-shanghai")
NetworkSimulation(t, SimulationConfig(duration_s=3600.0, seed=1)).run()
def run(i):
    NetworkSimulation(t, SimulationConfig(duration_s=24 * 3600.0, seed=1 + i)).run()
    return 24
""",
}

_HARNESS = """
import json, time
{probe}
best = wall = float("inf")
work = 0
for i in range({repeat}):
    c0, w0 = time.process_time(), time.perf_counter()
    work = run(i)
    best = min(best, time.process_time() - c0)
    wall = min(wall, time.perf_counter() - w0)
print(json.dumps({{"work": work, "cpu_s": best, "wall_s": wall}}))
"""


def measure(src: Path, probe: str, repeat: int) -> tuple[float, float, float]:
    """Work done, best CPU and best wall seconds, in a fresh interpreter importing ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    code = _HARNESS.format(probe=PROBES[probe], repeat=repeat)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{probe} on {src}: failed\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return float(data["work"]), float(data["cpu_s"]), float(data["wall_s"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="7db6fb0", help="git revision to compare against")
    ap.add_argument("--rounds", type=int, default=3, help="alternations per workload")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per interpreter")
    ap.add_argument("--only", nargs="*", choices=sorted(PROBES), help="workloads to run")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeat < 1:
        raise SystemExit("error: --rounds and --repeat must be >= 1")
    probes = args.only or list(PROBES)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.baseline],
            check=True,
        )
        try:
            _table(probes, base / "src", ROOT / "src", args)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )


def _table(probes: list[str], base_src: Path, cur_src: Path, args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    print(f"baseline {args.baseline} vs working tree; load average {load:.1f} at start")
    print("best CPU time (all threads) and best wall time; ratio = current / baseline rate")
    print(
        f"{'workload':<17} {'baseline /CPU-s':>16} {'current /CPU-s':>15} {'ratio':>6}"
        f" {'baseline /s':>12} {'current /s':>11} {'ratio':>6}"
    )
    for probe in probes:
        best = {"b": [math.inf, math.inf], "c": [math.inf, math.inf]}
        work = 0.0
        for _ in range(args.rounds):
            for side, src in (("b", base_src), ("c", cur_src)):
                work, cpu, wall = measure(src, probe, args.repeat)
                best[side] = [min(best[side][0], cpu), min(best[side][1], wall)]
        cb, wb = (work / t for t in best["b"])
        cc, wc = (work / t for t in best["c"])
        print(
            f"{probe:<17} {cb:>16.4g} {cc:>15.4g} {cc / cb:>6.3f} {wb:>12.4g} {wc:>11.4g}"
            f" {wc / wb:>6.3f}",
            flush=True,
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
