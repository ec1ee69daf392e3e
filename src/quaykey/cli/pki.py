"""`quaykey pki`: Development PKI for KMEs and SAEs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Development PKI for KMEs and SAEs.", no_args_is_help=True)
