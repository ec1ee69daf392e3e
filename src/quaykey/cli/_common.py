"""Helpers shared by command groups: JSON output and turning caller errors into clean exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from quaykey.errors import QuaykeyError

# Tables of link and route names need room: when the output is not a terminal (a log file,
# a pipe, CI), rich would fall back to 80 columns and cut the names.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True)


def print_json(payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to stdout (no rich markup)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=_default) + "\n")


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn ValueError/TypeError/QuaykeyError into a one-line message and exit code 2."""
    try:
        yield
    except (ValueError, TypeError, KeyError, FileNotFoundError, QuaykeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        err_console.print(f"[bold red]error:[/] {msg}")
        raise typer.Exit(code=2) from None


def run_guarded(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` inside :func:`user_errors`."""
    with user_errors():
        return fn()
