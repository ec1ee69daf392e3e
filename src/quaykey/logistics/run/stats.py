"""Counters and latencies of an application run, per application and protection class."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quaykey.logistics.sdk import KmeKeySource

__all__ = ["ClassStats", "CountingKeySource", "RunStats", "percentiles_ms"]


def percentiles_ms(latencies_s: list[float]) -> dict[str, float | None]:
    """p50 and p99 of ``latencies_s`` in milliseconds (``None`` when empty).

    Examples
    --------
    >>> percentiles_ms([0.001, 0.002, 0.003])
    {'p50_ms': 2.0, 'p99_ms': 2.98}
    """
    if not latencies_s:
        return {"p50_ms": None, "p99_ms": None}
    arr = np.asarray(latencies_s) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
    }


@dataclass
class ClassStats:
    """What happened to the messages of one application under one protection class."""

    sent: int = 0
    received: int = 0
    rejected: int = 0
    queued: int = 0
    refused: int = 0
    payload_bytes: int = 0
    latencies_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Counts and p50/p99 end-to-end latency."""
        return {
            "sent": self.sent,
            "received": self.received,
            "rejected": self.rejected,
            "queued": self.queued,
            "refused": self.refused,
            "payload_bytes": self.payload_bytes,
        } | percentiles_ms(self.latencies_s)


@dataclass
class RunStats:
    """All counters of a run: per (application, class), round trips, injected attacks."""

    classes: dict[tuple[str, str], ClassStats] = field(
        default_factory=lambda: defaultdict(ClassStats)
    )
    round_trips_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    injected: Counter[str] = field(default_factory=Counter)
    caught: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    missed: Counter[str] = field(default_factory=Counter)
    lag_s: list[float] = field(default_factory=list)

    def of(self, application: str, cls: str) -> ClassStats:
        """The stats of ``application`` under class ``cls``."""
        return self.classes[(application, cls)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``applications`` -> class -> counts, ``round_trips``, ``attacks``."""
        apps: dict[str, dict[str, Any]] = {}
        for (app, cls), st in sorted(self.classes.items()):
            apps.setdefault(app, {})[cls] = st.to_dict()
        return {
            "applications": apps,
            "round_trips": {
                name: {"count": len(v)} | percentiles_ms(v)
                for name, v in sorted(self.round_trips_s.items())
            },
            "schedule_lag": percentiles_ms(self.lag_s),
            "attacks": {
                kind: {
                    "injected": n,
                    "rejected": sum(self.caught[kind].values()),
                    "reasons": dict(self.caught[kind]),
                    "accepted": self.missed[kind],
                }
                for kind, n in sorted(self.injected.items())
            },
        }


class CountingKeySource(KmeKeySource):
    """A :class:`KmeKeySource` that counts the key it obtains (IDs and bytes, never keys).

    ``taken_ids`` is shared between the sources of one run, so a test can check that no
    key ID is ever handed out twice.
    """

    def __init__(self, kme: Any, taken_ids: list[str], tally: Counter[str]) -> None:
        super().__init__(kme)
        self.taken_ids = taken_ids
        self.tally = tally

    def take_many(self, peer: str, n_bytes: int) -> tuple[tuple[str, ...], bytes]:
        ids, key = super().take_many(peer, n_bytes)
        self.taken_ids.extend(ids)
        self.tally["taken_bytes"] += len(key)
        self.tally["taken_keys"] += len(ids)
        return ids, key

    def take_parts(self, peer: str, parts: tuple[int, ...]) -> list[tuple[tuple[str, ...], bytes]]:
        out = super().take_parts(peer, parts)  # a request and its answer's keys at once
        for ids, key in out:
            self.taken_ids.extend(ids)
            self.tally["taken_bytes"] += len(key)
            self.tally["taken_keys"] += len(ids)
        return out

    def lookup_parts(
        self, peer: str, parts: list[tuple[tuple[str, ...], int | None]]
    ) -> list[bytes]:
        out = super().lookup_parts(peer, parts)  # lookup_many comes here too
        self.tally["looked_up_bytes"] += sum(map(len, out))
        return out
