"""Reading and writing a replica's heads file, ``<name>.heads.json``.

The file is ``{"own": [head, ...], "received": [head, ...]}``: the tree heads the participant
signed and those it accepted by gossip (see :mod:`quaykey.logistics.ledger.heads`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_heads", "write_heads"]


def read_heads(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(own, received)`` heads from ``path``; two empty lists if the file does not exist.

    Raises
    ------
    ValueError
        If the file is not a heads file.

    Examples
    --------
    >>> read_heads(Path("/nonexistent/x.heads.json"))
    ([], [])
    """
    if not path.exists():
        return [], []
    try:
        data = json.loads(path.read_text("utf-8"))
        own, received = data["own"], data["received"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}: not a heads file") from None
    if not isinstance(own, list) or not isinstance(received, list):
        raise ValueError(f"{path}: not a heads file")
    return [h for h in own if isinstance(h, dict)], [h for h in received if isinstance(h, dict)]


def write_heads(path: Path, own: list[dict[str, Any]], received: list[dict[str, Any]]) -> None:
    """Write the heads file atomically (temporary file, then rename)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"own": own, "received": received}, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
