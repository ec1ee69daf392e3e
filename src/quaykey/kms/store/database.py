"""The KME database: engine and durable write transactions (:class:`Store`); the group
commit that runs them is :mod:`.commit`."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from quaykey.errors import MasterKeyError
from quaykey.kms.store.audit import AuditChain
from quaykey.kms.store.commit import GroupCommit
from quaykey.kms.store.keys import HeldKeys, LinkMaterial
from quaykey.kms.store.rates import RateGrants
from quaykey.kms.store.sealing import CANARY, Sealer
from quaykey.kms.store.tables import meta_t, metadata

__all__ = ["Store"]


def _owner_only_sqlite_file(url: str) -> None:
    """Create the SQLite file with mode 0600 before SQLite does (its WAL and shared-memory
    files then get the same mode); an existing file is narrowed to 0600."""
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    fd = os.open(db, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.info.get("begin_mode", "BEGIN IMMEDIATE")
        conn.exec_driver_sql(mode)


class Store(GroupCommit, AuditChain, LinkMaterial, HeldKeys, RateGrants):
    """Tables and transactions of one KME.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql+psycopg://...``).
    sealer : Sealer
        Seals key material at rest.
    kme_id : str
        Written into every audit record.
    """

    def __init__(self, url: str, sealer: Sealer, kme_id: str) -> None:
        self.url = url
        self.sealer = sealer
        self.kme_id = kme_id
        self.is_sqlite = url.startswith("sqlite")
        self._lock_key = zlib.crc32(kme_id.encode())
        if self.is_sqlite:
            _owner_only_sqlite_file(url)
            self.engine = create_engine(url, poolclass=NullPool if ":memory:" in url else None)
            _sqlite_setup(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self._sql: dict[str, str] = {}
        self._dbapi_error: type[Exception] = self.engine.dialect.dbapi.Error  # type: ignore[union-attr]
        metadata.create_all(self.engine)
        self._init_commit()
        self._check_master_key()
        self._leads: dict[str, Connection] = {}
        self._writer: Connection | None = None  # the group commit's, under the commit lock

    def __repr__(self) -> str:
        return f"Store(kme_id={self.kme_id!r}, backend={'sqlite' if self.is_sqlite else 'sql'})"

    def close(self) -> None:
        """Finish the queued writes, release the database connections (and any lead this
        process held)."""
        self.stop_writer()
        with self._commit_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        for conn in self._leads.values():
            conn.close()
        self._leads.clear()
        self.engine.dispose()

    def raw(self, conn: Connection, sql: str, params: Any = None, *, many: bool = False) -> Any:
        """Run one hot statement on the DBAPI connection of ``conn``'s transaction.

        Skips SQLAlchemy's per-execution work (execution context, result wrapping), which
        costs several times what SQLite takes to run the statement. ``sql`` names its
        parameters ``:name`` (rewritten once to ``%(name)s`` for psycopg). Database errors
        are raised as SQLAlchemy's, like every other statement. Returns the DBAPI cursor.
        """
        q = self._sql.get(sql)
        if q is None:
            q = sql if self.is_sqlite else re.sub(r":(\w+)", r"%(\1)s", sql)
            self._sql[sql] = q
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if many and len(params) == 1:  # psycopg's executemany sets up a pipeline
                cur.execute(q, params[0])
            elif many:
                cur.executemany(q, params)
            else:
                cur.execute(q, params or {})
        except self._dbapi_error as exc:
            raise DBAPIError.instance(q, params, exc, self._dbapi_error) from exc
        return cur

    def try_lead(self, job: str) -> bool:
        """Whether this process runs ``job`` for the KME, among several worker processes.

        On PostgreSQL the first process to ask holds a session advisory lock keyed by the
        KME ID and ``job`` on a connection of its own until :meth:`close` or its death (the
        server ends the session of a killed process, and the next caller takes over; a
        holder whose session was lost asks again). On
        SQLite (one process per KME) the answer is always yes.
        """
        if self.is_sqlite:
            return True
        held = self._leads.get(job)
        if held is not None:
            try:  # a lost session has lost the lock with it
                held.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                held.close()
                del self._leads[job]
        key = zlib.crc32(f"{self.kme_id}|{job}".encode()) | (1 << 40)
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._leads[job] = conn
        return True

    def _check_master_key(self) -> None:
        with self.write() as conn:
            row = conn.execute(select(meta_t.c.value).where(meta_t.c.name == "canary")).first()
            if row is None:
                conn.execute(
                    insert(meta_t).values(name="canary", value=self.sealer.seal("canary", CANARY))
                )
                self.init_audit(conn)
                return
        if self.sealer.open("canary", row[0]) != CANARY:
            raise MasterKeyError("the master key does not open this database")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, serialised per KME, committed (durably) on normal exit.

        SQLite takes the database write lock at ``BEGIN IMMEDIATE``; on PostgreSQL every
        writer locks the KME's audit chain head row before any read (one round trip, and the
        head then stays in memory for the transaction's audit records, see
        :meth:`~quaykey.kms.store.audit.AuditChain.hold_audit_head`).
        """
        with self.engine.connect() as conn, self._write_on(conn) as tx:
            yield tx

    @contextmanager
    def _write_on(self, conn: Connection, pipeline: bool = False) -> Iterator[Connection]:
        if not self.is_sqlite:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        try:
            with conn.begin(), self._pipelined(conn) if pipeline else nullcontext():
                self.hold_audit_head(conn)  # one writer at a time per KME
                yield conn
                head = self.flush_audit_head(conn)
            if head is not None:
                self._head_known = head  # committed
        except BaseException:
            self._head_known = None
            raise
        finally:
            conn.info.pop("audit_head", None)
            conn.info.pop("checks", None)

    @contextmanager
    def _pipelined(self, conn: Connection) -> Iterator[None]:
        """psycopg's pipeline mode: statements are sent without waiting for each answer;
        a fetch or :meth:`sync_pipeline` waits (an error surfaces there, not at execute)."""
        with conn.connection.dbapi_connection.pipeline() as p:  # type: ignore[union-attr]
            conn.info["pipeline"] = p
            try:
                yield
            finally:
                conn.info.pop("pipeline", None)

    def check_at_sync(self, conn: Connection, check: Callable[[], None]) -> None:
        """Run ``check`` (which reads the answer of a statement already sent, and raises to
        refuse) now, or in pipeline mode at :meth:`sync_pipeline`."""
        if conn.info.get("pipeline") is None:
            check()
        else:
            conn.info.setdefault("checks", []).append(check)

    def sync_pipeline(self, conn: Connection) -> None:
        """Wait for the outcome of every statement sent in pipeline mode, then run the
        checks left for it, in order (none: no-op)."""
        p = conn.info.get("pipeline")
        if p is not None:
            p.sync()
        for check in conn.info.pop("checks", ()):
            check()

    @contextmanager
    def _batch_write(self, pipeline: bool = False) -> Iterator[Connection]:
        """A write transaction on the group commit's own connection (under the commit lock):
        no pool checkout and no liveness ping per batch. A connection that saw a database
        error is dropped; the next batch opens a fresh one. ``pipeline`` (PostgreSQL):
        see :meth:`_pipelined`; a database error is raised as SQLAlchemy's."""
        if self._writer is None:
            self._writer = self.engine.connect()
        try:
            with self._write_on(self._writer, pipeline and not self.is_sqlite) as conn:
                yield conn
        except (SQLAlchemyError, self._dbapi_error) as exc:
            self._writer.close()
            self._writer = None
            if isinstance(exc, SQLAlchemyError):
                raise
            raise DBAPIError.instance(None, None, exc, self._dbapi_error) from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin_mode"] = "BEGIN"
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("begin_mode", None)

    def check_writable(self) -> None:
        """Write an audit record and roll it back: raises if the store or the audit log
        cannot take a write (readiness probe; leaves no trace)."""
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
                self.audit(conn, "readiness_probe", _log=False)
            finally:
                tx.rollback()
