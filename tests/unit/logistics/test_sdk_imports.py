"""The SDK reaches the KMS only through its stable interfaces (kms.client, kms.schemas)."""

from __future__ import annotations

import ast
from pathlib import Path

import quaykey.logistics.sdk as sdk

ALLOWED = ("quaykey.kms.client", "quaykey.kms.schemas", "quaykey.errors", "quaykey.mac",
           "quaykey.sealing", "quaykey.units", "quaykey.logistics")  # fmt: skip


def test_sdk_imports_only_stable_interfaces() -> None:
    files = sorted(Path(sdk.__file__).parent.glob("*.py"))
    seen = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("quaykey"):
                    seen.add(name)
                    assert name.startswith(ALLOWED), f"{f.name} imports {name}"
    assert "quaykey.kms.client" in seen and len(files) >= 7
