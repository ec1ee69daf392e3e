"""The group commit on both backends: a batch of pure functions runs without savepoints
(pipelined on PostgreSQL) and falls back to a savepoint each when one of them raises, so a
database error still fails only its own caller, and an unwritable audit log fails all."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from quaykey.kms.store import Sealer, Store, verify_audit_chain

PG_ENV = "QUAYKEY_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'a.db'}", Sealer(secrets.token_bytes(32)), "KME-A")
        yield s
        s.close()
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set")
    schema = f"qk_gc_{secrets.token_hex(4)}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    s = Store(
        f"{url}{sep}options=-csearch_path%3D{schema}", Sealer(secrets.token_bytes(32)), "KME-A"
    )
    try:
        yield s
    finally:
        s.close()
        with eng.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()


def _one_batch(store: Store, fns: list[Callable[[Any], Any]]) -> list[Any]:
    """Run ``fns`` as pure functions in one batch; each outcome is a result or an exception."""

    async def main() -> list[Any]:
        with store._commit_lock:  # hold the writer so that all of them queue into one batch
            tasks = [asyncio.ensure_future(store.transact_async(fn, pure=True)) for fn in fns]
            await asyncio.sleep(0.05)
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    return asyncio.run(main())


def _events(store: Store) -> list[int]:
    records = store.audit_records()
    verify_audit_chain(records)
    return [r.detail["i"] for r in records if r.event == "event"]


def _ok(store: Store, i: int) -> Callable[[Any], int]:
    def fn(conn: Any) -> int:
        store.audit(conn, "event", i=i)
        return i

    return fn


def test_a_database_error_fails_only_its_own_caller(store: Store) -> None:
    def duplicate(conn: Any) -> None:
        store.audit(conn, "event", i=-1)
        # the canary row exists: a primary key violation, raised in the middle of the batch
        store.raw(
            conn, "INSERT INTO kms_meta (name, value) VALUES (:n, :v)", {"n": "canary", "v": b"x"}
        )
        store.audit(conn, "event", i=-2)

    out = _one_batch(store, [_ok(store, 1), duplicate, _ok(store, 2)])
    assert out[0] == 1 and out[2] == 2
    assert isinstance(out[1], SQLAlchemyError)
    assert _events(store) == [1, 2]
    assert store.transact(_ok(store, 3), pure=True) == 3
    assert _events(store) == [1, 2, 3]


def test_an_unwritable_audit_log_fails_every_caller_and_keeps_nothing(store: Store) -> None:
    store.transact(_ok(store, 0))
    with store.engine.begin() as c:
        if store.is_sqlite:
            c.exec_driver_sql(
                "CREATE TRIGGER audit_down BEFORE INSERT ON kms_audit "
                "BEGIN SELECT RAISE(ABORT, 'audit sink unavailable'); END"
            )
        else:
            c.exec_driver_sql(
                "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit sink unavailable'; END $$ LANGUAGE plpgsql"
            )
            c.exec_driver_sql(
                "CREATE TRIGGER audit_down BEFORE INSERT ON kms_audit "
                "FOR EACH ROW EXECUTE FUNCTION audit_down()"
            )
    out = _one_batch(store, [_ok(store, 1), _ok(store, 2), _ok(store, 3)])
    assert all(isinstance(o, SQLAlchemyError) for o in out), out
    with pytest.raises(SQLAlchemyError):  # a batch of one too
        store.transact(_ok(store, 4), pure=True)
    with store.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER audit_down" + ("" if store.is_sqlite else " ON kms_audit"))
    assert _one_batch(store, [_ok(store, 5), _ok(store, 6)]) == [5, 6]
    assert _events(store) == [0, 5, 6]


def test_two_processes_writing_one_chain_keep_it_whole(store: Store) -> None:
    # a second store on the same database stands for a second worker process: each one's
    # remembered chain head goes stale when the other writes, and must be read again
    other = Store(store.url, store.sealer, "KME-A")
    try:
        for i in range(0, 12, 3):
            assert store.transact(_ok(store, i), pure=True) == i
            assert other.transact(_ok(other, i + 1), pure=True) == i + 1
            assert _one_batch(store, [_ok(store, i + 2)]) == [i + 2]
        assert _events(store) == list(range(12))
        # on PostgreSQL the stale head was found, and pipelining paused rather than every
        # batch running twice
        assert store.is_sqlite or store._pipeline_pause > 0
    finally:
        other.close()
