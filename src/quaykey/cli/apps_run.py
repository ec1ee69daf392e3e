"""The wiring behind ``quaykey apps run``: KMEs on loopback, fed with link key, the run.

This module sits at the edge (it imports the KMS and the network layer); the applications in
:mod:`quaykey.logistics.run` see only their ``KmeClient``s.

* :class:`KmeLab` writes a development PKI, master keys and a KMS network file under a state
  directory and serves one KME per node (uvicorn, HTTPS with mutual TLS, SQLite) on
  127.0.0.1. The sites of the profile are SAEs at the node of :data:`SITE_NODES`.
* The link keys (:mod:`quaykey.cli.apps_feed`): with ``network="chain"`` (the default) the
  :class:`ExactFeeder` runs *exact* blocks on the links of :func:`chain_topology`
  (Shanghai -- Hefei -- Beijing, 20 km fibre each) and a KME pair across Shanghai -- Beijing
  is served by the KMEs' hop-by-hop relay through Hefei. With ``network="beijing-shanghai"``
  there is one KME per node of that preset's route between the profile's two route sites
  (:func:`trunk_route`: 33 hops from the Shanghai port to Beijing customs), fed by a
  :class:`LinkFeeder` of *statistical* blocks on the route's real links.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from quaykey.cli._common import check_seed, err_console, print_json
from quaykey.cli.apps_feed import ExactFeeder, LinkFeeder, chain_topology, trunk_route
from quaykey.cli.apps_report import render_report
from quaykey.cli.apps_sites import (
    LINK_KEY_BPS,
    SITE_NODES,
    STOCK_KEY_BITS,
    StockPlan,
    chain_for,
    node_of,
    profile_sites,
    stock_plan,
    use_chain,
)
from quaykey.kms.lab import KmeLab as _Lab
from quaykey.logistics.iot import parse_mqtt_url, start_embedded_broker
from quaykey.logistics.run import AppRunner, RunConfig
from quaykey.logistics.traffic import TrafficProfile

#: What ``apps run --network`` accepts: the stand-in chain or a preset's route.
NETWORKS = ("chain", "beijing-shanghai")

__all__ = [
    "NETWORKS",
    "SITE_NODES",
    "ExactFeeder",
    "KmeLab",
    "LinkFeeder",
    "StockPlan",
    "chain_for",
    "chain_topology",
    "profile_sites",
    "render_report",
    "run_command",
    "run_profile",
    "stock_plan",
    "trunk_route",
]


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


def run_profile(
    profile: TrafficProfile,
    config: RunConfig,
    root: Path,
    *,
    block_s: float = 10.0,
    prefill_s: float = 60.0,
    progress: Callable[[float], None] | None = None,
    before: Callable[[AppRunner, KmeLab, LinkFeeder], None] | None = None,
    mqtt_url: str | None = None,
    iot: bool = True,
    stock: bool = True,
    network: str = "chain",
) -> dict[str, Any]:
    """Start KMEs under ``root``, prefill and feed them with link key, run the profile.

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
    network
        ``chain`` (default): the three-KME stand-in chain, 20 km links, exact blocks.
        ``beijing-shanghai``: one KME per node of that preset's route between the profile's
        ``default_route`` sites (:func:`trunk_route`, 33 hops for Shanghai port <-> Beijing
        customs), its links with their real lengths, fed by statistical blocks.

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
    if network not in NETWORKS:
        raise ValueError(f"--network must be one of {', '.join(NETWORKS)}, got {network!r}")
    sites, pairs = profile_sites(profile)
    stack = contextlib.ExitStack()
    route: dict[str, Any] | None = None
    link_bps = LINK_KEY_BPS
    if network != "chain":
        topo, route = trunk_route(*profile.default_route, network)
        stack.enter_context(use_chain(tuple(n.name for n in topo.nodes)))
        link_bps = route["capacity_bps"]
    try:
        plan = stock_plan(profile, config.speed, prefill_s, link_bps=link_bps) if stock else None
        lab = KmeLab(root / "kms", sites, pairs, stock=plan)
    except BaseException:
        stack.close()
        raise
    runner: AppRunner | None = None
    feeder: LinkFeeder | None = None
    try:
        url = None
        if iot:
            url = mqtt_url or stack.enter_context(start_embedded_broker("127.0.0.1", 0))
        if route is None:
            feeder = ExactFeeder(chain_topology(lab.chain), lab, block_s, config.seed)
        else:
            feeder = LinkFeeder(topo, lab, block_s, config.seed, "statistical")
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
        out["network"] = feeder.report() | {"route": route or {"network": "chain",
                                             "nodes": list(lab.chain)}}  # fmt: skip
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
    network: str = "chain",
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
                network=network,
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
                    mqtt_url=mqtt_url, stock=stock, network=network,
                )  # fmt: skip
    if json_out:
        print_json(out)
    else:
        render_report(out)
    return out
