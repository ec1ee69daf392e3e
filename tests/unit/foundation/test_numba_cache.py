"""Every numba-compiled function in src is cached on disk, so no kernel compiles twice."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "quaykey"
#: numba decorators that compile, and so must carry ``cache=True``
COMPILING = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit"}


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _cached(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False  # bare @njit
    return any(
        kw.arg == "cache" and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in node.keywords
    )


def compiled_functions(tree: ast.AST) -> list[tuple[str, bool]]:
    """(function name, cached?) of every function a numba decorator compiles."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                if _decorator_name(dec) in COMPILING:
                    found.append((node.name, _cached(dec)))
    return found


def test_scan_sees_bare_and_uncached_decorators() -> None:
    tree = ast.parse(
        "@njit\ndef a(): pass\n@numba.njit(cache=True)\ndef b(): pass\n"
        "@njit(cache=False)\ndef c(): pass\n@jit(nopython=True)\ndef d(): pass\n"
    )
    assert compiled_functions(tree) == [("a", False), ("b", True), ("c", False), ("d", False)]


def test_every_numba_function_in_src_is_cached() -> None:
    seen = 0
    uncached = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if "numba" not in text:
            continue
        for name, cached in compiled_functions(ast.parse(text)):
            seen += 1
            if not cached:
                uncached.append(f"{path.relative_to(SRC)}:{name}")
    assert seen >= 10  # the scan does find the kernels
    assert uncached == []


_ONE_SIGNATURE = """
import numpy as np, numba
from quaykey.physics.params import load_preset
from quaykey.physics.sampler import simulate_link
from quaykey.postproc.authpool import AuthKeyPool
from quaykey.postproc.driver import run_block
from quaykey import _kernels as a
from quaykey.postproc import _kernels as b
from quaykey.postproc.reconcile import _cascade_kernels as c
params = load_preset("backbone", distance_km=20).with_overrides(
    {"source.basis_probability_x": 0.5, "source.probabilities": (0.5, 0.3, 0.2)})
pa, pb = AuthKeyPool.pre_shared(10**6, seed=1)
for n_pulses in (5 * 10**7, 6 * 10**8):  # a small block, then one large enough for FFT grids
    s = simulate_link(params, n_pulses, np.random.default_rng(n_pulses))
    run_block(s.alice, s.bob, auth_alice=pa, auth_bob=pb, seed=1)
for mod in (a, b, c):
    for name in dir(mod):
        f = getattr(mod, name)
        if isinstance(f, numba.core.registry.CPUDispatcher) and len(f.signatures) > 1:
            print(mod.__name__, name, f.signatures)
print("checked")
"""


def test_a_pipeline_run_compiles_each_kernel_for_one_signature(tmp_path: Path) -> None:
    """One block end to end (sifting, Cascade, hashing, amplification on 1-D and Good-Thomas
    grids) in a fresh process: no kernel is compiled for two argument types."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    out = subprocess.run(
        [sys.executable, "-c", _ONE_SIGNATURE], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "checked", out.stdout
