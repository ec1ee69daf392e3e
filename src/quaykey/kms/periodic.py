"""Periodic background passes of a KME (key expiry, stock refills): how their failures are
reported, so that a database outage does not flood the log."""

from __future__ import annotations

import logging
import time

__all__ = ["RepeatedFailure"]

log = logging.getLogger("quaykey.kms")


class RepeatedFailure:
    """How a periodic pass reports failures without flooding the log while, say, the
    database is down: the first failure with its traceback, then one line every
    ``every_s`` seconds while it keeps failing, and one line when it works again."""

    def __init__(self, what: str, every_s: float = 60.0) -> None:
        self.what = what
        self.every_s = every_s
        self.failures = 0
        self._last_line = 0.0

    def failed(self) -> None:
        """Call from the ``except`` block of a failed pass."""
        now = time.monotonic()
        self.failures += 1
        if self.failures == 1:
            log.exception("%s failed", self.what)
            self._last_line = now
        elif now - self._last_line >= self.every_s:
            log.warning("%s still failing (%d passes in a row)", self.what, self.failures)
            self._last_line = now

    def succeeded(self) -> None:
        """Call after a pass that worked."""
        if self.failures:
            log.warning("%s works again after %d failed passes", self.what, self.failures)
        self.failures = 0
