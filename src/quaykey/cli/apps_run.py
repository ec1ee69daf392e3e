"""The wiring behind ``quaykey apps run``: KMEs on loopback, link keys from exact blocks, the run.

This module sits at the edge (it imports the KMS and the network layer); the applications in
:mod:`quaykey.logistics.run` see only their ``KmeClient``s.

* :class:`KmeLab` writes a development PKI, master keys and a KMS network file under a state
  directory and serves one KME per node (uvicorn, HTTPS with mutual TLS, SQLite) on
  127.0.0.1. The sites of the profile are SAEs at the node of :data:`SITE_NODES`.
* :class:`ExactFeeder` makes the link keys: for every QKD link of :func:`chain_topology`
  (Shanghai -- Hefei -- Beijing, 20 km fibre each, the backbone preset at 10 MHz) it runs
  consecutive *exact* blocks through the link-block seam
  (:class:`quaykey.network.links.runner.LinkRunner` over
  :class:`quaykey.network.links.exact.ExactBlock`: sampled photons, real post-processing,
  two keys computed by the two parties) and deposits each end's key in that end's KME
  (:func:`quaykey.kms.feed.link_key_sink`). A KME pair across Shanghai -- Beijing is served by
  the KMEs' own hop-by-hop relay through Hefei.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quaykey.cli._common import check_seed, err_console, print_json
from quaykey.cli.apps_report import render_report
from quaykey.cli.apps_sites import (
    CHAIN,
    SITE_NODES,
    STOCK_KEY_BITS,
    StockPlan,
    chain_for,
    node_of,
    profile_sites,
    stock_plan,
)
from quaykey.kms.feed import link_key_sink
from quaykey.kms.lab import KmeLab as _Lab
from quaykey.logistics.iot import parse_mqtt_url, start_embedded_broker
from quaykey.logistics.run import AppRunner, RunConfig
from quaykey.logistics.traffic import TrafficProfile
from quaykey.network.handoff import key_bytes
from quaykey.network.links.runner import LinkRunner, make_block
from quaykey.network.topology import Topology, topology_from_dict

__all__ = [
    "SITE_NODES",
    "ExactFeeder",
    "KmeLab",
    "StockPlan",
    "chain_for",
    "chain_topology",
    "profile_sites",
    "render_report",
    "run_command",
    "run_profile",
    "stock_plan",
]

_COORDS = {
    "ningbo": (29.868, 121.544),
    "shanghai": (31.23, 121.47),
    "hefei": (31.82, 117.23),
    "beijing": (39.90, 116.40),
}


def chain_topology(
    chain: tuple[str, ...] = CHAIN, length_km: float = 20.0, repetition_rate_hz: float = 1e7
) -> Topology:
    """``chain`` (default Shanghai -- Hefei -- Beijing) as fibre links of ``length_km`` each.

    The links are short stand-ins (the real trunk has 33 hops): what matters here is that
    the key bytes are real post-processed key and that Shanghai -- Beijing needs a relay.
    """
    return topology_from_dict({
        "name": "apps-chain",
        "defaults": {"preset": "backbone",
                     "overrides": {"source.repetition_rate_hz": repetition_rate_hz}},
        "nodes": [{"name": n, "lat_deg": _COORDS[n][0], "lon_deg": _COORDS[n][1]} for n in chain],
        "links": [{"a": a, "b": b, "length_km": length_km} for a, b in itertools.pairwise(chain)],
    })  # fmt: skip


class KmeLab(_Lab):
    """KMEs of :func:`chain_for` the sites on 127.0.0.1 with mTLS, a dev PKI and SQLite.

    ``lab.chain`` is the chain of nodes (give it to :func:`chain_topology`). With ``stock``
    the KMEs keep an end-to-end key stock for its pairs, and serve 256-bit keys only
    (``min_key_size = max_key_size = key_size``), so that every key the SDK asks for is the
    stock's size; without, 64 to 1024 bits. The lab itself is :class:`quaykey.kms.lab.KmeLab`.
    """

    def __init__(
        self,
        root: Path,
        sites: list[str],
        pairs: list[tuple[str, str]],
        stock: StockPlan | None = None,
    ) -> None:
        self.chain = chain = chain_for(sites)
        super().__init__(
            root, chain, itertools.pairwise(chain), {s: node_of(s) for s in sites}, pairs,
            stock=None if stock is None else stock.config(), key_bits=STOCK_KEY_BITS,
            fixed_key_size=stock is not None,
        )  # fmt: skip


class ExactFeeder:
    """Exact link blocks of ``topology`` into the KMEs, in step with the run's scaled time.

    Parameters
    ----------
    topology : Topology
        Its links' ends are KME nodes.
    lab : KmeLab
        The KMEs.
    block_s : float
        Link seconds per block.
    seed : int
        Seed of the blocks' randomness.
    """

    def __init__(self, topology: Topology, lab: KmeLab, block_s: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.block_s = block_s
        self.runners = [
            LinkRunner(link.name, link.params(), make_block("exact"), block_s,
                       np.random.default_rng(rng.integers(2**63)))
            for link in topology.links
        ]  # fmt: skip
        self.ends = {link.name: (link.a, link.b) for link in topology.links}
        self.sink = link_key_sink({n: k.service for n, k in lab.kmes.items()})
        self.link_s = 0.0
        self.compute_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def step(self) -> None:
        """One block on every link; each end's key into its own KME."""
        with self._lock:
            t0 = time.perf_counter()
            for r in self.runners:
                out = r.run_block()
                if out.keys is None:
                    continue
                a, b = self.ends[r.name]
                ka, kb = key_bytes(out.keys[0]), key_bytes(out.keys[1])
                if ka:
                    self.sink(r.name, a, b, f"{r.name}/{r.blocks}", ka)
                    self.sink(r.name, b, a, f"{r.name}/{r.blocks}", kb)
            self.link_s += self.block_s
            self.compute_s += time.perf_counter() - t0

    def prefill(self, link_s: float) -> None:
        """Blocks covering ``link_s`` link seconds, as fast as the machine runs them."""
        for _ in range(int(np.ceil(link_s / self.block_s - 1e-9))):
            self.step()

    def start(self, speed: float) -> None:
        """Run blocks in a thread, one per ``block_s / speed`` wall seconds (or slower)."""

        def loop() -> None:
            next_due = time.monotonic() + self.block_s / speed
            while not self._stop.wait(max(0.0, next_due - time.monotonic())):
                self.step()
                next_due += self.block_s / speed

        self._thread = threading.Thread(target=loop, name="exact-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the block in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def report(self) -> dict[str, Any]:
        """Link seconds run, compute seconds, and bytes deposited per link end."""
        c = self.sink.counters
        per_link: dict[str, int] = {}
        for (link, _node), n in c.deposited_bytes.items():
            per_link[link] = n  # both ends hold the same amount
        return {
            "fidelity": "exact",
            "block_s": self.block_s,
            "link_s": self.link_s,
            "compute_s": round(self.compute_s, 3),
            "delivered_bytes": per_link,
            "rate_bps": {k: round(8 * v / self.link_s, 1) if self.link_s else 0.0
                         for k, v in per_link.items()},
        }  # fmt: skip


def run_profile(
    profile: TrafficProfile,
    config: RunConfig,
    root: Path,
    *,
    block_s: float = 10.0,
    prefill_s: float = 60.0,
    progress: Callable[[float], None] | None = None,
    before: Callable[[AppRunner, KmeLab, ExactFeeder], None] | None = None,
    mqtt_url: str | None = None,
    iot: bool = True,
    stock: bool = True,
) -> dict[str, Any]:
    """Start KMEs under ``root``, prefill and feed them with exact link key, run the profile.

    Parameters
    ----------
    profile, config
        What to run and how (:class:`~quaykey.logistics.run.RunConfig`).
    root
        State directory (PKI, KME databases, channel state, ledger).
    block_s
        Link seconds per exact block.
    prefill_s
        Link seconds of key made before the traffic starts (0: none).
    progress
        Called with profile seconds done.
    before
        Called with the runner, the KMEs and the feeder just before the traffic starts.
    mqtt_url
        Broker for the IoT path (``mqtt://host:port``); default: an embedded amqtt broker on
        a free loopback port, for the run.
    iot
        Carry telemetry sensor -> MQTT -> gateway -> SDK (default); False: directly over SDK.
    stock
        Keep an end-to-end key stock for the remote pairs (:func:`stock_plan`; default).

    Returns
    -------
    dict
        The runner's report (with ``iot``: frames accepted, rejected by reason, dead
        letters) plus ``network`` (the feed), ``kme_pools``, ``link_key``
        (delivered, remaining and used bytes per link) and ``pools_never_negative``.
    """
    if not (np.isfinite(block_s) and block_s > 0):
        raise ValueError(f"--block-s must be > 0, got {block_s!r}")
    if not (np.isfinite(prefill_s) and prefill_s >= 0):
        raise ValueError(f"--prefill-s must be >= 0, got {prefill_s!r}")
    sites, pairs = profile_sites(profile)
    plan = stock_plan(profile, config.speed, prefill_s) if stock else None
    lab = KmeLab(root / "kms", sites, pairs, stock=plan)
    runner: AppRunner | None = None
    feeder: ExactFeeder | None = None
    stack = contextlib.ExitStack()
    try:
        url = None
        if iot:
            url = mqtt_url or stack.enter_context(start_embedded_broker("127.0.0.1", 0))
        feeder = ExactFeeder(chain_topology(lab.chain), lab, block_s, config.seed)
        feeder.prefill(prefill_s)
        clients = {s: lab.client(s) for s in sites}
        runner = AppRunner(profile, clients, root / "apps", config, iot_url=url)
        if before is not None:
            before(runner, lab, feeder)
        feeder.start(config.speed)
        try:
            out = runner.run(progress)
        finally:
            feeder.stop()
        out["network"] = feeder.report()
        out["kme_pools"] = lab.pools()
        out["stock"] = None if plan is None else {
            "refill_batch": plan.refill_batch, "levels": lab.stock(),
        }  # fmt: skip
        out["link_key"] = _link_key(out["network"]["delivered_bytes"], out["kme_pools"])
        out["pools_never_negative"] = all(
            v >= 0 for p in out["kme_pools"].values() for link in p["links"].values()
            for v in link.values()
        )  # fmt: skip
        return out
    finally:
        if feeder is not None:
            feeder.stop()
        if runner is not None:
            runner.close()
        stack.close()
        lab.close()


def _link_key(delivered: dict[str, int], pools: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per link: bytes delivered by the feed, left in the pools (at the first end), used."""
    out = {}
    for link, n in delivered.items():
        a, b = link.split("--")
        left = pools[a]["links"][b]
        remaining = int(left["sendable_bytes"]) + int(left["receivable_bytes"])
        out[link] = {
            "delivered_bytes": n,
            "remaining_bytes": remaining,
            "used_bytes": n - remaining,
        }
    return out


def _start_s(start: str) -> float:
    hh, sep, mm = start.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"--start must be HH:MM (00:00 to 23:59), got {start!r}")
    return int(hh) * 3600.0 + int(mm) * 60.0


def run_command(
    profile: TrafficProfile,
    *,
    minutes: float,
    speed: float,
    start: str,
    seed: int,
    state: Path | None,
    block_s: float,
    prefill_s: float,
    attack_every: int,
    json_out: bool,
    mqtt_url: str | None = None,
    stock: bool = True,
) -> dict[str, Any]:
    """``quaykey apps run``: check the flags, run with a progress bar, print the report."""
    check_seed(seed)
    if attack_every < 0:
        raise ValueError(f"--attack-every must be >= 0, got {attack_every}")
    config = RunConfig(minutes, speed, _start_s(start), seed, attack_every)
    if mqtt_url is not None:
        try:
            parse_mqtt_url(mqtt_url)  # a bad URL is a one-line error before anything starts
        except ValueError:
            msg = f"--mqtt-url must look like mqtt://host:port, got {mqtt_url!r}"
            raise ValueError(msg) from None
    if state is not None and state.exists() and any(state.iterdir()):
        raise ValueError(f"--state {state}: directory is not empty (give a new or empty one)")
    with contextlib.ExitStack() as stack:
        # Each refusal is counted in the report; the SDK's per-envelope warnings would bury it.
        sdk_log = logging.getLogger("quaykey.logistics.sdk")
        stack.callback(sdk_log.setLevel, sdk_log.level)
        sdk_log.setLevel(logging.ERROR)
        root = state or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="apps-run-")))
        if json_out:
            out = run_profile(
                profile,
                config,
                root,
                block_s=block_s,
                prefill_s=prefill_s,
                mqtt_url=mqtt_url,
                stock=stock,
            )
        else:
            with Progress(
                TextColumn("[bold]apps run[/]"), BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} profile s"),
                TimeElapsedColumn(), console=err_console, transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task("run", total=minutes * 60.0)
                out = run_profile(
                    profile, config, root, block_s=block_s, prefill_s=prefill_s,
                    progress=lambda s: bar.update(task, completed=s),
                    mqtt_url=mqtt_url, stock=stock,
                )  # fmt: skip
    if json_out:
        print_json(out)
    else:
        render_report(out)
    return out
