"""Several worker processes serving one KME: ``quaykey kme serve --workers N``.

The supervisor (this process) checks the master key and creates the tables once, binds the
listening socket and forks ``N`` workers; each opens its own connections and serves the
same socket with its own uvicorn server. Every worker shares the KME's state through the
database only: key delivery, link key, relay reservations and the key stock were already
serialised by the KME's write lock (a transaction-scoped advisory lock keyed by the KME ID
on PostgreSQL), the key-rate window moves from process memory into the database
(:mod:`quaykey.kms.store.rates`), and one worker at a time refills the key stock
(:meth:`~quaykey.kms.store.Store.try_lead`). A worker that dies is replaced; a worker
whose supervisor dies is killed by the kernel (``PR_SET_PDEATHSIG``), so ``kill -9`` of the
supervisor stops the whole KME.

SQLite is refused: its KME is one process (the write lock would hold across processes,
but a file-based database shared by several servers is not what the embedded default is
for, and the stock refiller's lead needs the server's session locks).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from typing import Any

from quaykey.kms.config import KmeSettings

__all__ = ["check_workers", "serve_workers"]

log = logging.getLogger("quaykey.kms")

_PR_SET_PDEATHSIG = 1


def check_workers(settings: KmeSettings) -> None:
    """Raise :class:`ValueError` naming ``--workers`` unless the count suits the database."""
    if settings.workers > 1 and not settings.database_url.startswith("postgresql"):
        raise ValueError(
            f"--workers {settings.workers}: several worker processes per KME need a "
            f"PostgreSQL database_url; node {settings.node!r} uses SQLite, which serves "
            "one process (leave --workers at 1)"
        )


def _listen(settings: KmeSettings) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the prctl took hold
        os._exit(1)


def _worker(settings: KmeSettings, sock: socket.socket, parent: int, **server: Any) -> None:
    import uvicorn

    from quaykey.kms.app import create_app, server_config

    _die_with_parent(parent)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    app = create_app(settings)
    uvicorn.Server(server_config(app, settings, **server)).run(sockets=[sock])


def serve_workers(settings: KmeSettings, **server: Any) -> None:
    """Serve ``settings.workers`` worker processes until SIGTERM or SIGINT.

    Parameters
    ----------
    settings : KmeSettings
        This node's settings (``workers`` above 1, PostgreSQL).
    **server
        ``log_level`` and ``access_log`` for :func:`~quaykey.kms.app.server_config`.
    """
    from quaykey.kms.service import KmeService

    check_workers(settings)
    KmeService.from_settings(settings).close()  # master key and tables, once
    sock = _listen(settings)
    parent = os.getpid()
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _worker(settings, sock, parent, **server)
                code = 0
            except BaseException:
                log.exception("KME worker failed")
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(settings.workers):
        spawn()
    log.info("KME %s: %d worker processes", settings.kme_id, settings.workers)
    early_deaths = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        log.warning("KME worker %d ended (status %d); starting another", pid, status)
        early_deaths = early_deaths + 1 if time.monotonic() - started < 5 else 0
        if early_deaths >= 5:
            stop(signal.SIGTERM, None)
            continue
        time.sleep(0.2)
        spawn()
    sock.close()
