"""The root command: every table entry is listed, loads, and shows its help; imports stay lazy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import COMMANDS, app, load_command

CLI = Path(__file__).resolve().parents[3] / "src" / "quaykey" / "cli"


def test_root_help_lists_every_command_with_its_line() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name, (_, line) in COMMANDS.items():
        assert f" {name} " in result.output
        assert line in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_helps_and_its_table_line_is_its_own_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert f"Usage: quaykey {name}" in result.output
    command = load_command(name)
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[name][1]


def test_a_typo_still_gets_a_suggestion_from_commands_not_yet_loaded() -> None:
    result = CliRunner().invoke(app, ["lnk"])
    assert result.exit_code != 0
    assert "Did you mean 'link'?" in result.output


def test_root_help_imports_no_command_module_nor_heavy_library() -> None:
    code = (
        "import sys\n"
        "from quaykey.cli.main import main\n"
        "try:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('numpy', 'scipy', 'numba', 'fastapi', 'skyfield', 'matplotlib', 'sqlalchemy')\n"
        "mods = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "mods += [m for m in sys.modules if m.startswith('quaykey.cli.')\n"
        "         and m not in ('quaykey.cli.main', 'quaykey.cli._common')]\n"
        "print(sorted(mods))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_main_imports_no_command_module_at_top_level() -> None:
    tree = ast.parse((CLI / "main.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.ImportFrom) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    modules = {p.stem for p in CLI.glob("*.py")} - {"main", "_common", "__init__"}
    assert not modules & set(names)
