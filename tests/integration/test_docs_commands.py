"""Every ``quaykey ...`` command shown in README.md and docs/*.md runs as written.

How the commands are found: every line inside a fenced code block (```` ``` ````) of
README.md and docs/*.md that starts with ``quaykey `` or ``.venv/bin/quaykey `` (lines
ending in ``\\`` are joined with the next). Identical commands are run once. Lines of the
same blocks that prepare files for them with a plain file tool (:data:`SETUP_TOOLS`: ``sed``,
``sqlite3``, ...) run too, in order, unjudged (a quoted string may span lines).

How they run: in file order (README first, then docs/*.md by name), from one temporary
folder in which ``quaykey examples`` ran first, through ``bash -c`` exactly as written
(comments, ``> file`` and all); ``quaykey`` and ``.venv/bin/quaykey`` there start this
checkout's ``quaykey.cli.main`` with the running interpreter.

What counts as OK:

- a command that ends within :data:`BUDGET_S` seconds must exit 0, or the code its comment
  announces (``quaykey ledger verify ledger   # exit 1`` after a line that tampers with it);
- a command that starts a server (``kme serve``, written with or without a trailing ``&``)
  or a long run still going after :data:`BUDGET_S` seconds counts as OK if it is *up*:
  still running, with no ``error:`` line and no traceback on stderr so far (its input was
  accepted and the work started). It is then stopped.

The whole test stays under 3 minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Seconds a command may run before it is judged by the "up" rule.
BUDGET_S = 20.0
#: Seconds a server command gets to start (it is judged "up" if still alive then).
SERVER_UP_S = 8.0

_COMMAND = re.compile(r"^\s*(?:\.venv/bin/)?quaykey\s")
#: Non-quaykey lines that prepare files for the commands after them (run, not judged).
SETUP_TOOLS = ("sed ", "sqlite3 ", "printf ", "cp ", "mkdir ", "rm ")
_EXPECT = re.compile(r"#\s*exit (\d+)")


def expected_exit(command: str) -> int:
    """The exit code a doc command's comment announces (``# exit 1``), else 0."""
    m = _EXPECT.search(command)
    return int(m.group(1)) if m else 0


def _join_quoted(lines: list[str], i: int) -> tuple[str, int]:
    """The line at ``i`` joined with the next ones while a double quote is open."""
    text = lines[i].strip()
    while text.count('"') % 2 and i + 1 < len(lines):
        i += 1
        text += "\n" + lines[i]
    return text, i


def doc_commands(paths: list[Path] = DOC_FILES) -> list[tuple[str, str]]:
    """``(where, command)`` for each ``quaykey`` line in a fenced block, joined and deduplicated."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        in_block = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                in_block = not in_block
            elif in_block and line.strip().startswith(SETUP_TOOLS):
                command, i = _join_quoted(lines, i)
                found.append(("setup", command))
            elif in_block and _COMMAND.match(line):
                where = f"{path.relative_to(ROOT)}:{i + 1}"
                command = line.strip()
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1].rstrip() + " " + lines[i].strip()
                key = re.sub(r"^\.venv/bin/", "", command.split(" #")[0].rstrip(" &"))
                key += f" -> {expected_exit(command)}"
                if key not in seen:
                    seen.add(key)
                    found.append((where, command))
            i += 1
    return found


def _is_server(command: str) -> bool:
    return " kme serve " in f" {command} " or command.rstrip().endswith("&")


def _shim(folder: Path) -> dict[str, str]:
    """Put ``quaykey`` and ``.venv/bin/quaykey`` (this checkout) in ``folder``; the env."""
    bindir = folder / ".venv" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / "quaykey"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m quaykey.cli.main "$@"\n')
    script.chmod(0o755)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env.pop("QUAYKEY_TRACEBACK", None)
    return env


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def run_doc_command(command: str, cwd: Path, env: dict[str, str]) -> str | None:
    """Run one command by the rules above; None if OK, else what went wrong."""
    server = _is_server(command)
    text = command.rstrip().removesuffix("&").rstrip()
    proc = subprocess.Popen(
        ["bash", "-c", text],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    limit = SERVER_UP_S if server else BUDGET_S
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        out, err = _stop(proc)
        if "Traceback" in err or re.search(r"^error:", err, re.M):
            return f"failed while running: {err.strip()[-600:]}"
        return None  # up: still running without an error after the budget
    if proc.returncode != expected_exit(command):
        return f"exit {proc.returncode}: {(err or out).strip()[-600:]}"
    return None


def test_doc_commands_are_found() -> None:
    commands = [c for where, c in doc_commands() if where != "setup"]
    assert any(c.startswith("quaykey examples") for c in commands)
    assert any("network plan --topology my-port.yaml" in c for c in commands)
    assert any("pki init" in c for c in commands)
    joined = doc_commands([ROOT / "README.md"])
    assert all("\\" not in c for _, c in joined)  # continuation lines were joined


@pytest.mark.slow
def test_every_doc_command_runs_as_written(tmp_path: Path) -> None:
    env = _shim(tmp_path)
    setup = subprocess.run(
        [sys.executable, "-m", "quaykey.cli.main", "examples"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    failures = []
    timings = []
    for where, command in doc_commands():
        if where == "setup":
            subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, timeout=BUDGET_S)
            continue
        t0 = time.perf_counter()
        problem = run_doc_command(command, tmp_path, env)
        timings.append(f"{time.perf_counter() - t0:5.1f} s  {command}")
        if problem is not None:
            failures.append(f"{where}: {command}\n    {problem}")
    print("\n".join(timings))
    assert not failures, "doc commands that fail as written:\n" + "\n".join(failures)
