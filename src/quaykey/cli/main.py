"""The ``quaykey`` command: registers each command group and owns the one error style.

:func:`main` runs the click command itself (``standalone_mode=False``) so that usage errors
(an unknown option, a value of the wrong type, a missing option) print the same one line
``error: <message>`` on stderr with exit code 2 as every other user error, instead of a
boxed usage message. ``-h``/``--help`` and ``--version`` work on every command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

# typer vendors its own click; its exception classes are the ones raised while parsing
from typer._click import exceptions as click_exc

from quaykey import __version__
from quaykey.cli import apps, demo, edi, examples, kme, ledger, link, network, pki, satellite
from quaykey.cli import network_studies as _network_studies  # noqa: F401 (registers its commands)
from quaykey.cli._common import USER_ERROR_EXIT, print_error

app = typer.Typer(
    name="quaykey",
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


app.add_typer(link.app, name="link")
app.add_typer(network.app, name="network")
app.add_typer(satellite.app, name="satellite")
app.add_typer(pki.app, name="pki")
app.add_typer(kme.app, name="kme")
app.add_typer(apps.app, name="apps")
app.add_typer(ledger.app, name="ledger")
app.add_typer(edi.app, name="edi")
app.command("demo")(demo.demo)
app.command("examples")(examples.examples)


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
