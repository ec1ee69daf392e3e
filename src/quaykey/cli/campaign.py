"""`quaykey campaign`: the reliability campaign (attacks, faults, load) and its report."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from quaykey.cli._common import (
    check_out_path,
    check_seed,
    console,
    err_console,
    print_json,
    user_errors,
)

app = typer.Typer(help="The reliability campaign: attacks, faults and load.", no_args_is_help=True)

#: Where ``--doc`` writes the figures: between these two lines of the Markdown file.
BEGIN, END = "<!-- campaign:begin -->", "<!-- campaign:end -->"


@app.command("run")
def run(
    size: Annotated[
        str, typer.Option("--size", help="short (minutes) or full (make campaign).")
    ] = "short",
    only: Annotated[
        str, typer.Option("--only", help="Comma-separated scenarios (default: all); see --list.")
    ] = "",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every scenario.")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report here.")
    ] = None,
    doc: Annotated[
        Path | None,
        typer.Option(
            "--doc", help="Rewrite the figures between the campaign markers of this Markdown file."
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
) -> None:
    """Run the scenarios; exit 1 if any figure misses what theory or the invariant says."""
    from quaykey.campaign import SCENARIOS, run_campaign

    if list_:
        for name, fn in SCENARIOS.items():
            console.print(f"{name:18} {(fn.__doc__ or '').strip().splitlines()[0]}", markup=False)
        return
    names = [n.strip() for n in only.split(",") if n.strip()]
    command = "quaykey campaign run " + shlex.join(sys.argv[3:] if len(sys.argv) > 3 else [])
    with user_errors():
        check_seed(seed)
        check_out_path(out, "--out", suffix=".json")
        if doc is not None:
            _check_doc(doc)
        # rejections and outages are counted in the findings, not logged line by line
        logging.getLogger("quaykey").setLevel(logging.CRITICAL)
        with err_console.status("campaign") as status:
            report = run_campaign(names, size, seed, command.strip(), status.update)
    payload = report.to_dict()
    if out is not None:
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if doc is not None:
        write_doc(doc, [payload])
    if json_out:
        print_json(payload)
    else:
        console.print(_table(payload))
    raise typer.Exit(0 if report.ok else 1)


def _table(payload: dict[str, Any]) -> Table:
    t = Table(title=f"reliability campaign ({payload['size']}, seed {payload['seed']})")
    for col in ("scenario", "figure", "over", "value", "expected", "held"):
        t.add_column(col, overflow="fold")
    for s in payload["scenarios"]:
        if s["skipped"]:
            t.add_row(s["name"], f"skipped: {s['skipped']}", "", "", "", "-")
        for f in s["findings"]:
            t.add_row(s["name"], f["figure"], str(f["trials"]), _fmt(f["value"]), f["expected"],
                      "yes" if f["ok"] else "NO")  # fmt: skip
    return t


def _fmt(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def markdown(payloads: list[dict[str, Any]]) -> str:
    """The figures of one or more reports as Markdown: a table per scenario, with its command."""
    held = all(p["ok"] for p in payloads)
    lines = [f"Every figure held: {'yes' if held else 'NO'}.", ""]
    for payload in payloads:
        for s in payload["scenarios"]:
            lines.append(f"### {s['title']} (`{s['name']}`)")
            lines.append("")
            lines.append(
                f"`{payload['command']}` (size {payload['size']}, seed {payload['seed']}; "
                f"{s['seconds']} s)"
            )
            lines.append("")
            if s["skipped"]:
                lines += [f"Skipped: {s['skipped']}", ""]
                continue
            lines += ["| figure | over | value | expected | held |", "|---|---:|---:|---|---|"]
            for f in s["findings"]:
                ok = "yes" if f["ok"] else "NO"
                value = _fmt(f["value"])
                lines.append(
                    f"| {f['figure']} | {f['trials']} | {value} | {f['expected']} | {ok} |"
                )
            lines.append("")
    return "\n".join(lines)


def write_doc(doc: Path, payloads: list[dict[str, Any]]) -> None:
    """Replace what lies between the campaign markers of ``doc`` with the reports' tables."""
    text = doc.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1) if END in rest else ("", "\n")
    doc.write_text(f"{head}{BEGIN}\n{markdown(payloads)}\n{END}{tail}", encoding="utf-8")


@app.command("doc")
def doc_command(
    reports: Annotated[list[Path], typer.Argument(help="JSON reports of `campaign run --out`.")],
    doc: Annotated[Path, typer.Option("--doc", help="The Markdown file to rewrite.")] = Path(
        "docs/reliability.md"
    ),
) -> None:
    """Write the figures of saved reports between the campaign markers of a Markdown file."""
    with user_errors():
        payloads = []
        for r in reports:
            try:
                payloads.append(json.loads(r.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise ValueError(f"REPORTS: cannot read {str(r)!r}: {exc}") from None
        _check_doc(doc)
        write_doc(doc, payloads)


def _check_doc(doc: Path) -> None:
    check_out_path(doc, "--doc", suffix=".md")
    if not doc.is_file() or BEGIN not in doc.read_text(encoding="utf-8"):
        raise ValueError(f"--doc: {str(doc)!r} has no {BEGIN} marker to write between")
