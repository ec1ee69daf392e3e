"""Per-SAE key-rate quota: a sliding 60 s window of granted key bits, in memory.

The window lives in this process. When several worker processes serve one KME
(``kme serve --workers N``), each grant is also counted in the database inside the
delivering transaction (:mod:`quaykey.kms.store.rates`); this window then only refuses
early what the database would refuse anyway (see ``docs/kms.md``).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from quaykey.errors import KmsKeyExhaustedError

__all__ = ["RateWindow"]


class RateWindow:
    """Key bits granted to each master SAE within the last ``window_s`` seconds.

    Parameters
    ----------
    window_s : float
        Length of the sliding window.

    Examples
    --------
    >>> w = RateWindow()
    >>> w.consume("alice", 256, quota_bits=512)
    >>> w.consume("alice", 512, quota_bits=512)
    Traceback (most recent call last):
    ...
    quaykey.errors.KmsKeyExhaustedError: key rate quota reached
    >>> w.refund("alice", 256)
    >>> w.consume("alice", 512, quota_bits=512)
    """

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._grants: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}  # sum of the bits in self._grants[master]

    def consume(self, master: str, bits: int, quota_bits: int) -> None:
        """Grant ``bits`` to ``master`` or raise :class:`KmsKeyExhaustedError` (nothing granted)."""
        now = time.monotonic()
        with self._lock:
            q = self._grants.setdefault(master, deque())
            used = self._used.get(master, 0)
            while q and q[0][0] <= now - self.window_s:
                used -= q.popleft()[1]
            if used + bits > quota_bits:
                self._used[master] = used
                raise KmsKeyExhaustedError(
                    "key rate quota reached",
                    [{"bits_per_minute": quota_bits, "requested_bits": bits}],
                )
            q.append((now, bits))
            self._used[master] = used + bits

    def refund(self, master: str, bits: int) -> None:
        """Take back the latest grant of ``bits`` to ``master`` (a request that failed)."""
        with self._lock:
            q = self._grants.get(master)
            if q:
                for i in range(len(q) - 1, -1, -1):
                    if q[i][1] == bits:
                        del q[i]
                        self._used[master] = self._used.get(master, 0) - bits
                        break
