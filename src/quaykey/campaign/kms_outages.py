"""KME scenarios: the link key runs out (a fibre cut), and PostgreSQL restarts mid-load.

* **Fibre cut.** The links' key stops arriving: the KMEs hold what was deposited before
  the cut, enough for a known number of relays. Requests beyond it must be refused with a
  named error (503, key exhausted), never half-served, and keys flow again once key arrives
  (the fibre is mended).
* **PostgreSQL restart mid-load.** The three KMEs keep their stores in a PostgreSQL server
  of their own (``initdb`` in a temporary folder, a free port on 127.0.0.1). While a client
  runs Get key / Get key with key IDs pairs, the server is restarted in immediate mode (its
  processes killed, crash recovery on start). Requests during the outage must fail with an
  error, none may be served twice, every key the master received must reach the slave, and
  pairs must succeed again afterwards. Without PostgreSQL's server binaries (Debian package
  ``postgresql``) the scenario is reported as skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from quaykey.campaign.findings import ScenarioResult
from quaykey.campaign.kms_faults import (
    LINKS,
    NODES,
    SAES,
    _workdir,
    add_chains,
    add_twice,
    check_chains,
)
from quaykey.errors import KmeClientError
from quaykey.kms.lab import KmeLab

__all__ = ["link_cut", "postgres_restart"]

Progress = Callable[[str], None]

#: One relay of a 256-bit key costs 64 bytes of each hop's link key (pad and tag).
_RELAY_BYTES = 64


def link_cut(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """The key held at the cut pays for ``n`` more relays: ``n`` served, the rest refused."""
    n = {"short": 8, "full": 200}[size]
    res = ScenarioResult("fibre-cut", "A fibre cut: the link key runs out")
    res.settings = {"nodes": list(NODES), "relays_paid_before_cut": n}
    served = 0
    statuses: dict[int, int] = {}
    with _workdir() as root:
        lab = KmeLab(root, NODES, LINKS, SAES, [("alice", "bob")])
        try:
            alice, bob = lab.client("alice"), lab.client("bob")
            # what one relay costs each link, measured on the first relay
            _deposit(lab, "probe", 4096)
            level = _sendable(lab)
            ids = [alice.get_key("bob").keys[0].key_ID]
            cost = level - _sendable(lab)
            res.settings["link_bytes_per_relay"] = cost
            _deposit(lab, "before-cut", n * cost - _sendable(lab) % cost)
            held = _sendable(lab) // cost
            for i in range(held + n):
                try:
                    ids.append(alice.get_key("bob").keys[0].key_ID)
                    served += 1
                except KmeClientError as exc:
                    statuses[exc.status_code] = statuses.get(exc.status_code, 0) + 1
                progress(f"fibre cut: request {i + 1}/{held + n}")
            reached = sum(1 for k in ids if bob.get_key_with_key_ids("alice", [k]).keys)
            _deposit(lab, "mended", 4 * cost)
            k = alice.get_key("bob").keys[0].key_ID
            mended = bool(bob.get_key_with_key_ids("alice", [k]).keys)
        finally:
            lab.close()
        counts = check_chains(lab)
    refused = statuses.get(503, 0)
    res.settings["statuses"] = {str(k): v for k, v in statuses.items()}
    res.add(
        "requests served from the key held at the cut", served, f"{held}", served == held, held + n
    )
    res.add("requests after the key ran out refused with 503", refused, f"{n}", refused == n, n)
    res.add(
        "served keys that reached the slave", reached, f"{len(ids)}", reached == len(ids), len(ids)
    )
    res.add("keys flow once the fibre is mended", int(mended), "1", mended, 1)
    twice = counts["master_twice"] + counts["slave_twice"] + counts["link_bytes_twice"]
    res.add("key IDs or link-key bytes used twice", twice, "0", twice == 0, held + n)
    return res


def _sendable(lab: KmeLab) -> int:
    """Link-key bytes the master's KME can still send towards the middle node."""
    return int(lab.kmes["a"].service.pools()["links"]["m"]["sendable_bytes"])


def _deposit(lab: KmeLab, block: str, n_bytes: int) -> None:
    for u, v in LINKS:
        material = secrets.token_bytes(n_bytes)
        lab.kmes[u].service.deposit_link_key(v, f"{block}-{u}{v}", material)
        lab.kmes[v].service.deposit_link_key(u, f"{block}-{u}{v}", material)


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return str(Path(found[-1]).parent) if found else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Postgres:
    """A private PostgreSQL server in ``folder`` on a free loopback port."""

    def __init__(self, folder: Path, bin_dir: str) -> None:
        self.folder, self.bin = folder, bin_dir
        self.port = _free_port()
        self.data = folder / "data"

    def _run(self, *args: str) -> None:
        cmd = [f"{self.bin}/{args[0]}", *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # a server started here inherits no pipe of ours (its log is a file), or this would hang
        with (self.folder / "ctl.log").open("ab") as log:
            subprocess.run(
                cmd, check=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=120
            )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "quaykey", "--auth=trust", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-o",
            opts,
            "start",
        )
        for node in NODES:
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "quaykey", f"kme_{node}"
            )

    def url(self, node: str) -> str:
        return f"postgresql+psycopg://quaykey@127.0.0.1:{self.port}/kme_{node}"

    def restart(self) -> None:
        log = str(self.folder / "log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-m", "immediate", "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)  # still up: no leftover


@contextlib.contextmanager
def _postgres(root: Path) -> Iterator[_Postgres | str]:
    bin_dir = _pg_bin()
    if not bin_dir:
        yield "PostgreSQL server binaries not installed (Debian package postgresql)"
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield "the psycopg driver is not installed (pip install 'quaykey[postgres]')"
        return
    folder = root / "pg"
    folder.mkdir()
    if os.geteuid() == 0:  # the server runs as postgres, which must reach its folder
        root.chmod(0o711)
    pg = _Postgres(folder, bin_dir)
    try:
        pg.start()
    except (OSError, subprocess.SubprocessError) as exc:
        pg.stop()
        yield f"could not start a private PostgreSQL server: {exc}"
        return
    try:
        yield pg
    finally:
        pg.stop()


def postgres_restart(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """Get key pairs against KMEs on PostgreSQL while the server restarts (immediate mode)."""
    wall_s = {"short": 12.0, "full": 120.0}[size]
    res = ScenarioResult("postgres-restart", "PostgreSQL restart mid-load")
    res.settings = {"nodes": list(NODES), "wall_s": wall_s, "restart_at_s": wall_s / 3}
    with _workdir() as root, _postgres(root) as pg:
        if isinstance(pg, str):
            res.skipped = pg
            return res
        urls = {n: pg.url(n) for n in NODES}
        lab = KmeLab(root / "kms", NODES, LINKS, SAES, [("alice", "bob")], database_urls=urls)
        try:
            _deposit(lab, "blk", 64 * 4096)
            tally = _load_with_restart(lab, pg, wall_s, progress)
        finally:
            lab.close()
        counts = check_chains(lab)
    res.settings["statuses"] = {str(k): v for k, v in tally.statuses.items()}
    res.settings["restart_s"] = tally.restart_s
    res.settings["last_error"] = tally.last
    res.add("pairs completed", tally.ok, "> 0", tally.ok > 0, tally.tries)
    res.add(
        "pairs completed after the restart", tally.ok_after, "> 0", tally.ok_after > 0, tally.tries
    )
    res.add(
        "keys the master received that the slave could not get (lost)",
        tally.lost,
        "0",
        tally.lost == 0,
        tally.ok + tally.lost,
    )
    add_twice(res, counts, tally.tries, "key IDs delivered twice")
    add_chains(res, counts)
    return res


@dataclass
class _Tally:
    tries: int = 0
    ok: int = 0
    ok_after: int = 0
    lost: int = 0
    restart_s: float = 0.0
    last: str = ""
    statuses: dict[int, int] = field(default_factory=dict)

    def error(self, exc: Exception) -> None:
        code = int(getattr(exc, "status_code", 0))
        self.last = str(exc)
        self.statuses[code] = self.statuses.get(code, 0) + 1


def _load_with_restart(lab: KmeLab, pg: _Postgres, wall_s: float, progress: Progress) -> _Tally:
    alice, bob = lab.client("alice"), lab.client("bob")
    pending: list[str] = []
    tally = _Tally()
    restarted = threading.Event()
    done = [0.0]

    def restart() -> None:
        t = time.monotonic()
        try:
            pg.restart()
        except (OSError, subprocess.SubprocessError) as exc:
            tally.last = f"restart failed: {exc}"
        finally:
            tally.restart_s = round(time.monotonic() - t, 2)
            done[0] = time.monotonic()
            restarted.set()

    t0 = time.monotonic()
    timer = threading.Timer(wall_s / 3, restart)
    timer.start()
    try:
        # run for wall_s, and once the server is back for wall_s / 3 more, or up to 60 s
        # until a pair completes (reconnecting can take a while on a loaded machine)
        while (
            time.monotonic() - t0 < wall_s
            or not restarted.is_set()
            or time.monotonic() - done[0] < wall_s / 3
            or (tally.ok_after == 0 and time.monotonic() - done[0] < 60.0)
        ):
            tally.tries += 1
            after = restarted.is_set()
            try:
                key_id = alice.get_key("bob").keys[0].key_ID
            except (KmeClientError, httpx.TransportError) as exc:
                tally.error(exc)
                time.sleep(0.05)
                continue
            pending.append(key_id)
            try:
                bob.get_key_with_key_ids("alice", [key_id])
            except (KmeClientError, httpx.TransportError) as exc:
                tally.error(exc)
                time.sleep(0.05)
                continue
            pending.remove(key_id)
            tally.ok += 1
            tally.ok_after += after
            progress(f"postgres restart: {time.monotonic() - t0:.0f}/{wall_s:.0f} s")
    finally:
        timer.join()
    # the keys whose slave request failed during the outage: fetched now, exactly once
    for key_id in pending:
        try:
            bob.get_key_with_key_ids("alice", [key_id])
            tally.ok += 1
        except KmeClientError:
            tally.lost += 1
    return tally
