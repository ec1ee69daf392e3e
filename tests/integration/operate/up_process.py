"""Run ``quaykey up`` as a subprocess for the tests: start, read its address, stop or kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]

#: The small settings the tests use (the default is the full system: shanghai-day, 60x).
TEST_FLAGS = ["--profile", "ci", "--speed", "60", "--log-json"]


class UpProcess:
    """``python -m quaykey.cli.main up --port 0 --state-dir STATE ...`` with its logs in files."""

    def __init__(self, state: Path, *flags: str, duration_s: float = 120.0) -> None:
        self.state = state
        n = 1
        while (state.parent / f"{state.name}.{n}.stdout").exists():
            n += 1  # each run its own files
        self.out_path = state.parent / f"{state.name}.{n}.stdout"
        self.err_path = state.parent / f"{state.name}.{n}.stderr"
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        args = [sys.executable, "-m", "quaykey.cli.main", "up", "--port", "0", "--state-dir",
                str(state), "--duration", str(duration_s), *TEST_FLAGS, *flags]  # fmt: skip
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=state.parent)
        self.url, self.token = self._address()
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def _address(self, timeout_s: float = 90.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = self.out_path.read_text().splitlines() if self.out_path.exists() else []
            for line in reversed(lines):
                if line.startswith("dashboard: http://"):
                    url, _, token = line.removeprefix("dashboard: ").partition("/#token=")
                    return url, token
            if self.proc.poll() is not None:
                raise AssertionError(f"quaykey up exited: {self.err_path.read_text()[-3000:]}")
            time.sleep(0.3)
        self.proc.kill()
        raise AssertionError("quaykey up printed no dashboard address")

    def state_json(self) -> dict[str, Any]:
        """``GET /api/state``."""
        r = self.http.get("/api/state")
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc

    def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0
    ) -> dict[str, Any]:
        """Poll the state until ``check(state)``; the last state."""
        deadline = time.monotonic() + timeout_s
        while True:
            s = self.state_json()
            if check(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; t_sim={s['t_sim']}")
            time.sleep(0.5)

    def action(self, name: str, body: Any, token: str | None = "") -> httpx.Response:
        """``POST /api/actions/NAME`` (``token=""``: the right one; ``None``: no header)."""
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token}"
        return self.http.post(f"/api/actions/{name}", json=body, headers=headers)

    def stop(self, timeout_s: float = 60.0) -> int:
        """Ctrl-C and wait; the exit code."""
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout_s)

    def kill9(self) -> None:
        """SIGKILL, no clean-up."""
        self.http.close()
        self.proc.kill()
        self.proc.wait(30)

    def logs(self) -> str:
        """Everything it wrote on stdout and stderr."""
        return self.out_path.read_text() + self.err_path.read_text()

    def log_events(self) -> list[dict[str, Any]]:
        """Its JSON log lines."""
        out = []
        for line in self.err_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out
