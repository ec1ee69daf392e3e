"""Helpers shared by command groups: checks of user input, one error style, output.

Every user error is ONE line ``error: <message naming the flag>`` on stderr and exit code 2,
without a traceback. Commands check their input *before* the work starts with:

- :func:`check_positive` (``--block-s -1``), :func:`check_seed` (``--seed -1``),
  :func:`check_range` (``--min-elevation 95``),
- :func:`check_in_file` (``--config`` that does not exist), :func:`read_yaml_file`,
- :func:`check_out_path` (``--out`` into a missing folder),
- :func:`refuse_expensive` (a run estimated to take longer than a limit, without ``--force``),

and run the work inside :func:`user_errors`, which turns ValueError, TypeError, KeyError,
OSError and :class:`~quaykey.errors.QuaykeyError` into that one line. :func:`fail` raises it
directly. :func:`progress` shows a rich progress bar on stderr; :func:`format_qber` is the
one way a QBER is shown.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quaykey.errors import QuaykeyError

if TYPE_CHECKING:
    from quaykey.physics.params import LinkParams

__all__ = [
    "check_in_file",
    "check_out_path",
    "check_positive",
    "check_range",
    "check_seed",
    "console",
    "err_console",
    "fail",
    "format_duration",
    "format_qber",
    "link_params",
    "one_line",
    "print_json",
    "progress",
    "read_yaml_file",
    "refuse_expensive",
    "run_guarded",
    "user_errors",
]

# Tables of link and route names need room: when the output is not a terminal (a log file,
# a pipe, CI), rich would fall back to 80 columns and cut the names.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True)

#: Exit code of every user error (what click uses for usage errors).
USER_ERROR_EXIT = 2


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


def one_line(message: object) -> str:
    """``message`` as one line: runs of whitespace (newlines included) become one space."""
    return " ".join(str(message).split())


def print_error(message: object) -> None:
    """Write ``error: <message>`` as one line on stderr (no rich wrapping, no markup)."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with code 2."""
    print_error(message)
    raise typer.Exit(code=USER_ERROR_EXIT)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc)
    return text or type(exc).__name__


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn ValueError/TypeError/KeyError/OSError/QuaykeyError into one line and exit 2."""
    try:
        yield
    except (ValueError, TypeError, KeyError, OSError, QuaykeyError) as exc:
        print_error(_message(exc))
        raise typer.Exit(code=USER_ERROR_EXIT) from None


def run_guarded(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` inside :func:`user_errors`."""
    with user_errors():
        return fn()


def check_positive(value: float | None, flag: str, *, allow_zero: bool = False) -> None:
    """Raise ValueError naming ``flag`` unless ``value`` is finite and > 0 (>= 0 if allowed).

    ``None`` (an option not given) passes.

    Example
    -------
    >>> check_positive(-1.0, "--block-s")
    Traceback (most recent call last):
    ...
    ValueError: --block-s must be a number > 0, got -1.0
    """
    if value is None:
        return
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{flag} must be a number {'>=' if allow_zero else '>'} 0, got {value!r}")


def check_range(value: float | None, flag: str, low: float, high: float) -> None:
    """Raise ValueError naming ``flag`` unless ``low <= value <= high`` (None passes).

    Example
    -------
    >>> check_range(95.0, "--min-elevation", 0.0, 90.0)
    Traceback (most recent call last):
    ...
    ValueError: --min-elevation must be in [0, 90], got 95.0
    """
    if value is None:
        return
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{flag} must be in [{low:g}, {high:g}], got {value!r}")


def check_seed(seed: int | None, flag: str = "--seed") -> None:
    """Raise ValueError naming ``flag`` unless ``seed`` is an integer in [0, 2**63)."""
    if seed is None:
        return
    if not (isinstance(seed, int) and 0 <= seed < 2**63):
        raise ValueError(f"{flag} must be an integer >= 0, got {seed!r}")


def check_in_file(path: Path | None, flag: str) -> None:
    """Raise ValueError naming ``flag`` unless ``path`` is an existing, readable file."""
    if path is None:
        return
    if not path.exists():
        raise ValueError(f"{flag}: no such file {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"{flag}: {str(path)!r} is not a file")


def read_yaml_file(path: Path, flag: str) -> Any:
    """Parse a YAML file; every failure is a ValueError naming ``flag`` in one line."""
    import yaml

    check_in_file(path, flag)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{flag}: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValueError(f"{flag}: {str(path)!r} is not valid YAML{where}: {problem}") from None


def check_out_path(
    path: Path | None, flag: str, *, directory: bool = False, suffix: str | None = None
) -> None:
    """Raise ValueError naming ``flag`` unless ``path`` can be written.

    Parameters
    ----------
    path
        The file (or, with ``directory=True``, the folder) a command will write; None passes.
    flag
        The option, named in the error.
    directory
        ``path`` is a folder the command creates or fills: its parent must exist.
    suffix
        For files, the required suffix (e.g. ``".png"``).

    Example
    -------
    >>> check_out_path(Path("/no/such/folder/map.png"), "--out")
    Traceback (most recent call last):
    ...
    ValueError: --out: folder '/no/such/folder' does not exist; create it first
    """
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag}: folder {str(parent)!r} does not exist; create it first")
    if directory:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{flag}: {str(path)!r} exists and is not a folder")
        return
    if path.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a folder; give a file name")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{flag} must name a {suffix} file, got {str(path)!r}")


def format_duration(seconds: float) -> str:
    """A duration for people: ``42 s``, ``3.5 min``, ``2.1 h``, ``4.0 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def refuse_expensive(estimate_s: float, limit_s: float, flag: str, force: bool) -> None:
    """Raise ValueError naming ``flag`` when a run would take longer than ``limit_s``.

    ``force`` (a ``--force`` option) lets it run anyway; callers should then show progress.

    Example
    -------
    >>> refuse_expensive(7200.0, 600.0, "--days", force=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --days: this would take about 2.0 h (more than 10.0 min); ...
    """
    if force or estimate_s <= limit_s:
        return
    raise ValueError(
        f"{flag}: this would take about {format_duration(estimate_s)} "
        f"(more than {format_duration(limit_s)}); ask for less or add --force"
    )


@contextmanager
def progress(
    description: str, total: float, *, unit: str = "", disable: bool = False
) -> Iterator[Callable[[float], None]]:
    """A transient progress bar on stderr; yields ``advance(amount)``.

    Example
    -------
    >>> with progress("points", 3, disable=True) as advance:
    ...     for _ in range(3):
    ...         advance(1)
    """
    columns = [
        TextColumn(f"[bold]{description}[/]"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" + (f" {unit}" if unit else "")),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True, disable=disable) as bar:
        task = bar.add_task(description, total=total)

        def advance(amount: float = 1.0) -> None:
            bar.advance(task, amount)

        yield advance


def format_qber(qber: float | None) -> str:
    """The one way a QBER is shown: percent with two decimals (``1.23 %``), ``-`` if unknown.

    Example
    -------
    >>> format_qber(0.012345), format_qber(None), format_qber(float("nan"))
    ('1.23 %', '-', '-')
    """
    if qber is None or not math.isfinite(qber):
        return "-"
    return f"{qber * 100:.2f} %"


def link_params(
    preset: str,
    distance_km: float | None = None,
    loss_db: float | None = None,
    *,
    config: Path | None = None,
    params: Sequence[str] | None = None,
) -> LinkParams:
    """The link of ``--preset``/``--distance-km``/``--loss-db``/``--config``/``--param``.

    The one way link commands turn these options into :class:`LinkParams`: the preset at
    its distance or loss, then the ``--config`` file's overrides, then each ``--param``
    (read by :func:`quaykey.physics.config.parse_params`). Errors name the option.

    Example
    -------
    >>> link_params("gys", 50, params=["source.repetition_rate_hz=8e7"]).source.repetition_rate_hz
    80000000.0
    """
    from quaykey.physics.config import apply_overrides, params_from_mapping, parse_params
    from quaykey.physics.params import FREE_SPACE_PRESETS, PRESETS, load_preset

    check_positive(distance_km, "--distance-km", allow_zero=True)
    check_positive(loss_db, "--loss-db", allow_zero=True)
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(sorted(PRESETS))}, got {preset!r}")
    free_space = preset in FREE_SPACE_PRESETS
    if free_space and distance_km is not None:
        raise ValueError(f"--distance-km: preset {preset!r} is a free-space link; give --loss-db")
    if not free_space and loss_db is not None:
        raise ValueError(f"--loss-db: preset {preset!r} is a fibre link; give --distance-km")
    overrides = parse_params(params, flag="--param")
    mapping = None
    if config is not None:
        mapping = read_yaml_file(config, "--config")
        if mapping is not None and not isinstance(mapping, dict):
            raise ValueError(f"--config: {str(config)!r} must hold a mapping of parameters")
    link = load_preset(preset, distance_km=distance_km, loss_db=loss_db)
    if mapping:
        link = params_from_mapping(mapping, link, source="--config")
    return apply_overrides(link, overrides, source="--param")
