"""The port and customs applications of ``quaykey up``, run continuously through the KMEs.

:class:`AppsLoop` runs :class:`~quaykey.logistics.run.AppRunner` in consecutive short
windows of the profile (about :data:`CHUNK_WALL_S` wall seconds each) on one thread, so that
it can stop between windows and a restart continues at the profile time the last run
reached. Each SAE has its own ETSI 014 client at its hub's KME; the clients are wrapped to
time every request and count failures (metrics). The applications run at ``apps_speed``
profile seconds per wall second (default 1: real time), apart from the network's speed: the
``shanghai-day`` port at 60x would be over a thousand messages a second.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey

from quaykey.errors import KmeClientError
from quaykey.kms.client import KmeClient
from quaykey.kms.schemas import Error
from quaykey.logistics.ledger import Ledger
from quaykey.logistics.profiles import load_profile
from quaykey.logistics.run import (
    AppRunner,
    CountingKeySource,
    RunConfig,
    percentiles_ms,
    sae_pair,
    sdk_type,
)
from quaykey.logistics.sdk import PROTECTION_CLASSES
from quaykey.operate.config import UpConfig
from quaykey.operate.kmes import KmeNetwork
from quaykey.operate.metrics import UpMetrics

__all__ = ["CHUNK_WALL_S", "AppsLoop"]

log = logging.getLogger("quaykey.operate.apps")

CHUNK_WALL_S = 5.0
START_S = 9 * 3600.0
LEDGER_CHECK_S = 30.0


class _TimedClient:
    """A KME client whose requests are timed and whose failures are counted."""

    def __init__(
        self, inner: Any, sae: str, node: str, kmes: KmeNetwork, metrics: UpMetrics
    ) -> None:
        self._inner, self._sae, self._node, self._kmes = inner, sae, node, kmes
        self._metrics, self._errors = metrics, kmes.client_errors

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or name == "close" or not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._sae in self._kmes.unreachable:  # its site has no path to the KME
                self._metrics.kme_requests.labels(node=self._node, outcome="unreachable").inc()
                why = f"site of {self._sae} has no route to its KME at {self._node}"
                raise KmeClientError(503, Error(message=why))
            t0 = time.perf_counter()
            outcome = "ok"
            try:
                return attr(*args, **kwargs)
            except Exception:
                outcome = "error"
                self._errors[self._node] = self._errors.get(self._node, 0) + 1
                raise
            finally:
                self._metrics.kme_latency.labels(node=self._node).observe(time.perf_counter() - t0)
                self._metrics.kme_requests.labels(node=self._node, outcome=outcome).inc()

        return timed


def _signing_keys(path: Path, names: list[str]) -> dict[str, MLDSA65PrivateKey]:
    """The ledger participants' ML-DSA-65 keys, kept (as seeds, mode 0600) across restarts."""
    seeds: dict[str, str] = {}
    if path.exists():
        seeds = json.loads(path.read_text(encoding="ascii"))
    if any(n not in seeds for n in names):
        for n in names:
            seeds.setdefault(n, MLDSA65PrivateKey.generate().private_bytes_raw().hex())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(seeds, fh)
        os.replace(tmp, path)
    return {n: MLDSA65PrivateKey.from_seed_bytes(bytes.fromhex(seeds[n])) for n in names}


class _Runner(AppRunner):
    """An :class:`AppRunner` whose ledger keeps its signing keys, so a restart reopens it."""

    def _open_ledger(
        self, clients: Mapping[str, KmeClient], pairs: Iterable[tuple[str, str]]
    ) -> Ledger | None:
        ebl = [e for f in self.profile.flows if "eBL" in f.message_type for e in f.endpoints]
        if not ebl:
            return None
        parts = sorted(sae_pair(ebl[0].src, ebl[0].dst))
        keys = {p: CountingKeySource(clients[p], self.taken_ids, self.key_tally) for p in parts}
        signing = _signing_keys(self.state_dir / "ledger-signing.json", parts)
        ledger_id = f"EBL-RUN-{self.config.seed:06d}"
        return Ledger(self.state_dir / "ledger", ledger_id, keys, signing_keys=signing)


class AppsLoop:
    """The applications, window after window, until stopped."""

    def __init__(
        self,
        config: UpConfig,
        kmes: KmeNetwork,
        metrics: UpMetrics,
        saved: dict[str, Any] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        plan = config.kms
        if plan is None:
            raise ValueError("no KME plan")
        self.config, self.kmes, self.metrics = config, kmes, metrics
        self.profile = load_profile(config.profile)
        self.types = sorted({sdk_type(f.message_type) for f in self.profile.flows})
        clients = {
            s: _TimedClient(kmes.client(s), s, node, kmes, metrics) for s, node in plan.saes.items()
        }
        self.chunk_s = CHUNK_WALL_S * config.apps_speed
        self.base = RunConfig(self.chunk_s / 60.0, config.apps_speed, START_S, config.seed)
        self.runner = _Runner(
            self.profile, cast("Mapping[str, KmeClient]", clients),
            config.state_dir / "apps", self.base,
        )  # fmt: skip
        saved = saved or {}
        self.profile_s = float(saved.get("profile_s", 0.0))
        self.windows = int(saved.get("windows", 0))
        self.offsets: dict[str, Any] = dict(saved.get("totals", {}))
        self.failed_windows = int(saved.get("failed_windows", 0))
        self._clock = clock
        self._rates: deque[tuple[float, int, int]] = deque(maxlen=120)
        self._ledger: tuple[float, dict[str, Any]] = (-1e18, {"height": 0, "verified": True})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ run

    def start(self) -> None:
        """Start the windows on a thread."""
        self._thread = threading.Thread(target=self._loop, name="up-apps", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            start_s = (START_S + self.profile_s) % 86400.0
            self.runner.config = dataclasses.replace(
                self.base, start_s=start_s, seed=self.config.seed * 1_000_003 + self.windows
            )
            try:
                self.runner.run()
            except Exception as exc:  # a KME down, say: count it, wait, go on
                self.failed_windows += 1
                extra = {"event": "apps_window_failed", "window": self.windows}
                log.warning("applications window failed: %s", type(exc).__name__, extra=extra)
                self._stop.wait(1.0)
            self.profile_s += self.chunk_s
            self.windows += 1

    def stop(self) -> None:
        """Stop after the present window; close the channels and the ledger."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.runner.close()

    def set_policy(self, message_type: str, protection: str) -> None:
        """Give ``message_type`` (an SDK message type) the class ``protection``."""
        if message_type not in self.types:
            have = ", ".join(self.types)
            raise ValueError(f"message_type: {message_type!r} is not one of the profile's: {have}")
        if protection not in PROTECTION_CLASSES:
            raise ValueError(f"protection: must be one of {', '.join(PROTECTION_CLASSES)}")
        p = self.runner.policy
        types = dict(p.message_types) | {message_type: protection}
        self.runner.policy = dataclasses.replace(p, message_types=types)

    # ------------------------------------------------------------------ state

    def totals(self) -> dict[str, Any]:
        """Counts since the first start (this run's plus the saved ones)."""
        by_class = {c: 0 for c in PROTECTION_CLASSES}
        rejected = 0
        for (_app, cls), st in list(self.runner.stats.classes.items()):
            by_class[cls] = by_class.get(cls, 0) + st.received
            rejected += st.rejected + st.refused
        off = self.offsets
        clear = len(self.runner.stats.round_trips_s.get("CUSDEC->CUSRES", []))
        return {
            "messages_by_class": {c: n + int(off.get("messages_by_class", {}).get(c, 0))
                                  for c, n in by_class.items()},
            "rejected": rejected + int(off.get("rejected", 0)),
            "clearances": clear + int(off.get("clearances", 0)),
            "key_bytes": int(self.runner.key_tally["taken_bytes"]) + int(off.get("key_bytes", 0)),
        }  # fmt: skip

    def saved(self) -> dict[str, Any]:
        """What persists: the profile time reached and the counts."""
        return {
            "profile_s": self.profile_s,
            "windows": self.windows,
            "failed_windows": self.failed_windows,
            "totals": self.totals(),
        }

    def _ledger_state(self) -> dict[str, Any]:
        now = self._clock()
        if now - self._ledger[0] >= LEDGER_CHECK_S:
            rep = self.runner.ledger_state()
            doc = {"height": 0, "verified": True}
            if rep is not None:
                doc = {"height": int(rep["height"]), "verified": bool(rep["verify_ok"])}
            self._ledger = (now, doc)
        return dict(self._ledger[1])

    def state(self) -> dict[str, Any]:
        """The contract's ``apps`` object."""
        tot = self.totals()
        now = self._clock()
        self._rates.append((now, tot["clearances"], tot["key_bytes"]))
        t0, c0, k0 = self._rates[0]
        dt = now - t0
        per_min = (tot["clearances"] - c0) / (dt * self.config.apps_speed) * 60.0 if dt > 0 else 0.0
        demand = 8.0 * (tot["key_bytes"] - k0) / dt if dt > 0 else 0.0
        lat = percentiles_ms(list(self.runner.stats.round_trips_s.get("CUSDEC->CUSRES", []))[-500:])
        return {
            "clearances_per_min": round(per_min, 3),
            "customs_latency_ms": {"p50": lat.get("p50_ms"), "p99": lat.get("p99_ms")},
            "messages_by_class": tot["messages_by_class"],
            "otp_queued": int(self.runner.queue_state()["waiting"]),
            "rejected": tot["rejected"],
            "dead_lettered": 0,
            "ledger": self._ledger_state(),
            "budget": {"demand_bps": round(demand, 3), "supply_bps": self.kmes.supply_bps()},
        }
