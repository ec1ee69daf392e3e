"""Run a traffic profile's applications over real KMEs, in scaled time, and count everything.

:class:`AppRunner` takes the profile's message descriptors
(:meth:`~quaykey.logistics.traffic.TrafficProfile.messages`), builds each message's real
body (:mod:`quaykey.logistics.run.payloads`), sends it through a
:class:`~quaykey.logistics.sdk.SecureChannel` of the source SAE and opens it at the
destination SAE's channel, each SAE with its own ``KmeClient`` (ETSI GS QKD 014 over mTLS).
Customs declarations are answered: the receiving customs office runs
:func:`quaykey.logistics.customs.decide` and sends the CUSRES back (the CUSDEC -> CUSRES
round trip is timed). eBL title transfers are also recorded on a ledger whose per-entry
one-time MACs use KME keys (:class:`~quaykey.logistics.sdk.KmeKeySource`).

Time: profile second ``t`` is due at wall time ``t0 + (t - start_s) / speed``. End-to-end
latency is from the start of ``send`` (building the body included) to the receiver's payload;
for queued ``otp`` messages it runs from the first ``send`` (the one that queued) to delivery,
so it includes the wait for key. How far the runner fell behind the schedule (one thread
sends and receives everything) is reported apart, as ``schedule_lag``.

SAE IDs are the profile's site names. The runner does not start KMEs or feed them: the caller
passes one client per site (``quaykey apps run`` wires KMEs and the network simulation).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from quaykey.errors import (
    KeyExhaustedError,
    KeyShortageError,
    MessageQueuedError,
    MessageRejectedError,
    OtpQueueFullError,
)
from quaykey.kms.client import KmeClient
from quaykey.logistics.ledger import Ledger, audit
from quaykey.logistics.run.attacks import ATTACK_KINDS, inject
from quaykey.logistics.run.config import RunConfig, sae_pair
from quaykey.logistics.run.iot import IOT_ATTACK_KINDS, IotLane, iot_report
from quaykey.logistics.run.lanes import Lanes
from quaykey.logistics.run.payloads import PayloadFactory, sdk_type
from quaykey.logistics.run.stats import CountingKeySource, RunStats
from quaykey.logistics.sdk import (
    PROTECTION_CLASSES,
    Policy,
    ReceivedMessage,
    SecureChannel,
    decode_envelope,
)
from quaykey.logistics.sdk.protect import otp_key_bytes
from quaykey.logistics.traffic import MessageDescriptor, TrafficProfile

__all__ = ["IOT_TRANSPORT", "AppRunner", "TelemetryTransport"]

TelemetryTransport = Callable[[str, str, bytes], bytes]
"""``(src, dst, envelope) -> envelope as delivered``: how telemetry travels.

A plain envelope carrier (a test's stand-in, a relay of envelopes). The IoT path proper is
``AppRunner(..., iot_url=...)``: sensors publish sealed frames to an MQTT broker and the
site's gateway forwards them over the SDK (:mod:`quaykey.logistics.run.iot`). With neither
(:data:`IOT_TRANSPORT` is ``None``) telemetry goes directly between the SDK channels.
"""

IOT_TRANSPORT: TelemetryTransport | None = None


def _stronger(a: str, b: str) -> str:
    return a if PROTECTION_CLASSES.index(a) >= PROTECTION_CLASSES.index(b) else b


class AppRunner:
    """The applications of one profile, as SAEs with their own KME clients and state.

    Parameters
    ----------
    profile : TrafficProfile
        Flows, endpoints and cargo mix.
    clients : Mapping[str, KmeClient]
        One ETSI 014 client per site (SAE ID) of the profile's endpoints.
    state_dir : Path
        Channel state (SQLite per SAE and peer) and the ledger's replicas.
    config : RunConfig
        Duration, speed, seed, attacks.
    policy : Policy, optional
        The SDK policy of every channel (default :meth:`Policy.standard`).
    telemetry_transport : TelemetryTransport, optional
        Carries telemetry envelopes built by the runner; default :data:`IOT_TRANSPORT`
        (direct). Ignored for the pairs that ``iot_url`` covers.
    iot_url : str, optional
        MQTT broker (``mqtt://host:port``): telemetry and door events then travel sensor ->
        MQTT -> the source site's IoT gateway (device keys from the site's KME for SAE
        ``<site>-sensors``, which the KME must know) -> SDK -> receiver
        (:class:`~quaykey.logistics.run.iot.IotLane`); :meth:`report` gains ``iot``.
    """

    def __init__(
        self,
        profile: TrafficProfile,
        clients: Mapping[str, KmeClient],
        state_dir: Path,
        config: RunConfig,
        policy: Policy | None = None,
        telemetry_transport: TelemetryTransport | None = IOT_TRANSPORT,
        iot_url: str | None = None,
    ) -> None:
        self.profile, self.config = profile, config
        self.telemetry_transport = telemetry_transport
        self.policy = policy or Policy.standard()
        self.stats = RunStats()
        self.taken_ids: list[str] = []
        self.key_tally: Counter[str] = Counter()
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pairs = {sae_pair(e.src, e.dst) for f in profile.flows for e in f.endpoints}
        sites = sorted({s for p in pairs for s in p})
        missing = [s for s in sites if s not in clients]
        if missing:
            raise ValueError(f"no KME client for site(s) {', '.join(missing)}")
        kem = {s: MLKEM768PrivateKey.generate() for s in sites}
        self.channels: dict[tuple[str, str], SecureChannel] = {}
        for a, b in pairs | {(b, a) for a, b in pairs}:
            self.channels[(a, b)] = SecureChannel(
                clients[a], b, self.policy, state=self.state_dir / f"{a}--{b}.sqlite",
                sae_id=a, mlkem_key=kem[a], peer_mlkem_public=kem[b].public_key(),
                key_source=CountingKeySource(clients[a], self.taken_ids, self.key_tally),
            )  # fmt: skip
        self.payloads = PayloadFactory({c.name: c.hs_codes for c in profile.cargo_classes})
        self._ledger = self._open_ledger(clients, pairs)
        self._pending: dict[tuple[str, str, int], tuple[MessageDescriptor, float]] = {}
        self._last_accepted: dict[tuple[str, str], bytes] = {}
        self._n_sent = 0
        self.flushed = 0
        self._lock = threading.RLock()
        self._ledger_lock = threading.Lock()
        self._lanes: Lanes | None = None
        self.iot_url = iot_url
        self.iot: dict[tuple[str, str], IotLane] = {}
        self._n_iot_attacks = 0
        if iot_url is not None:
            self._open_iot(iot_url, clients)

    def _open_iot(self, url: str, clients: Mapping[str, KmeClient]) -> None:
        """One gateway per pair of sites that carries telemetry, over that pair's channel."""
        flows = [f for f in self.profile.flows if sdk_type(f.message_type) == "telemetry"]
        pairs = sorted({sae_pair(e.src, e.dst) for f in flows for e in f.endpoints})
        try:
            for a, b in pairs:
                keys = CountingKeySource(clients[a], self.taken_ids, self.key_tally)
                self.iot[(a, b)] = IotLane(url, keys, self.channels[(a, b)],
                                           self.state_dir / f"iot-{a}--{b}.sqlite")  # fmt: skip
        except BaseException:
            for lane in self.iot.values():
                lane.close()
            raise

    def _open_ledger(
        self, clients: Mapping[str, KmeClient], pairs: Iterable[tuple[str, str]]
    ) -> Ledger | None:
        ebl = [e for f in self.profile.flows if "eBL" in f.message_type for e in f.endpoints]
        if not ebl:
            return None
        parts = sorted(sae_pair(ebl[0].src, ebl[0].dst))
        keys = {p: CountingKeySource(clients[p], self.taken_ids, self.key_tally) for p in parts}
        ledger_id = f"EBL-RUN-{self.config.seed:06d}"
        return Ledger(self.state_dir / "ledger", ledger_id, keys)

    # ---------------------------------------------------------------- the run

    def run(self, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Send the profile's traffic in scaled time; return :meth:`report`.

        One worker thread per directed pair of sites sends and receives that pair's messages
        in order (a channel refuses out-of-order envelopes); this thread keeps the schedule.
        ``progress`` is called with the profile seconds done so far.

        Raises
        ------
        Exception
            The first error of a worker (after all workers stopped).
        """
        cfg = self.config
        duration_s = cfg.minutes * 60.0
        rng = np.random.default_rng(cfg.seed)
        t0 = time.monotonic()
        self._lanes = lanes = Lanes(list(self.channels), self._handle)
        try:
            next_flush = t0
            for d in self.profile.messages(cfg.start_s, duration_s, rng):
                due = t0 + (d.time_s - cfg.start_s) / cfg.speed
                while (now := time.monotonic()) < due:
                    if now >= next_flush:
                        self._ask_flush()
                        next_flush = now + cfg.flush_interval_s
                    time.sleep(min(due - now, cfg.flush_interval_s))
                src, dst = sae_pair(d.src, d.dst)
                if dst != d.dst:
                    d = dataclasses.replace(d, dst=dst)
                lanes.put((src, dst), ("msg", d, due))
                if progress is not None:
                    progress(d.time_s - cfg.start_s)
            while (left := t0 + duration_s / cfg.speed - time.monotonic()) > 0:
                time.sleep(min(left, cfg.flush_interval_s))
            lanes.drain()
            self._ask_flush()
            lanes.drain()
        except BaseException:
            lanes.cancelled = True  # interrupted: skip what is still queued
            raise
        finally:
            lanes.stop()
            self._lanes = None
        if lanes.errors:
            raise lanes.errors[0]
        if progress is not None:
            progress(duration_s)
        return self.report(time.monotonic() - t0)

    def _handle(self, lane: tuple[str, str], task: tuple[Any, ...]) -> None:
        if task[0] == "msg":
            self._deliver(task[1], task[2])
        elif task[0] == "answer":
            self._answer_cusdec(*task[1:])
        else:
            self._flush_lane(lane)

    def _ask_flush(self) -> None:
        assert self._lanes is not None
        for (a, b), tx in self.channels.items():
            if tx.store.queued(b):
                self._lanes.put((a, b), ("flush",))

    def _deliver(self, d: MessageDescriptor, due: float) -> None:
        msg_type = sdk_type(d.message_type)
        hs = self.payloads.hs_for(d.cargo_class)
        cls = _stronger(self.policy.classify(msg_type, hs), d.protection)
        start = time.monotonic()
        at = dt.datetime.now(dt.UTC)
        with self._lock:
            self.stats.lag_s.append(max(0.0, start - due))
            body = self.payloads.body(d.message_type, d.cargo_class, at)
            self._n_sent += 1
            attack_now = bool(self.config.attack_every) and (
                self._n_sent % self.config.attack_every == 0
            )
            n_attack = self._n_sent // max(1, self.config.attack_every)
        if msg_type == "telemetry" and (d.src, d.dst) in self.iot:
            env = self._send_iot(d, hs, cls, at)
        else:
            reply = _reply_bytes(hs) if d.message_type == "CUSDEC" and cls != "aes" else 0
            env = self._send(d, msg_type, body, hs, cls, start, reply_bytes=reply)
        if env is None:
            return
        got = self._receive(d, env, start)
        received = None if got is None else got.payload
        if got is not None and d.message_type == "CUSDEC":
            answer = ("answer", d, got, hs, start)
            if self._lanes is not None:
                self._lanes.put((d.dst, d.src), answer)
            else:
                self._answer_cusdec(d, got, hs, start)
        if msg_type == "telemetry" and (d.src, d.dst) in self.iot:
            if attack_now:
                self._attack_iot(d, at)
            return
        if received is not None and msg_type == "ebl_transfer" and self._ledger is not None:
            with self._ledger_lock:
                self._ledger.record(d.src, "EBL_TRANSFER", json.loads(received), at)
                self._ledger.gossip(at)
        if attack_now:
            self._attack(d, msg_type, body, n_attack)

    def _send(
        self,
        d: MessageDescriptor,
        msg_type: str,
        body: bytes,
        hs: tuple[str, ...],
        cls: str,
        since: float,
        reply_bytes: int = 0,
        reply_to: ReceivedMessage | None = None,
    ) -> bytes | None:
        tx = self.channels[(d.src, d.dst)]
        try:
            env = tx.send(
                msg_type, body, hs, protection=cls, reply_bytes=reply_bytes, reply_to=reply_to
            )
        except MessageQueuedError as exc:
            with self._lock:
                self.stats.of(d.application, cls).queued += 1
                self._pending[(d.src, d.dst, exc.queue_id)] = (d, since)
            return None
        except (OtpQueueFullError, KeyShortageError):
            with self._lock:
                self.stats.of(d.application, cls).refused += 1
            return None
        with self._lock:
            st = self.stats.of(d.application, cls)
            st.sent += 1
            st.payload_bytes += len(body)
        if msg_type == "telemetry" and self.telemetry_transport is not None:
            env = self.telemetry_transport(d.src, d.dst, env)
        return env

    def _send_iot(
        self, d: MessageDescriptor, hs: tuple[str, ...], cls: str, at: dt.datetime
    ) -> bytes | None:
        """A sensor's frame through MQTT and the gateway; the envelope it forwarded, or None."""
        env = self.iot[(d.src, d.dst)].carry(d.message_type, at, hs)
        if env is None:  # refused by the gateway (e.g. forward_failed: no key) or lost
            with self._lock:
                self.stats.of(d.application, cls).refused += 1
            return None
        with self._lock:
            st = self.stats.of(d.application, decode_envelope(env).protection)
            st.sent += 1
            st.payload_bytes += d.size_bytes
        return env

    def _attack_iot(self, d: MessageDescriptor, at: dt.datetime) -> None:
        """One hostile MQTT frame at the gateway of ``d``'s pair, the kinds in turn."""
        kinds = list(IOT_ATTACK_KINDS)
        with self._lock:
            self._n_iot_attacks += 1
            kind = kinds[(self._n_iot_attacks - 1) % len(kinds)]
        lane = self.iot[(d.src, d.dst)]
        before = lane.counters()
        forwarded = lane.attack(kind, at)
        delta = lane.counters() - before
        with self._lock:
            self.stats.injected[kind] += 1
            if forwarded:
                self.stats.missed[kind] += 1
            for key, n in delta.items():
                if key.startswith("rejected."):
                    self.stats.caught[kind][key.split(".", 1)[1]] += n

    def _receive(self, d: MessageDescriptor, env: bytes, since: float) -> ReceivedMessage | None:
        cls = decode_envelope(env).protection
        try:
            got = self.channels[(d.dst, d.src)].receive_message(env)
        except MessageRejectedError:
            with self._lock:
                self.stats.of(d.application, cls).rejected += 1
            return None
        with self._lock:
            st = self.stats.of(d.application, cls)
            st.received += 1
            st.latencies_s.append(time.monotonic() - since)
            self._last_accepted[(d.src, d.dst)] = env
        return got

    def _answer_cusdec(
        self, d: MessageDescriptor, cusdec: ReceivedMessage, hs: tuple[str, ...], since: float
    ) -> None:
        """Customs decides on ``cusdec`` and sends the CUSRES back (the lane ``dst -> src``),
        on the reply keys the CUSDEC drew for it when they suffice (else on fresh keys)."""
        cusres = self.payloads.cusres(cusdec.payload)
        answer = MessageDescriptor(
            d.time_s, "cusres-answer", d.application, "CUSRES", d.dst, d.src,
            len(cusres), d.cargo_class, d.strategic, "otp",
        )  # fmt: skip
        env = self._send(answer, "customs_decision", cusres, hs, "otp", since, reply_to=cusdec)
        if env is not None and self._receive(answer, env, since) is not None:
            with self._lock:
                self.stats.round_trips_s["CUSDEC->CUSRES"].append(time.monotonic() - since)

    def _attack(self, d: MessageDescriptor, msg_type: str, body: bytes, n: int) -> None:
        kind = ATTACK_KINDS[(n - 1) % len(ATTACK_KINDS)]
        tx, rx = self.channels[(d.src, d.dst)], self.channels[(d.dst, d.src)]
        if tx.store.queued(tx.peer):
            return  # an otp message would join the queue, not reach the receiver
        with self._lock:  # attacks are rare: hold the counters while one runs
            try:
                inject(kind, tx, rx, msg_type, body, self._last_accepted.get((d.src, d.dst)),
                       self.stats)  # fmt: skip
            except KeyExhaustedError:
                self.stats.injected["skipped (key short)"] += 1

    def _flush_lane(self, lane: tuple[str, str]) -> int:
        a, b = lane
        tx = self.channels[lane]
        if not tx.store.queued(b):
            return 0
        n = 0
        for queue_id, env in tx.flush_queue():
            n += 1
            with self._lock:
                self.flushed += 1
                d, since = self._pending.pop((a, b, queue_id), (None, time.monotonic()))
                if d is not None:
                    st = self.stats.of(d.application, "otp")
                    st.sent += 1
                    st.payload_bytes += d.size_bytes
            if d is not None:
                self._receive(d, env, since)
        return n

    def flush(self) -> int:
        """Send queued ``otp`` messages that key now covers; deliver them; return how many.

        For use between runs (during :meth:`run` the workers flush their own lanes).
        """
        return sum(self._flush_lane(lane) for lane in self.channels)

    # ---------------------------------------------------------------- the report

    def queue_state(self) -> dict[str, Any]:
        """``otp`` messages waiting, per sending SAE and peer, and the oldest one's age."""
        per: dict[str, int] = {}
        oldest: float | None = None
        for (a, b), ch in self.channels.items():
            rep = ch.queue_report()
            waiting = rep.per_peer.get(b, 0)
            if waiting:
                per[f"{a}->{b}"] = waiting
                if rep.oldest_age_s is not None:
                    oldest = max(oldest or 0.0, rep.oldest_age_s)
        return {
            "waiting": sum(per.values()),
            "per_pair": per,
            "oldest_age_s": oldest,
            "flushed": self.flushed,
        }

    def report(self, wall_s: float) -> dict[str, Any]:
        """Everything counted so far, JSON-ready (no key material)."""
        out = self.stats.to_dict()
        out["profile"] = self.profile.name
        out["minutes"], out["speed"] = self.config.minutes, self.config.speed
        out["wall_s"] = round(wall_s, 3)
        out["otp_queue"] = self.queue_state()
        out["key_consumed"] = {
            "bytes": self.key_tally["taken_bytes"],
            "keys": self.key_tally["taken_keys"],
            "distinct_key_ids": len(set(self.taken_ids)),
        }
        reasons: Counter[str] = Counter()  # the receivers' own reasons, attacks included
        for ch in self.channels.values():
            reasons.update({k.split(".", 1)[1]: n for k, n in ch.counters.items()
                            if k.startswith("rejected.")})  # fmt: skip
        out["rejected_reasons"] = dict(sorted(reasons.items()))
        out["ledger"] = self.ledger_state()
        if self.iot_url is not None:
            out["iot"] = iot_report(self.iot_url, self.iot)
        return out

    def ledger_state(self) -> dict[str, Any] | None:
        """Height of each replica and the offline ``ledger verify`` result."""
        if self._ledger is None:
            return None
        heights = {n: r.size for n, r in self._ledger.replicas.items()}
        rep = audit(self._ledger.directory)
        return {"height": max(heights.values()), "replicas": heights, "verify_ok": rep.ok}

    def close(self) -> None:
        """Close the IoT gateways, the channels' stores and the ledger."""
        for lane in self.iot.values():
            lane.close()
        for ch in self.channels.values():
            ch.store.close()
        if self._ledger is not None:
            self._ledger.close()


def _reply_bytes(hs_codes: tuple[str, ...]) -> int:
    """Key a CUSDEC draws for its CUSRES (``SecureChannel.send(reply_bytes=...)``).

    ``customs.decide`` answers the run's declarations in 183 B (release) or 313--345 B (a
    hold, for cargo whose HS codes the declaration names: the profile's cargo classes);
    a longer answer takes fresh keys instead.
    """
    return otp_key_bytes(352 if hs_codes else 192)
