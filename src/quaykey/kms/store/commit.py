"""Group commit: one writer thread runs every write transaction of a KME process.

Callers queue a function of the open connection; the writer thread takes everything queued
(up to :attr:`GroupCommit.max_batch`), runs it in one transaction, commits once (the
commit is durable: fsync on SQLite, the WAL flush on PostgreSQL), and only then hands each
caller its result. A thread waits on a :class:`concurrent.futures.Future`
(:meth:`GroupCommit.transact`); a coroutine awaits an asyncio future
(:meth:`GroupCommit.transact_async`), and the writer wakes each event loop once per batch,
not once per request.

Each function runs inside its own savepoint, so one that raises rolls back only its own
changes. Functions marked ``pure`` (their only effects are the statements they run on the
connection, so running one twice is the same as once) are first run together without
savepoints: on PostgreSQL every savepoint is two round trips. If one of them raises, the
whole transaction is rolled back and the batch runs again, a savepoint each. On PostgreSQL
that first run is also pipelined: statements whose answer is not needed (inserts,
deletes) go out without waiting for the server, and the run waits for all of them before
the commit. Where that fails on the database (several worker processes write one chain:
the remembered head is stale), pipelining pauses for a while.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from quaykey.errors import KmsError
from quaykey.kms.store.audit import AuditHeadMovedError

__all__ = ["GroupCommit"]

T = TypeVar("T")
_STOP = object()
#: Batches run without pipelining after a pipelined one failed on the database (see
#: :meth:`GroupCommit._run_optimistic`).
PIPELINE_PAUSE = 1000


class _LoopWaiter:
    """Where an asyncio caller waits: its loop and its future."""

    __slots__ = ("fut", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fut: asyncio.Future[Any] = loop.create_future()


def _resolve(done: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the event loop: hand a committed batch's outcomes to its awaiting coroutines."""
    for fut, ok, value in done:
        if fut.cancelled():
            if ok:
                _wipe(value)
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _wipe(value: Any) -> None:
    """Zero the key buffers in the result of a run that is thrown away."""
    if isinstance(value, bytearray):
        value[:] = bytes(len(value))
    elif isinstance(value, list | tuple):
        for v in value:
            _wipe(v)


Item = tuple[Callable[[Connection], Any], "Future[Any] | _LoopWaiter", bool]


class GroupCommit:
    """The group commit part of :class:`~quaykey.kms.store.Store`."""

    #: The store's write transaction on its own connection (``Store._batch_write``).
    _batch_write: Callable[..., AbstractContextManager[Connection]]
    #: Waits for the statements sent in pipeline mode (``Store.sync_pipeline``).
    sync_pipeline: Callable[[Connection], None]
    is_sqlite: bool
    _dbapi_error: type[Exception]
    #: The store's hot-statement runner (``Store.raw``).
    raw: Callable[..., Any]
    max_batch = 64

    def _init_commit(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._commit_lock = threading.Lock()  # held by whoever runs a batch
        self._submit_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self._pipeline_pause = 0  # batches left to run without pipelining

    def _submit(self, item: Item | object) -> None:
        with self._submit_lock:
            if self._thread is None or self._thread_pid != os.getpid():
                self._thread = threading.Thread(
                    target=self._write_loop, name="kme-commit", daemon=True
                )
                self._thread_pid = os.getpid()
                self._thread.start()
            self._queue.put(item)

    def stop_writer(self) -> None:
        """Let the writer thread finish what is queued, then end it (a later write starts one)."""
        with self._submit_lock:
            thread, self._thread = self._thread, None
            if thread is None or self._thread_pid != os.getpid():
                return
            self._queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join()

    def transact(self, fn: Callable[[Connection], T], *, pure: bool = False) -> T:
        """Run ``fn`` in a durable write transaction, sharing the commit with concurrent callers.

        Returns only after the commit that contains ``fn``'s changes; an ``fn`` that raises
        rolls back only its own changes and the exception is re-raised here; if the commit
        fails, every caller in the batch gets the database error and none of the changes
        persist. ``fn`` must not do network I/O nor start another transaction. ``pure``:
        ``fn`` has no effect outside the connection and may run twice (see the module).
        """
        if threading.current_thread() is self._thread:
            raise KmsError("a write transaction cannot start another one")
        fut: Future[T] = Future()
        self._submit((fn, fut, pure))
        return fut.result()

    async def transact_async(self, fn: Callable[[Connection], T], *, pure: bool = False) -> T:
        """:meth:`transact` for a coroutine: awaits the commit without holding a thread."""
        waiter = _LoopWaiter(asyncio.get_running_loop())
        self._submit((fn, waiter, pure))
        result: T = await waiter.fut
        return result

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._commit_lock:
                self._commit_batch(item)

    def _take(self, first: Any) -> list[Item]:
        batch: list[Item] = [first] if first is not None else []
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:  # finish this batch first; the loop then sees the stop
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _commit_batch(self, first: Any = None) -> None:
        """Run one batch (``first`` and what else is queued) in one transaction and commit it.

        The caller holds ``_commit_lock``."""
        batch = self._take(first)
        if not batch:
            return
        try:
            outcomes = None
            if (len(batch) > 1 or not self.is_sqlite) and all(p for _f, _d, p in batch):
                pipeline = self._pipeline_pause == 0
                self._pipeline_pause = max(0, self._pipeline_pause - 1)
                outcomes = self._run_optimistic(batch, pipeline)
            if outcomes is None:
                outcomes = self._run_savepoints(batch)
        except BaseException as exc:  # the commit failed: none of the changes persist
            outcomes = [(False, exc)] * len(batch)
        self._hand_out(batch, outcomes)

    def _run_optimistic(self, batch: list[Item], pipeline: bool) -> list[tuple[bool, Any]] | None:
        """The batch without savepoints (pipelined on PostgreSQL unless ``pipeline`` is
        off); ``None`` (all rolled back) if a function raised. A batch of one hands a
        non-database error straight to its caller (its transaction rolled back, as it would
        have). A database error or a moved audit head in a pipelined run turns pipelining
        off for :data:`PIPELINE_PAUSE` batches: another process writes this KME's chain (or
        a statement does not suit pipeline mode), and each such batch would run twice."""
        results: list[Any] = []
        fns_done = ran_all = False
        try:
            with self._batch_write(pipeline=pipeline) as conn:
                for fn, _done, _pure in batch:
                    results.append(fn(conn))
                fns_done = True
                self.sync_pipeline(conn)
                ran_all = True
        except Exception as exc:
            if ran_all:  # the head update or the commit failed
                raise
            _wipe(results)
            db_error = isinstance(exc, SQLAlchemyError | self._dbapi_error)
            moved = isinstance(exc, AuditHeadMovedError)
            if pipeline and not self.is_sqlite and (db_error or moved):
                self._pipeline_pause = PIPELINE_PAUSE
            own = not fns_done and not db_error
            if len(batch) == 1 and own:
                return [(False, exc)]
            return None
        return [(True, r) for r in results]

    def _run_savepoints(self, batch: list[Item]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self._batch_write() as conn:
            if len(batch) == 1:
                # alone in the transaction: no savepoint; if fn raises, the transaction
                # rolls back and the caller gets the error
                outcomes.append((True, batch[0][0](conn)))
                return outcomes
            for fn, _done, _pure in batch:
                # savepoints on the DBAPI cursor: SQLAlchemy's nested transactions cost
                # several statements' worth of Python each
                self.raw(conn, "SAVEPOINT kme_fn")
                head = list(conn.info.get("audit_head") or ())
                try:
                    res = fn(conn)
                except Exception as exc:
                    self.raw(conn, "ROLLBACK TO SAVEPOINT kme_fn")
                    self.raw(conn, "RELEASE SAVEPOINT kme_fn")
                    if head:  # the audit records of fn went with its savepoint
                        conn.info["audit_head"][:] = head
                    outcomes.append((False, exc))
                else:
                    self.raw(conn, "RELEASE SAVEPOINT kme_fn")
                    outcomes.append((True, res))
        return outcomes

    def _hand_out(self, batch: list[Item], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_fn, done, _pure), (ok, value) in zip(batch, outcomes, strict=True):
            if isinstance(done, _LoopWaiter):
                by_loop.setdefault(done.loop, []).append((done.fut, ok, value))
            elif ok:
                done.set_result(value)
            else:
                done.set_exception(value)
        for loop, done_list in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, done_list)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                for _fut, ok, value in done_list:
                    if ok:
                        _wipe(value)
