"""Command-line interface (typer + rich). One module per command group; no business logic."""
