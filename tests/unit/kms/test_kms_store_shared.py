"""State the worker processes of one KME share through the database: the key-rate grants,
the audit chain head held by a write transaction, and the lead of a background job."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from quaykey.errors import KmsKeyExhaustedError
from quaykey.kms.store import Sealer, Store, verify_audit_chain


def _stores(url: str, n: int = 2) -> list[Store]:
    key = secrets.token_bytes(32)
    return [Store(url, Sealer(key), "KME-A") for _ in range(n)]


def test_rate_grants_hold_across_stores_and_roll_back_with_their_transaction(tmp_path: Path):
    s1, s2 = _stores(f"sqlite:///{tmp_path / 'a.db'}")
    now = time.time()
    with s1.write() as c:
        s1.grant_rate(c, "m", 256, 512, now, 60.0)
    with s2.write() as c:  # another process's store sees the first grant
        s2.grant_rate(c, "m", 256, 512, now, 60.0)
    with pytest.raises(KmsKeyExhaustedError), s1.write() as c:
        s1.grant_rate(c, "m", 8, 512, now, 60.0)
    with s2.write() as c:  # another master has its own window
        s2.grant_rate(c, "other", 512, 512, now, 60.0)
    with pytest.raises(RuntimeError), s2.write() as c:
        s2.grant_rate(c, "late", 512, 512, now, 60.0)
        raise RuntimeError("the delivery failed after its grant")
    with s1.write() as c:  # the rolled-back grant is not counted
        s1.grant_rate(c, "late", 512, 512, now, 60.0)
    with s1.write() as c:  # past the window the old grants no longer count, then go
        s1.grant_rate(c, "m", 512, 512, now + 61.0, 60.0)
        assert s1.expire_rate(c, now + 1.0) == 4
    for s in (s1, s2):
        s.close()


@pytest.mark.parametrize("pure", [False, True])
def test_audit_head_held_by_a_batch_chains_records_and_survives_a_failed_member(
    tmp_path: Path, pure: bool
):
    (store,) = _stores(f"sqlite:///{tmp_path / 'a.db'}", 1)
    runs: list[int] = []

    def ok(conn, i: int) -> bytearray:
        runs.append(i)
        store.audit(conn, "event", i=i)
        return bytearray([i])

    def fails(conn) -> None:
        store.audit(conn, "event", i=-1)
        raise ValueError("rolled back with its savepoint")

    from concurrent.futures import Future

    futs: list[Future] = []
    for fn in (lambda c: ok(c, 1), fails, lambda c: ok(c, 2)):
        f: Future = Future()
        store._queue.put((fn, f, pure))
        futs.append(f)
    with store._commit_lock:
        store._commit_batch()  # one transaction, a savepoint each
    assert futs[0].result() == bytearray([1]) and futs[2].result() == bytearray([2])
    with pytest.raises(ValueError):
        futs[1].result()
    # pure functions ran once without savepoints (rolled back when one raised), then again
    assert runs == ([1, 1, 2] if pure else [1, 2])
    store.transact(lambda c: ok(c, 3))
    records = [r for r in store.audit_records() if r.event == "event"]
    verify_audit_chain(store.audit_records())
    assert [r.detail["i"] for r in records] == [1, 2, 3]
    store.close()


def test_pure_batch_commits_once_without_savepoints_and_wakes_each_loop_once(tmp_path: Path):
    import asyncio

    (store,) = _stores(f"sqlite:///{tmp_path / 'a.db'}", 1)
    statements: list[str] = []
    raw = store.raw

    def counting_raw(conn, sql, params=None, **kw):
        statements.append(sql.split()[0])
        return raw(conn, sql, params, **kw)

    store.raw = counting_raw  # type: ignore[method-assign]

    def ok(conn, i: int) -> int:
        store.audit(conn, "event", i=i)
        return i

    async def main() -> list[int]:
        with store._commit_lock:  # hold the writer so that all eight queue into one batch
            tasks = [
                asyncio.ensure_future(store.transact_async(lambda c, i=i: ok(c, i), pure=True))
                for i in range(8)
            ]
            await asyncio.sleep(0.05)
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == list(range(8))
    assert "SAVEPOINT" not in statements
    assert statements.count("UPDATE") == 1  # the audit head: once per batch
    verify_audit_chain(store.audit_records())
    assert [r.detail["i"] for r in store.audit_records() if r.event == "event"] == list(range(8))
    store.close()


@pytest.mark.postgres
def test_one_store_leads_a_job_until_it_closes() -> None:
    url = os.environ.get("QUAYKEY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("QUAYKEY_TEST_POSTGRES_URL not set")
    from sqlalchemy import create_engine, text

    schema = f"qk_lead_{secrets.token_hex(4)}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        s1, s2 = _stores(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
        assert s1.try_lead("stock") and s1.try_lead("stock")
        assert not s2.try_lead("stock")
        assert s2.try_lead("another job")
        s1.close()
        assert s2.try_lead("stock")
        s2.close()
    finally:
        with eng.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()
