"""Start ``quaykey up`` on a free port and drive the dashboard in Debian's chromium.

Shared by ``test_dashboard_e2e.py`` and ``benchmarks/dashboard.py``. Playwright drives the
system chromium (``/usr/bin/chromium``); Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("QUAYKEY_CHROMIUM", "/usr/bin/chromium")
URL_LINE = re.compile(r"^dashboard: (http://127\.0\.0\.1:\d+/)(#token=\S+)?\s*$")


def chromium_or_reason() -> tuple[str | None, str]:
    """The chromium binary, installing Debian's package first if it is missing (as root).

    Returns ``(path, "")`` or ``(None, why)``: the caller skips with ``why`` only when the
    browser is missing and could not be installed.
    """
    if not os.access(CHROMIUM, os.X_OK):
        script = ROOT / "scripts" / "ensure-chromium.sh"
        run = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=900, check=False
        )
        if not os.access(CHROMIUM, os.X_OK):
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"chromium is missing at {CHROMIUM} and not installable: {tail[0]}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "the playwright package is not installed (pip install -e '.[dev]')"
    return CHROMIUM, ""


@dataclass
class UpServer:
    """A running ``quaykey up``: its page URL (with the token) and its output so far."""

    proc: subprocess.Popen[str]
    base: str
    token: str
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}#token={self.token}"


def _pump(proc: subprocess.Popen[str], out: queue.Queue[str], keep: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        keep.append(line.rstrip("\n"))
        out.put(line)


@contextmanager
def quaykey_up(
    state_dir: Path,
    *,
    duration_s: float,
    speed: float = 60.0,
    extra: tuple[str, ...] = (),
    start_timeout_s: float = 240.0,
) -> Iterator[UpServer]:
    """Run ``quaykey up --port 0`` as a subprocess; yield once it printed its address."""
    cmd = [
        sys.executable, "-m", "quaykey.cli.main", "up", "--port", "0",
        "--duration", str(duration_s), "--speed", str(speed), "--state-dir", str(state_dir),
        *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )
    lines: list[str] = []
    q: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc, q, lines), daemon=True).start()
    deadline = time.monotonic() + start_timeout_s
    match = None
    try:
        while match is None:
            if proc.poll() is not None and q.empty():
                raise RuntimeError(f"quaykey up exited {proc.returncode}:\n" + "\n".join(lines))
            if time.monotonic() > deadline:
                raise RuntimeError("quaykey up printed no dashboard address:\n" + "\n".join(lines))
            try:
                match = URL_LINE.match(q.get(timeout=0.5).strip())
            except queue.Empty:
                continue
        token = (match.group(2) or "#token=").removeprefix("#token=")
        yield UpServer(proc=proc, base=match.group(1), token=token, lines=lines)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def launch_chromium(p, executable: str):  # type: ignore[no-untyped-def]
    """Headless Debian chromium through Playwright."""
    return p.chromium.launch(executable_path=executable, args=["--no-sandbox"])


def _connected(links: list[dict[str, Any]], src: str, dst: str, without: str) -> bool:
    adj: dict[str, set[str]] = {}
    for link in links:
        if link["id"] == without or link["cut"] or link["kind"] != "fibre":
            continue
        adj.setdefault(link["a"], set()).add(link["b"])
        adj.setdefault(link["b"], set()).add(link["a"])
    seen, todo = {src}, deque([src])
    while todo:
        for nxt in adj.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return dst in seen


def pick_target(state: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A route and a fibre link on its path whose loss leaves another path between its ends."""
    by_pair = {frozenset((lk["a"], lk["b"])): lk for lk in state["links"]}
    for route in state["routes"]:
        if route["status"] != "ok":
            continue
        hops = list(zip(route["path"], route["path"][1:], strict=False))
        on_path = [by_pair.get(frozenset(h)) for h in hops]
        fibre = [lk for lk in on_path if lk is not None and lk["kind"] == "fibre"]
        # middle links first: the ends' access links rarely have an alternative
        fibre.sort(key=lambda lk: abs(on_path.index(lk) - len(on_path) / 2))
        for link in fibre:
            if _connected(state["links"], route["src"], route["dst"], without=link["id"]):
                return route, link["id"]
    raise AssertionError("no route has a link with an alternative path: " + str(state["routes"]))
