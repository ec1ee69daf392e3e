"""Benchmark: ``quaykey up`` - CPU per wall second and SSE event-to-client latency.

Starts ``quaykey up --port 0 --duration N`` (the defaults: the Beijing-Shanghai backbone with
Micius at 60x, statistical blocks, the hub KMEs over mTLS, the ``shanghai-day``
applications, the dashboard server) on a fresh state directory, subscribes to
``/api/events`` and, after ``--warmup`` seconds of start-up, measures for the rest of the
run:

* CPU seconds per wall second of the whole process (all threads: user + system), from
  psutil when it is installed, else ``/proc/<pid>/stat``;
* the latency from each SSE ``state`` event's ``emitted_unix_ms`` (the server's wall clock
  when it serialised the snapshot) to the moment this client parsed it (same machine, same
  clock): p50, p95, max;
* the simulated seconds per wall second the network reached, and the applications' messages
  delivered per wall second (both from the events).

Not a test; it prints a table (``--json`` for the numbers). Run::

    .venv/bin/python benchmarks/up.py --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _address(out: Path, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in out.read_text().splitlines() if out.exists() else []:
            if line.startswith("dashboard: http://"):
                return line.removeprefix("dashboard: ").partition("/#token=")[0]
        if proc.poll() is not None:
            raise SystemExit("quaykey up exited before printing its address")
        time.sleep(0.2)
    raise SystemExit("quaykey up printed no address")


Sample = tuple[float, float, float, int]


def _listen(url: str, stop: threading.Event, samples: list[Sample]) -> None:
    """Collect ``(received_unix_ms, emitted_unix_ms, t_sim, messages)`` of every SSE ``state``."""
    with httpx.Client(timeout=None) as c, c.stream("GET", f"{url}/api/events") as r:
        event = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "state":
                now = time.time() * 1000.0
                doc = json.loads(line.split(":", 1)[1])
                msgs = sum(doc["apps"]["messages_by_class"].values())
                samples.append((now, float(doc["emitted_unix_ms"]), float(doc["t_sim"]), msgs))


def run(duration_s: float, warmup_s: float, extra: list[str]) -> dict[str, Any]:
    """Run ``quaykey up`` once and measure it."""
    with tempfile.TemporaryDirectory(prefix="bench-up-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        args = [sys.executable, "-m", "quaykey.cli.main", "up", "--port", "0", "--state-dir",
                str(Path(tmp) / "state"), "--duration", str(duration_s), *extra]  # fmt: skip
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(args, stdout=fo, stderr=fe, env=env)
        t_start = time.monotonic()
        url = _address(out, proc)
        started_s = time.monotonic() - t_start
        samples: list[Sample] = []
        stop = threading.Event()
        listener = threading.Thread(target=_listen, args=(url, stop, samples), daemon=True)
        listener.start()
        time.sleep(warmup_s)
        cpu0, wall0, n0 = cpu_seconds(proc.pid), time.monotonic(), len(samples)
        remaining = duration_s - (time.monotonic() - t_start - started_s) - 3.0
        time.sleep(max(remaining, 1.0))
        cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
        window = samples[n0:]
        stop.set()
        proc.wait(120)
    lat = np.array([w[0] - w[1] for w in window]) if window else np.array([np.nan])
    span_s = (window[-1][0] - window[0][0]) / 1000.0 if len(window) > 1 else float("nan")
    sim = (window[-1][2] - window[0][2]) / span_s if window else float("nan")
    msgs = (window[-1][3] - window[0][3]) / span_s if window else float("nan")
    wall = wall1 - wall0
    return {
        "args": extra,
        "startup_s": round(started_s, 1),
        "measured_wall_s": round(wall, 1),
        "cpu_s_per_wall_s": round((cpu1 - cpu0) / wall, 3),
        "sse_events": len(window),
        "sse_latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "max": round(float(np.max(lat)), 1),
        },
        "sim_s_per_wall_s": round(sim, 1),
        "app_messages_per_wall_s": round(msgs, 1),
    }


def main() -> None:
    """Parse the flags, run, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="wall seconds of each run")
    ap.add_argument("--warmup", type=float, default=15.0, help="seconds not measured")
    ap.add_argument(
        "--baseline", action="store_true",
        help="also run --no-kmes (the network and the server alone) for a ratio",
    )  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print JSON")
    a = ap.parse_args()
    if a.duration <= a.warmup + 5:
        raise SystemExit("--duration must exceed --warmup by more than 5 s")
    rows = [run(a.duration, a.warmup, [])]
    if a.baseline:
        rows.append(run(a.duration, a.warmup, ["--no-kmes"]))
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"quaykey up, {os.cpu_count()} CPUs, measured after {a.warmup:.0f} s of warm-up")
    head = ("run", "start s", "CPU s / wall s", "SSE events", "SSE p50 ms", "SSE p95 ms",
            "sim s / wall s", "app msg / wall s")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        name = " ".join(r["args"]) or "defaults"
        print(" | ".join(str(x) for x in (name, r["startup_s"], r["cpu_s_per_wall_s"],
              r["sse_events"], r["sse_latency_ms"]["p50"], r["sse_latency_ms"]["p95"],
              r["sim_s_per_wall_s"], r["app_messages_per_wall_s"])))  # fmt: skip


if __name__ == "__main__":
    main()
