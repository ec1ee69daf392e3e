"""Worker threads, one per lane (a directed pair of sites), each draining its own task queue.

A secure channel refuses envelopes below the highest sequence number it accepted, so the
messages of one direction must be sent and received in order: one thread per lane does both,
while lanes run side by side.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Lanes"]


class Lanes:
    """One worker thread per lane (a directed pair of sites), each with its own task queue."""

    def __init__(
        self,
        lanes: list[tuple[str, str]],
        handle: Callable[[tuple[str, str], tuple[Any, ...]], None],
    ) -> None:
        self._handle = handle
        self.errors: list[BaseException] = []
        self.cancelled = False
        self._queues: dict[tuple[str, str], queue.Queue[tuple[Any, ...] | None]] = {
            lane: queue.Queue() for lane in lanes
        }
        self._threads = [
            threading.Thread(target=self._work, args=(lane,), name=f"lane {lane[0]}->{lane[1]}",
                             daemon=True)
            for lane in lanes
        ]  # fmt: skip
        for t in self._threads:
            t.start()

    def _work(self, lane: tuple[str, str]) -> None:
        q = self._queues[lane]
        while True:
            task = q.get()
            try:
                if task is None:
                    return
                if not (self.errors or self.cancelled):
                    self._handle(lane, task)
            except BaseException as exc:  # reported by AppRunner.run after the workers stop
                self.errors.append(exc)
            finally:
                q.task_done()

    def put(self, lane: tuple[str, str], task: tuple[Any, ...]) -> None:
        """Queue ``task`` on ``lane``."""
        self._queues[lane].put(task)

    def drain(self) -> None:
        """Wait until every queued task is done (tasks may queue tasks on other lanes)."""
        while any(q.unfinished_tasks for q in self._queues.values()):
            for q in self._queues.values():
                q.join()

    def stop(self) -> None:
        """Finish queued tasks and end the workers."""
        for q in self._queues.values():
            q.put(None)
        for t in self._threads:
            t.join()
