"""The live orchestrator of ``quaykey up``: ticks, alarms, actions, persistence, events.

:class:`Live` owns the network (:class:`~quaykey.operate.backbone.Backbone`), the satellite
(:class:`~quaykey.operate.satellite.SatelliteView`), the KMEs and their feed
(:class:`~quaykey.operate.kmes.KmeNetwork`), the applications
(:class:`~quaykey.operate.apps.AppsLoop`) and the durable state
(:class:`~quaykey.operate.store.OperateStore`). A thread runs one tick per
``tick_wall_s`` wall seconds; each tick is written to SQLite before its link key is
deposited in the KMEs (the pending blocks), so a restart after a crash resumes where the
last tick ended and deposits exactly the blocks that were pending.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from quaykey.network.presets import load_preset_topology
from quaykey.operate.backbone import Alarm, Backbone
from quaykey.operate.config import UpConfig
from quaykey.operate.metrics import UpMetrics
from quaykey.operate.satellite import SatelliteView
from quaykey.operate.snapshot import build_state
from quaykey.operate.store import OperateStore

__all__ = ["ACTIONS", "Live", "read_or_make_token"]

log = logging.getLogger("quaykey.operate")

ACTIONS = ("cut", "restore", "eavesdrop", "clear", "kill-kme", "restart-kme", "policy")
LATEST = 50
#: Ticks between saves of the links' history (the rest of the state is saved every tick).
HISTORY_EVERY = 10


def read_or_make_token(path: Path) -> str:
    """The operator token in ``path`` (made on first use, mode 0600)."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class Live:
    """Everything ``quaykey up`` runs, behind one lock.

    Build it, :meth:`start` it, read :meth:`snapshot` / :meth:`events_after`, call
    :meth:`apply` for operator actions, :meth:`stop` it.
    """

    def __init__(self, config: UpConfig) -> None:
        self.config = cfg = config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._lockfile = open(cfg.state_dir / "up.lock", "w")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise ValueError(
                f"--state-dir {cfg.state_dir}: another quaykey up is running on it"
            ) from None
        self.token = read_or_make_token(cfg.state_dir / "operator-token")
        self.store = OperateStore(cfg.state_dir / "operate.db")
        self.topology = load_preset_topology(cfg.network)
        self.backbone = Backbone(
            self.topology, cfg.tick_s, cfg.route_pairs, cfg.seed, cfg.pool_capacity_bits
        )
        self.satellite = SatelliteView(self.topology, cfg.start_utc)
        self.metrics = UpMetrics()
        self.alarms: deque[dict[str, Any]] = deque(maxlen=LATEST)
        self.actions: deque[dict[str, Any]] = deque(maxlen=LATEST)
        self.events_seq = 0
        self._events: deque[tuple[int, str, str]] = deque(maxlen=256)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.running = False
        self.kmes: Any = None
        self.apps: Any = None
        self.resumed = self._restore()

    def attach(self) -> None:
        """Start the KMEs and build the applications (per the configuration's plan)."""
        cfg = self.config
        if cfg.kms is None:
            return
        from quaykey.operate.kmes import KmeNetwork

        docs = self.store.load()
        self.kmes = KmeNetwork(cfg, self.metrics, docs.get("feed"))
        if cfg.apps:
            from quaykey.operate.apps import AppsLoop

            self.apps = AppsLoop(cfg, self.kmes, self.metrics, docs.get("apps"))

    # ------------------------------------------------------------------ persistence

    def _restore(self) -> bool:
        docs = self.store.load()
        if "backbone" not in docs:
            return False
        self.backbone.restore(docs["backbone"])
        self.backbone.restore_history(docs.get("history", {}))
        self.alarms.extend(docs.get("alarms", []))
        self.actions.extend(docs.get("actions", []))
        self.events_seq = int(docs.get("events_seq", 0))
        log.info("resumed", extra={"event": "resumed", "t_sim": self.backbone.t_sim,
                                   "tick": self.backbone.tick})  # fmt: skip
        return True

    def _docs(self, history: bool = True) -> dict[str, Any]:
        docs: dict[str, Any] = {
            "backbone": self.backbone.saved(),
            "alarms": list(self.alarms),
            "actions": list(self.actions),
            "events_seq": self.events_seq,
        }
        if history:
            docs["history"] = self.backbone.saved_history()
        if self.kmes is not None:
            docs["feed"] = self.kmes.saved()
        if self.apps is not None:
            docs["apps"] = self.apps.saved()
        return docs

    def saved_doc(self, name: str) -> Any:
        """A state document as last committed (``None`` if never)."""
        return self.store.load().get(name)

    # ------------------------------------------------------------------ the tick

    def tick(self) -> None:
        """One tick: blocks, passes, alarms, routes, the KMEs' link key, persistence."""
        t0 = time.perf_counter()
        with self._lock:
            bb = self.backbone
            sat_key = self.satellite.key_between(bb.t_sim, bb.t_sim + bb.tick_s)
            raised = bb.advance(sat_key)
            pending: list[Any] = []
            if self.kmes is not None:
                pending = self.kmes.plan_tick(bb)
                for sae in self.kmes.update_reach(bb):
                    cut = sae in self.kmes.unreachable
                    msg = (
                        f"site of SAE {sae} {'cut off from' if cut else 'back in reach of'} its KME"
                    )
                    log.warning(msg, extra={"event": "sae_reach", "sae": sae, "reachable": not cut})
            for a in raised:
                self._alarm(a)
            self.events_seq += 1
            history = self.backbone.tick % HISTORY_EVERY == 0
            self.store.save(self._docs(history), pending)
        if self.kmes is not None and pending:
            self.kmes.deposit(pending)
            self.store.clear_pending()
        if self.kmes is not None:
            self.kmes.refresh()
        with self._lock:
            state = self.snapshot()
            self._events.append((self.events_seq, "state", json.dumps(state)))
            self.metrics.update(state, self)
        self.metrics.tick_seconds.observe(time.perf_counter() - t0)

    def _alarm(self, a: Alarm) -> None:
        doc = a.to_dict()
        self.alarms.append(doc)
        self.events_seq += 1
        self._events.append((self.events_seq, "alarm", json.dumps(doc)))
        self.metrics.alarms.labels(kind=a.kind).inc()
        log.warning(a.message, extra={"event": "alarm", "link": a.link, "kind": a.kind,
                                      "t_sim": a.t_sim})  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """The contract's state JSON, serialised now."""
        with self._lock:
            return build_state(self)

    def events_after(self, seq: int) -> list[tuple[int, str, str]]:
        """Events (``(seq, kind, json)``) after ``seq``, oldest first."""
        with self._lock:
            return [e for e in self._events if e[0] > seq]

    # ------------------------------------------------------------------ run

    def start(self) -> None:
        """Resume pending deposits, start the KMEs' feed, the applications and the ticks."""
        if self.kmes is not None:
            left = self.store.pending()
            if left:
                self.kmes.deposit(left)
                self.store.clear_pending()
                log.info("pending link key deposited again",
                         extra={"event": "pending_redone", "blocks": len(left)})  # fmt: skip
        self.running = True
        self.tick()  # the KMEs hold this tick's link key before the applications start
        if self.apps is not None:
            self.apps.start()
        self._thread = threading.Thread(target=self._loop, name="up-ticks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        step = self.config.tick_wall_s
        due = time.monotonic() + step
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self.tick()
            except Exception:
                log.exception("tick failed", extra={"event": "tick_error"})
            due += step
            if due < time.monotonic() - 5 * step:  # far behind: do not try to catch up
                due = time.monotonic()

    def stop(self) -> None:
        """Stop ticking, stop the applications and the KMEs, close the store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.running = False
        if self.apps is not None:
            self.apps.stop()
        with self._lock:
            self.store.save(self._docs())
        if self.kmes is not None:
            self.kmes.close()
        self.store.close()
        self._lockfile.close()
        log.info("stopped", extra={"event": "stopped", "t_sim": self.backbone.t_sim})

    # ------------------------------------------------------------------ actions

    def apply(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        """Apply an operator action (already authenticated and validated); audit it."""
        from quaykey.operate.actions import run_action

        with self._lock:
            t_sim = self.backbone.t_sim
            run_action(self, action, args)
            entry = {"t_sim": t_sim, "action": action, "args": args}
            self.actions.append(entry)
            self.store.audit(time.time(), t_sim, action, args)
            self.store.save(self._docs())
            self.metrics.actions.labels(action=action).inc()
        extra = {"event": "action", "action": action, "action_args": args, "t_sim": t_sim}
        log.info("operator action %s", action, extra=extra)
        return {"ok": True, "action": action, "t_sim": t_sim}
