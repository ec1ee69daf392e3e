"""The ``quaykey`` command: a table of its command groups and the one error style.

Each command group lives in its own module, imported only when that command runs:
``quaykey --help`` (and any one command) does not pay for the numerical, web and plotting
libraries of the others. :data:`COMMANDS` is the table; adding a command is one line there.

:func:`main` runs the click command itself (``standalone_mode=False``) so that usage errors
(an unknown option, a value of the wrong type, a missing option) print the same one line
``error: <message>`` on stderr with exit code 2 as every other user error, instead of a
boxed usage message. ``-h``/``--help`` and ``--version`` work on every command.
"""

# ruff: noqa: E501  (the one-line entries of COMMANDS)
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from difflib import get_close_matches
from typing import Any

import typer

# typer vendors its own click; its exception classes are the ones raised while parsing
from typer._click import Command, Context
from typer._click import exceptions as click_exc
from typer.core import TyperCommand, TyperGroup

from quaykey import __version__
from quaykey.cli._common import USER_ERROR_EXIT, print_error

#: name -> (``module:attribute``, the line ``quaykey --help`` shows). The attribute is a
#: ``typer.Typer`` (a command group) or a function (one command). The line must equal the
#: first line of the group's help (tests/unit/foundation/test_cli_main.py checks
#: it). One line per command, however long, so that additions merge without conflict.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("quaykey.cli.demo:demo", "Draw the link, network and satellite plots on embedded defaults into OUT (live: `up`)."),
    "examples": ("quaykey.cli.examples:examples", "Write the example files the README commands use (my-port.yaml, network.yaml, ...)."),
    "link": ("quaykey.cli.link:app", "Study one QKD link: key rates, simulation, plots, end-to-end runs."),
    "network": ("quaykey.cli.network_studies:app", "Simulate and plan the trusted-relay network."),
    "satellite": ("quaykey.cli.satellite:app", "Micius satellite passes over ground stations."),
    "pki": ("quaykey.cli.pki:app", "Development PKI for KMEs and SAEs."),
    "kme": ("quaykey.cli.kme:app", "Run and inspect Key Management Entities (ETSI GS QKD 014)."),
    "apps": ("quaykey.cli.apps:app", "Port and customs applications."),
    "ledger": ("quaykey.cli.ledger:app", "Authenticated trade records: verify or demo a ledger."),
    "edi": ("quaykey.cli.edi:app", "UN/EDIFACT port and customs messages (CUSDEC, CUSRES, BAPLIE, COPRAR, COARRI, CODECO)."),
    "up": ("quaykey.cli.up:up", "Run the network, the KMEs, the applications and the dashboard live (Ctrl-C stops)."),
    "campaign": ("quaykey.cli.campaign:app", "The reliability campaign: attacks, faults and load."),
}  # fmt: skip


def load_command(name: str) -> Command:
    """Import the module of command ``name`` (a key of :data:`COMMANDS`) and build it."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    target: Any = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)  # built as a subcommand, as if registered here
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _LazyGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS` from the table, imports one when it runs."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        # listing (help, suggestions): a stand-in with the table's line, nothing imported
        line = COMMANDS[cmd_name][1]
        return TyperCommand(cmd_name, help=line, short_help=line)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.add_command(load_command(args[0]), args[0])
        try:
            return super().resolve_command(ctx, args)
        except click_exc.UsageError as exc:  # suggest from the whole table, loaded or not
            matches = get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


app = typer.Typer(
    name="quaykey",
    cls=_LazyGroup,
    help="Simulate, operate and use a trusted-relay QKD network for ports and customs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"quaykey {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Simulate, operate and use a trusted-relay QKD network for ports and customs."""


def _usage_message(exc: click_exc.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx is not None else "quaykey"
    return f"{where}: {exc.format_message()} (see {where} --help)"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``quaykey`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --version on any command (``quaykey link run --version``), like -h/--help
    if "--version" in args[: args.index("--") if "--" in args else len(args)]:
        typer.echo(f"quaykey {__version__}")
        sys.exit(0)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="quaykey", standalone_mode=False)
    except click_exc.NoArgsIsHelpError:
        sys.exit(0)  # the help is already shown
    except click_exc.UsageError as exc:
        print_error(_usage_message(exc))
        sys.exit(USER_ERROR_EXIT)
    except click_exc.ClickException as exc:
        print_error(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except Exception as exc:  # a defect, not a user error: one line unless asked for more
        if os.environ.get("QUAYKEY_TRACEBACK"):
            raise
        print_error(
            f"unexpected {type(exc).__name__}: {exc} (a defect in quaykey; "
            "rerun with QUAYKEY_TRACEBACK=1 for the traceback)"
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
