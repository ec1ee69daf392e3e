"""`quaykey edi`: validate EDIFACT interchanges, write samples, run the customs decision."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from quaykey.cli._common import console, print_json

app = typer.Typer(
    help="UN/EDIFACT port and customs messages (CUSDEC, CUSRES, BAPLIE, COPRAR, COARRI, CODECO).",
    no_args_is_help=True,
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input: one unwrapped ``error:`` line on stderr (long paths stay whole), exit 2."""
    try:
        yield
    except (ValueError, TypeError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise ValueError(f"FILE {path}: no such file")
    return path.read_bytes()


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(data.decode("latin-1") + "\n")
        return
    if out.parent and not out.parent.is_dir():
        raise ValueError(f"--out {out}: directory {out.parent} does not exist")
    out.write_bytes(data)


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="EDIFACT interchange to check.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check envelope, segment order and identifiers; exit 0 valid, 1 invalid, 2 usage error."""
    from quaykey.logistics.edifact import inspect

    with user_errors():
        report = inspect(_read(file))
    if json_out:
        print_json(report.to_dict())
    else:
        verdict = "valid" if report.ok else f"{len(report.problems)} problem(s)"
        console.print(
            f"{file}: {report.message_type or 'unknown'}, "
            f"{report.segment_count} segments, {verdict}",
            highlight=False,
            markup=False,
        )
        for p in report.problems:
            where = f"segment {p.position} ({p.tag})" if p.position else "interchange"
            console.print(f"  {where}: {p.text} [{p.code}]", highlight=False, markup=False)
    raise typer.Exit(code=0 if report.ok else 1)


@app.command("example")
def example_cmd(
    message_type: Annotated[
        str,
        typer.Argument(metavar="TYPE", help="CUSDEC, CUSRES, BAPLIE, COPRAR, COARRI or CODECO."),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a valid sample interchange of TYPE."""
    from quaykey.logistics.edifact import example

    with user_errors():
        _write(example(message_type), out)


@app.command("decide")
def decide_cmd(
    file: Annotated[Path, typer.Argument(help="CUSDEC interchange to clear.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the CUSRES here.")] = None,
) -> None:
    """Customs decision on a CUSDEC: write the CUSRES (release, hold or reject)."""
    from quaykey.logistics.customs import decide

    with user_errors():
        _write(decide(_read(file)), out)
