"""The KMEs' key stock under link-key shortage, and what the applications do then.

Three KMEs (Shanghai -- Hefei -- Beijing, mTLS) keep a stock for ``sipg-ops`` <->
``customs-hq-beijing`` in both directions. They get a little link key, so the background
refiller runs dry and keeps failing while the applications drain the stock. Checked: each
failed refill is counted and leaves nothing half-stocked (no ``reserved`` or ``voiding``
entry; every ready key at one end is held at the other), no link key is spent at one end
of a link only, ``otp`` messages queue and ``aes`` is refused once key is short (nothing
goes out under a weaker class), and the queue drains in order when link key returns.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quaykey.cli.apps_run import KmeLab, StockPlan
from quaykey.errors import KeyShortageError, KmeClientError, MessageQueuedError
from quaykey.logistics.sdk import SecureChannel, decode_envelope

A, B = "sipg-ops", "customs-hq-beijing"
LINKS = (("shanghai", "hefei"), ("hefei", "beijing"))
BATCH = 16  # keys of 256 bits per refill relay: 512 B of pad + a 32-byte MAC key per hop


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[KmeLab]:
    plan = StockPlan({f"{A}>{B}": 4 * BATCH, f"{B}>{A}": 4 * BATCH}, BATCH, 0.05)
    kmes = KmeLab(tmp_path / "kms", [A, B], [(B, A)], stock=plan)
    yield kmes
    kmes.close()


def _feed(lab: KmeLab, n_bytes: int) -> None:
    """The same fresh bytes at both ends of every link (a stand-in for one QKD block)."""
    for a, b in LINKS:
        block, tag = secrets.token_bytes(n_bytes), secrets.token_hex(4)
        lab.kmes[a].service.deposit_link_key(b, f"{a}-{b}-{tag}", block)
        lab.kmes[b].service.deposit_link_key(a, f"{a}-{b}-{tag}", block)


def _stock(lab: KmeLab, node: str) -> dict[str, Any]:
    rep: dict[str, Any] = lab.pools()[node]["stock"]
    return rep


def _consistent(lab: KmeLab, untouched: bool = False, timeout_s: float = 45.0) -> None:
    """No half-stocked entry, both ends of each stock agree, both ends of each link agree.

    The far end holds every ready key; once keys are served it also holds the slave's
    copies not yet fetched (``untouched``: none served, so exactly the ready ones). The
    refiller keeps trying while the stock is short, so a refill may be in flight at any
    instant (entries reserved, one end's link key spent before the other's): the check
    passes at the first snapshot taken between two refills, and fails if none comes in
    ``timeout_s`` (a partial stock or a one-sided spend that stays).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _check_once(lab, untouched)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _check_once(lab: KmeLab, untouched: bool) -> None:
    pools = lab.pools()
    for node, far in (("shanghai", "beijing"), ("beijing", "shanghai")):
        (pair,) = pools[node]["stock"]["pairs"]
        assert pair["reserved"] == pair["voiding"] == 0, pair
        held = pools[far]["held_keys"].get("ready", 0)
        assert pair["ready"] == held if untouched else pair["ready"] <= held, (pair, held)
    for a, b in LINKS:
        here, there = pools[a]["links"][b], pools[b]["links"][a]
        assert here["sendable_bytes"] == there["receivable_bytes"], (a, b, here, there)
        assert here["receivable_bytes"] == there["sendable_bytes"], (a, b, here, there)


def _wait(cond: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_refills_fail_cleanly_and_the_apps_fail_closed(lab: KmeLab, tmp_path: Path) -> None:
    _feed(lab, 3000)  # 1,500 B each way on each link: two refill relays of 544 B, no third
    for node in ("shanghai", "beijing"):
        _wait(lambda node=node: _stock(lab, node)["pairs"][0]["ready"] == 2 * BATCH)
        failed = _stock(lab, node)["counters"].get("refill_failures", 0)
        _wait(lambda n=node, f=failed: _stock(lab, n)["counters"]["refill_failures"] >= f + 3)
    for node in ("shanghai", "beijing"):
        c = _stock(lab, node)["counters"]
        assert c["refilled_keys"] == 2 * BATCH and c["refills"] == 2, c
        assert _stock(lab, node)["pairs"][0]["ready"] == 2 * BATCH
    _consistent(lab, untouched=True)

    tx = SecureChannel(lab.client(A), B, state=tmp_path / "a.db", sae_id=A)
    rx = SecureChannel(lab.client(B), A, state=tmp_path / "b.db", sae_id=B)
    bodies = [f"decision {i:02d} ".encode() * 16 for i in range(12)]  # 192 B: 7 keys each
    sent, queued = [], []
    for body in bodies:
        try:
            env = tx.send("customs_decision", body)
        except MessageQueuedError:
            queued.append(body)
            continue
        assert decode_envelope(env).protection == "otp"
        assert rx.receive(env) == body
        sent.append(body)
    # 32 stocked keys carry 4 messages; the 412 B left each way on each link carry one
    # on-demand relay of 7 keys (256 B), not two; then every later message queues, in order
    assert sent == bodies[:5] and queued == bodies[5:]
    assert tx.counters["sent.otp"] == 5 and tx.counters["otp_queued"] == 7
    kme = lab.client(A)
    for _ in range(64):  # drain what is left: the stock's last keys, then relays, to a 503
        try:
            kme.get_key(B, number=1, size=256)
        except KmeClientError as exc:
            assert exc.status_code == 503
            break
    else:
        pytest.fail("the KMEs never ran out of key")
    with pytest.raises(KeyShortageError):
        tx.send("edi", b"BAPLIE", protection="aes")  # refused, not sent under anything
    assert tx.counters["sent.aes"] == 0
    assert _stock(lab, "shanghai")["counters"].get("fallbacks", 0) >= 1
    _consistent(lab)  # failed relays spent nothing at one end only

    _feed(lab, 8000)  # link key returns: the refiller restocks, the queue drains in order
    _wait(lambda: _stock(lab, "shanghai")["pairs"][0]["ready"] >= 3 * BATCH)
    out = tx.flush_queue()
    assert [rx.receive(env) for _, env in out] == queued
    assert tx.store.queued(B) == []
    _consistent(lab)
