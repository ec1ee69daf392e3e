"""Exact fidelity over Dask: wall time for 1 and N workers, per-task cost, and a model for N.

Run: ``.venv/bin/python benchmarks/scaling.py`` (defaults: the ``beijing-shanghai``
preset, one 0.2 s block per fibre link, in process and on LocalClusters of 1 and 2
workers). Prints JSON then a Markdown summary; results are recorded in docs/benchmarks.md.

Per configuration: the cluster's start-up and warm-up (each worker loads the compiled
kernels once: :func:`quaykey.network.distributed.warm_up`), the wall time of the blocks
(tasks) and of the whole run, the tasks' summed wall and CPU seconds, their sampler share
and the longest task. Every configuration's report must equal the in-process one (same
seed): checked.

The model (CPU seconds do not depend on how loaded the machine is; wall seconds do). With
``W`` the tasks' CPU seconds on warm workers, ``w_max`` the longest task (a link's blocks
run in order: the critical path) and ``W_in`` the same blocks in process, on N cores the
study has to itself::

    T(N) = start(N) + max(W / N, w_max) + replay        speedup(N) = W_in / (T(N) - start)

Real time: the blocks of one simulated second cost ``W / simulated_s`` CPU seconds, so
``N >= W / simulated_s`` cores; and each link's chain must keep up on one core
(``w_max / simulated_s <= 1``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from typing import Any

import dask
from distributed import Client, LocalCluster

from quaykey.network.cost import block_cost_s
from quaykey.network.distributed import WORKER_CONFIG, link_jobs, simulate, warm_up
from quaykey.network.links.statistical import link_model
from quaykey.network.presets import load_preset_topology
from quaykey.network.sim import NetworkSimulation, SimulationConfig


def _plain(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("wall_s", "realtime_factor", "tasks")}


def in_process(network: str, cfg: SimulationConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    t = load_preset_topology(network)
    warm = warm_up()
    c0, t0 = time.process_time(), time.perf_counter()
    report = NetworkSimulation(t, cfg).run().to_dict()
    row = {"workers": "in process", "warm_up_cpu_s": warm, "run_s": time.perf_counter() - t0}
    row["cpu_s"] = time.process_time() - c0
    return row, report


def on_cluster(
    network: str, cfg: SimulationConfig, workers: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    t = load_preset_topology(network)
    t0 = time.perf_counter()
    # The LocalCluster of open_client, also for one worker (open_client runs 1 in process).
    with (
        dask.config.set(WORKER_CONFIG),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        started = time.perf_counter() - t0
        warm = client.run(warm_up)
        warmed = time.perf_counter() - t0 - started
        run = simulate(t, cfg, client)
    out = run.to_dict()
    tasks = out["tasks"]
    row = {
        "workers": workers,
        "start_s": started,
        "warm_up_s": warmed,
        "warm_up_cpu_s": sum(warm.values()),
        "blocks_s": tasks["blocks_wall_s"],
        "replay_s": run.report.wall_s - tasks["blocks_wall_s"],
        "run_s": run.report.wall_s,
        "tasks": tasks["count"],
        "task_wall_s": tasks["work_s"],
        "task_cpu_s": tasks["work_cpu_s"],
        "longest_task_cpu_s": max(run.task_cpu_s),
    }
    return row, out


def model(rows: list[dict[str, Any]], cfg: SimulationConfig, network: str) -> dict[str, Any]:
    """The scaling model from the measured rows (see the module docstring)."""
    base = rows[0]
    one = next(r for r in rows if r["workers"] == 1)
    work, w_max, replay = one["task_cpu_s"], one["longest_task_cpu_s"], one["replay_s"]
    sim_s = cfg.duration_s

    def run_s(n: int) -> float:
        return max(work / n, w_max) + replay

    out: dict[str, Any] = {
        "in_process_cpu_s": base["cpu_s"],
        "tasks_cpu_s": work,
        "per_task_overhead_cpu_s": (work - base["cpu_s"]) / one["tasks"],
        "longest_task_cpu_s": w_max,
        "predicted_run_s": {n: round(run_s(n), 3) for n in (1, 2, 4, 8, 16, 32, 64)},
        "predicted_speedup": {
            n: round(base["cpu_s"] / run_s(n), 2) for n in (1, 2, 4, 8, 16, 32, 64)
        },
        "cores_per_simulated_s": work / sim_s,
        "longest_link_cores_per_simulated_s": w_max / sim_s,
    }
    # The national preset, extrapolated link by link with the cost model's ratio.
    here = load_preset_topology(network)
    national = load_preset_topology("national")

    def est(t: Any) -> float:
        jobs = link_jobs(t, cfg)
        return sum(j.cost_s for j in jobs)

    ratio = est(national) / est(here)
    worst = max(
        block_cost_s(link.params(), link_model(link.params(), cfg.block_duration_s), "exact")
        for link in national.links
        if link.kind == "fibre"
    )
    out["national_over_this_cost_ratio"] = ratio
    out["national_cores_for_real_time"] = math.ceil(work * ratio / sim_s)
    out["national_longest_link_estimate_cpu_per_sim_s"] = worst / cfg.block_duration_s
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--network", default="beijing-shanghai")
    ap.add_argument("--seconds", type=float, default=0.2, help="simulated seconds")
    ap.add_argument("--block-s", type=float, default=0.2)
    ap.add_argument("--workers", default="1,2", help="cluster sizes to measure")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = SimulationConfig(
        duration_s=args.seconds, block_duration_s=args.block_s, fidelity="exact", seed=args.seed
    )
    rows = []
    load0 = os.getloadavg()[0]
    row, reference = in_process(args.network, cfg)
    rows.append(row)
    for n in (int(x) for x in args.workers.split(",")):
        row, out = on_cluster(args.network, cfg, n)
        row["same_result"] = _plain(out) == _plain(reference)
        row["speedup_vs_in_process"] = rows[0]["run_s"] / row["run_s"]
        rows.append(row)
    result = {
        "network": args.network,
        "simulated_s": args.seconds,
        "block_s": args.block_s,
        "cpus": os.cpu_count(),
        "load_average_1min": [load0, os.getloadavg()[0]],
        "rows": rows,
        "model": model(rows, cfg, args.network),
    }
    print(json.dumps(result, indent=1, default=str))
    print("\n| workers | start + warm-up s | run s | tasks wall s | CPU s | speedup | same |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r.get('start_s', 0) + r.get('warm_up_s', 0):.1f} "
            f"| {r['run_s']:.1f} | {r.get('task_wall_s', 0):.1f} "
            f"| {r.get('task_cpu_s', r.get('cpu_s', 0)):.1f} "
            f"| {r.get('speedup_vs_in_process', 1):.2f} | {r.get('same_result', '-')} |"
        )


if __name__ == "__main__":
    main()
