"""A study on a Dask cluster started as separate processes gives the local cluster's result.

``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; the same exact-fidelity
simulation runs with ``--scheduler`` (that cluster), ``--workers 2`` (a LocalCluster) and
``--workers 1`` (no cluster); the single-fibre cuts study too.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DASK is None, reason="the dask command line is not installed"),
]

#: Three ~20 km hops in a ring and two user spurs, at a reduced pulse rate: exact blocks
#: of 0.5 s that still make key, a few seconds of work in all.
TOPOLOGY = """
name: dask-ring
defaults: {preset: backbone, overrides: {"source.repetition_rate_hz": 2.0e8}}
nodes:
  - {name: a, lat_deg: 0.0, lon_deg: 0.0}
  - {name: b, lat_deg: 0.0, lon_deg: 0.15}
  - {name: c, lat_deg: 0.12, lon_deg: 0.075}
  - {name: u, lat_deg: -0.08, lon_deg: 0.0, kind: user}
  - {name: v, lat_deg: -0.08, lon_deg: 0.15, kind: user}
links:
  - {a: a, b: b}
  - {a: b, b: c}
  - {a: c, b: a}
  - {a: u, b: a}
  - {a: v, b: b}
demands:
  - {src: u, dst: v, key_bits: 256, interval_s: 0.5}
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("QUAYKEY_DASK_SCHEDULER", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes; the scheduler's address."""
    assert DASK is not None
    log = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                env=_env(),
                stdout=(log / "scheduler.out").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", "--no-dashboard",
                     "--host", "127.0.0.1", "--name", f"w{i}"],
                    env=_env(),
                    stdout=(log / f"worker{i}.out").open("w"),
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def _quaykey(tmp: Path, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "quaykey.cli.main", *args, "--json"],
        cwd=tmp,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _result(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("wall_s", "realtime_factor", "tasks")}


def test_a_cluster_of_separate_processes_gives_the_local_result(
    scheduler: str, tmp_path: Path
) -> None:
    (tmp_path / "ring.yaml").write_text(TOPOLOGY, encoding="utf-8")
    run = ["network", "simulate", "--topology", "ring.yaml", "--fidelity", "exact",
           "--hours", str(1.0 / 3600), "--block-s", "0.5", "--seed", "5"]  # fmt: skip
    remote = _quaykey(tmp_path, *run, "--scheduler", scheduler)
    local = _quaykey(tmp_path, *run, "--workers", "2")
    alone = _quaykey(tmp_path, *run)
    assert remote["tasks"]["count"] == 5
    assert _result(remote) == _result(local) == _result(alone)
    assert sum(link["key_bits"] for link in remote["links"]) > 0
    assert remote["routes"][0]["delivered_bits"] > 0
    cuts = ["network", "cuts", "--topology", "ring.yaml"]
    assert _quaykey(tmp_path, *cuts, "--scheduler", scheduler) == _quaykey(tmp_path, *cuts)
