"""`quaykey ledger`: verify a trade-record ledger, or write the demo one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quaykey.cli._common import console, print_json, user_errors

app = typer.Typer(
    help="Authenticated trade records: verify or demo a ledger.", no_args_is_help=True
)


@app.command("verify")
def verify(
    path: Annotated[
        Path, typer.Argument(help="A replica file (<name>.sqlite) or a ledger folder.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check hash chain, Merkle tree, signed tree heads and consistency between replicas.

    Exits 0 if the ledger is untouched, 1 naming the first bad entry otherwise.
    """
    from quaykey.logistics.ledger.audit import audit

    with user_errors():
        report = audit(path)
    if json_out:
        print_json(report.as_dict())
    else:
        sizes = ", ".join(f"{n} {s}" for n, s in sorted(report.sizes.items()))
        console.print(f"ledger {report.ledger_id or '?'}: replicas {sizes}; "
                      f"{report.heads_checked} signed heads checked")  # fmt: skip
        for warning in report.warnings:
            console.print(f"warning: {warning}", markup=False)
        first = report.first
        if first is None:
            console.print("OK: every entry, tree head and replica agrees")
        else:
            where = f"entry {first.index}" if first.index is not None else "tree heads"
            console.print(
                f"FAIL: first bad {where} ({first.replica}): {first.problem}", markup=False
            )
            for f in report.findings:
                at = f"entry {f.index}" if f.index is not None else "-"
                console.print(f"  {f.replica:<10} {at:<9} {f.problem}", markup=False)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="New folder for the demo ledger.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a five-party ledger: an eBL issued, endorsed twice and surrendered."""
    from quaykey.logistics.ledger.demo import write_demo

    with user_errors():
        summary = write_demo(out)
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote ledger {summary['ledgerId']}: {summary['entries']} entries, "
            f"{len(summary['participants'])} replicas ({', '.join(summary['participants'])}) "
            f"to {summary['out']}",
            markup=False,
        )
