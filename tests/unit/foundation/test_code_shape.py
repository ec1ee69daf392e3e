"""Every module does one job: size limits that keep each line of code in an obvious home.

A module over ~500 lines is one cohesive algorithm (a decoder, a kernel file) and is named in
:data:`ONE_ALGORITHM` with the reason, or it is split; a function over ~100 lines is a numba
kernel or it is split into named steps. The limits are the project's house rules
(docs/architecture.md, "Conventions").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "quaykey"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100

#: Modules allowed over MAX_MODULE_LINES, each one algorithm.
ONE_ALGORITHM = {
    "physics/_kernels.py": "the sampler's numba kernels",
    "postproc/reconcile/_cascade_kernels.py": "Cascade's numba kernels",
    "postproc/reconcile/cascade.py": "the Cascade protocol (Martinez-Mateo et al. opt.(8))",
    "postproc/reconcile/ldpc.py": "the blind rate-adaptive LDPC protocol",
    "postproc/reconcile/codes/__init__.py": "LDPC code construction (Elkouss 2009 Table I)",
}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _is_kernel(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    for d in decorators:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"njit", "jit", "vectorize", "guvectorize"}:
            return True
    return False


def test_modules_are_small_or_one_algorithm() -> None:
    too_big = []
    for path in _modules():
        rel = path.relative_to(SRC).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES and rel not in ONE_ALGORITHM:
            too_big.append(f"{rel}: {n} lines")
    assert not too_big, "split these modules along their jobs:\n" + "\n".join(too_big)


def test_allowlist_names_existing_large_modules() -> None:
    for rel in ONE_ALGORITHM:
        path = SRC / rel
        assert path.exists(), f"{rel} is in ONE_ALGORITHM but does not exist"


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function without its docstring (a long docstring is no reason to split)."""
    n = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if docstring and isinstance(first.value.value, str):  # type: ignore[attr-defined]
        n -= (first.end_lineno or first.lineno) - first.lineno + 1
    return n


def test_functions_are_short_outside_numba_kernels() -> None:
    too_long = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_kernel(node):
                n = _code_lines(node)
                if n > MAX_FUNCTION_LINES:
                    rel = path.relative_to(SRC).as_posix()
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not too_long, "split these functions into named steps:\n" + "\n".join(too_long)


@pytest.mark.parametrize("size", [MAX_MODULE_LINES + 1])
def test_the_size_check_can_fail(tmp_path: Path, size: int) -> None:
    # the check sees a module over the limit and a long function (so it is not vacuous)
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES + 1))
    source = "def f():\n" + body + "\n" + "\n" * (size - MAX_FUNCTION_LINES)
    tree = ast.parse(source)
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    assert (fn.end_lineno or 0) - fn.lineno + 1 > MAX_FUNCTION_LINES
    assert len(source.splitlines()) > MAX_MODULE_LINES
