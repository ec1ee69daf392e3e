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
