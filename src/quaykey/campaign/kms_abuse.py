"""KME scenarios: replayed Get key with key IDs, and the audit log's disk filling up.

Both run real KMEs (:class:`~quaykey.kms.lab.KmeLab`: HTTPS with mutual TLS, SQLite) on the
chain ``a -- m -- b`` of :mod:`quaykey.campaign.kms_faults`.

* **Replay at the ETSI level.** The slave SAE asks again for a key it already received
  (Get key with key IDs, the same request byte for byte): ETSI GS QKD 014 serves a key to
  its slave once, so every replay must be refused and no key served twice.
* **Disk full under the audit log.** Each KME's SQLite database (keys and the audit chain)
  lives on a 4 MiB tmpfs; a file fills what is left. While the disk is full, a Get key must
  fail with an error, deliver nothing and leave no half-written state; once space is freed,
  keys flow again and every audit chain verifies. Mounting needs root; without it the
  scenario is reported as skipped, with the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from quaykey.campaign.findings import ScenarioResult
from quaykey.campaign.kms_faults import (
    LINKS,
    NODES,
    SAES,
    _deposit,
    _workdir,
    add_chains,
    add_twice,
    check_chains,
)
from quaykey.errors import KmeClientError
from quaykey.kms.lab import KmeLab

__all__ = ["audit_disk_full", "replay_etsi"]

Progress = Callable[[str], None]


def _lab(root: Path) -> KmeLab:
    return KmeLab(root, NODES, LINKS, SAES, [("alice", "bob")])


def replay_etsi(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """Every key fetched once by the slave, then asked for again."""
    trials = {"short": 10, "full": 500}[size]
    res = ScenarioResult("replay-etsi", "Replay of Get key with key IDs (ETSI GS QKD 014)")
    res.settings = {"nodes": list(NODES), "trials": trials}
    served_twice = refused = 0
    statuses: dict[int, int] = {}
    with _workdir() as root:
        lab = _lab(root)
        try:
            _deposit(lab, "blk")
            alice, bob = lab.client("alice"), lab.client("bob")
            for i in range(trials):
                key_id = alice.get_key("bob").keys[0].key_ID
                bob.get_key_with_key_ids("alice", [key_id])
                try:
                    bob.get_key_with_key_ids("alice", [key_id])
                    served_twice += 1
                except KmeClientError as exc:
                    refused += 1
                    statuses[exc.status_code] = statuses.get(exc.status_code, 0) + 1
                progress(f"replay: {i + 1}/{trials}")
        finally:
            lab.close()
        counts = check_chains(lab)
    res.settings["statuses"] = {str(k): v for k, v in statuses.items()}
    server = sum(v for k, v in statuses.items() if k >= 500)
    res.add(
        "replayed requests that got the key again", served_twice, "0", served_twice == 0, trials
    )
    res.add(
        "replays refused with a 4xx error",
        refused - server,
        f"{trials}",
        refused - server == trials,
        trials,
    )
    add_twice(res, counts, trials, "key IDs delivered twice (audit)")
    return res


def _mount_tmpfs(path: Path, size: str) -> str:
    """Mount a tmpfs of ``size`` at ``path``; return "" or why it could not."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run mount: {exc}"
    return "" if r.returncode == 0 else f"mount refused: {r.stderr.strip() or r.returncode}"


def _fill(path: Path) -> Path:
    """Write zeros to ``path/filler`` until the file system is full."""
    filler = path / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def audit_disk_full(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """Get key while the disk under the KMEs' databases and audit chains is full."""
    trials = {"short": 3, "full": 30}[size]
    res = ScenarioResult("disk-full", "Disk full under the audit log")
    res.settings = {"tmpfs": "4m", "trials": trials}
    with _workdir() as root:
        state = root / "state"
        why = _mount_tmpfs(state, "4m")
        if why:
            res.skipped = why
            return res
        try:
            _disk_full_run(res, root, state, trials, progress)
        finally:
            subprocess.run(["umount", "-l", str(state)], capture_output=True, timeout=20)
    return res


def _disk_full_run(
    res: ScenarioResult, root: Path, state: Path, trials: int, progress: Progress
) -> None:
    lab = _lab(root)
    delivered_full = 0
    statuses: dict[int, int] = {}
    try:
        _deposit(lab, "blk")
        alice, bob = lab.client("alice"), lab.client("bob")
        before = alice.status("bob").stored_key_count
        filler = _fill(state)
        for i in range(trials):
            try:
                alice.get_key("bob")
                delivered_full += 1
            except KmeClientError as exc:
                statuses[exc.status_code] = statuses.get(exc.status_code, 0) + 1
            progress(f"disk full: request {i + 1}/{trials}")
        os.unlink(filler)
        k = alice.get_key("bob").keys[0]
        got = bob.get_key_with_key_ids("alice", [k.key_ID]).keys[0]
        recovered = got.key == k.key
        after = alice.status("bob").stored_key_count
    finally:
        lab.close()
    counts = check_chains(lab)
    res.settings["statuses"] = {str(k): v for k, v in statuses.items()}
    failed = sum(statuses.values())
    res.add(
        "keys delivered while the disk was full", delivered_full, "0", delivered_full == 0, trials
    )
    res.add(
        "requests answered with an error (no hang, no crash)",
        failed,
        f"{trials}",
        failed == trials,
        trials,
    )
    res.add(
        "keys flow again once space is freed (master's key reaches the slave)",
        int(recovered),
        "1",
        recovered,
        1,
    )
    add_chains(res, counts)
    add_twice(res, counts, trials, "key IDs delivered twice")
    res.settings["stored_key_count"] = {"before": before, "after": after}
