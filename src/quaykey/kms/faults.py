"""Named crash points for crash-safety tests.

A KME started with ``QUAYKEY_KMS_FAULT=<point>`` kills its own process with SIGKILL
when it reaches that point, the way a power cut would. Points: ``after_far_reservation``
(the far KME holds a reservation; nothing confirmed or committed here),
``after_confirm`` (the far KME holds a confirmed key; nothing committed here),
``after_local_commit`` (delivery to the master committed; no response sent),
``before_response`` (the response body is built), ``after_slave_commit`` (a Get key with
key IDs committed; no response sent). Key stock refill (:mod:`quaykey.kms.stock`):
``refill_after_seal`` (link key spent and the stock entries written *reserved* here; nothing
sent), ``refill_after_far_reservation`` (the far KME holds a reservation),
``refill_after_confirm`` (the far KME holds confirmed keys; the entries here are still
reserved).
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "crash_point"]

POINTS = frozenset(
    {
        "after_far_reservation",
        "after_confirm",
        "after_local_commit",
        "before_response",
        "after_slave_commit",
        "refill_after_seal",
        "refill_after_far_reservation",
        "refill_after_confirm",
    }
)


def crash_point(configured: str | None, name: str) -> None:
    """Kill this process with SIGKILL if ``configured`` names ``name``."""
    if configured is not None and configured == name:
        os.kill(os.getpid(), signal.SIGKILL)
