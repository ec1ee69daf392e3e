"""``quaykey up`` killed with SIGKILL resumes from its state: nothing lost, nothing repeated.

The first run is killed mid-flight; the second, on the same state directory, must resume the
network's clock, deposit the blocks that were pending and no other twice, keep every KME's
audit chain and store consistent (no key ID delivered twice, both ends of every link-key
block identical in length), reopen the ledger and carry on with the applications.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from up_process import UpProcess

from quaykey.kms.store import AuditRecord, verify_audit_chain
from quaykey.operate.store import OperateStore

pytestmark = pytest.mark.slow


def _audit(db: Path) -> list[AuditRecord]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, ts, kme_id, event, detail, prev_hash, hash FROM kms_audit ORDER BY seq"
        ).fetchall()
    return [AuditRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]


def _saved(state: Path) -> dict[str, Any]:
    store = OperateStore(state / "operate.db")
    try:
        return store.load()
    finally:
        store.close()


def _messages(s: dict[str, Any]) -> int:
    return sum(s["apps"]["messages_by_class"].values())


def test_kill9_and_restart_resume_without_losing_or_repeating_a_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = UpProcess(state, duration_s=300)
    try:
        s1 = first.wait_for(
            lambda s: s["t_sim"] >= 600 and _messages(s) > 20
            and all(k["keys_served"] > 0 for k in s["kmes"] if k["node"] != "hefei"),
            timeout_s=90,
        )  # fmt: skip
    finally:
        first.kill9()
    saved = _saved(state)
    t_saved = saved["backbone"]["t_sim"]
    assert t_saved >= s1["t_sim"]
    messages_saved = sum(saved["apps"]["totals"]["messages_by_class"].values())

    second = UpProcess(state, duration_s=120)
    try:
        assert "(resumed)" in second.out_path.read_text()
        s2 = second.state_json()
        assert s2["t_sim"] >= t_saved + 60  # the clock goes on from the last saved tick
        second.wait_for(lambda s: _messages(s) > messages_saved + 10, timeout_s=60)
        s3 = second.wait_for(lambda s: s["t_sim"] >= s2["t_sim"] + 300, timeout_s=60)
        assert s3["apps"]["ledger"]["verified"] is True
    finally:
        assert second.stop() == 0
    assert any(e.get("event") == "resumed" for e in second.log_events())

    store = OperateStore(state / "operate.db")
    try:
        assert store.pending() == [] and store.audit_ok()
    finally:
        store.close()
    deposited: dict[str, dict[tuple[str, str], int]] = {}
    for node in ("shanghai", "hefei", "beijing"):
        records = _audit(state / "kms" / "state" / f"{node}.db")
        verify_audit_chain(records)
        for event in ("delivered_master", "delivered_slave"):
            ids = Counter(k for r in records if r.event == event for k in r.detail["key_IDs"])
            assert max(ids.values(), default=1) == 1, f"{node}: a key ID {event} twice"
            assert ids or node == "hefei"  # hefei has no SAEs: it only relays
        blocks = Counter(r.detail["block_id"] for r in records if r.event == "link_key_deposited")
        assert max(blocks.values()) == 1
        deposited[node] = {
            (r.detail["peer"], r.detail["block_id"]): r.detail["bytes"]
            for r in records
            if r.event == "link_key_deposited"
        }
    for a, b in (("shanghai", "hefei"), ("hefei", "beijing")):
        at_a = {bid: n for (peer, bid), n in deposited[a].items() if peer == b}
        at_b = {bid: n for (peer, bid), n in deposited[b].items() if peer == a}
        assert at_a == at_b and len(at_a) > 5, f"{a}--{b}: the two ends hold different blocks"
