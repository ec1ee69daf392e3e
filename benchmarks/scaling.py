"""Exact fidelity over Dask: wall time for 1 and N workers, per-task cost, and a model for N.

Run: ``.venv/bin/python benchmarks/scaling.py`` (defaults: the ``national`` preset, 0.2 s
of simulated time in 0.1 s blocks, in process and on LocalClusters of 1 and 2 workers).
Prints JSON then a Markdown summary; results are recorded in docs/benchmarks.md.

What is measured, per configuration: the cluster's start-up, the wall time of the blocks
(tasks) and of the whole run, the tasks' summed wall and CPU seconds and the longest task.
Every configuration's report must equal the in-process one (same seed): checked.

The model: a task's CPU seconds do not depend on where it runs, so ``W`` (their sum) is
the work and ``w_max`` (the longest task) the critical path. On N cores that the study has
to itself::

    T(N) = start + max(W / N, w_max) + replay + N_tasks * per_task_overhead / N

``per_task_overhead`` is what a cluster of one worker adds per task over the in-process
run. Exact fidelity keeps up with real time when every link's block is done within the
block (``w_max`` per simulated second < 1) and ``N >= W / simulated_s`` (divided by the
parallel efficiency the model gives).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

from distributed import Client, LocalCluster

from quaykey.network.distributed import simulate
from quaykey.network.presets import load_preset_topology
from quaykey.network.sim import NetworkSimulation, SimulationConfig


def _plain(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("wall_s", "realtime_factor", "tasks")}


def in_process(network: str, cfg: SimulationConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    t = load_preset_topology(network)
    c0, t0 = time.process_time(), time.perf_counter()
    report = NetworkSimulation(t, cfg).run().to_dict()
    row = {"workers": "in process", "total_s": time.perf_counter() - t0}
    row["cpu_s"] = time.process_time() - c0
    return row, report


def on_cluster(
    network: str, cfg: SimulationConfig, workers: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    t = load_preset_topology(network)
    t0 = time.perf_counter()
    # The LocalCluster of open_client, also for one worker (open_client runs 1 in process).
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        started = time.perf_counter() - t0
        run = simulate(t, cfg, client)
    out = run.to_dict()
    tasks = out["tasks"]
    row = {
        "workers": workers,
        "start_s": started,
        "blocks_s": tasks["blocks_wall_s"],
        "replay_s": run.report.wall_s - tasks["blocks_wall_s"],
        "run_s": run.report.wall_s,
        "total_s": time.perf_counter() - t0,
        "tasks": tasks["count"],
        "task_wall_s": tasks["work_s"],
        "task_cpu_s": tasks["work_cpu_s"],
        "longest_task_cpu_s": max(run.task_cpu_s),
    }
    return row, out


def model(rows: list[dict[str, Any]], simulated_s: float, n_links: int) -> dict[str, Any]:
    """The scaling model from the measured rows (see the module docstring)."""
    base = next(r for r in rows if r["workers"] == "in process")
    one = next(r for r in rows if r["workers"] == 1)
    work = one["task_cpu_s"]
    w_max = one["longest_task_cpu_s"]
    replay = one["replay_s"]
    per_task = max(0.0, (one["blocks_s"] - work) / one["tasks"])
    start = one["start_s"]

    def t_of(n: int) -> float:
        return start + max(work / n, w_max) + replay + one["tasks"] * per_task / n

    predicted = {n: t_of(n) for n in (1, 2, 4, 8, 16, 32, 64)}
    # Real time: the blocks of one simulated second take W / simulated_s CPU seconds.
    cores_per_sim_s = work / simulated_s
    efficiency = (work / 2) / (max(work / 2, w_max) + one["tasks"] * per_task / 2)
    return {
        "work_cpu_s": work,
        "longest_task_cpu_s": w_max,
        "per_task_overhead_s": per_task,
        "start_s": start,
        "replay_s": replay,
        "predicted_run_s": {
            n: round(t - start, 3) for n, t in predicted.items()
        },  # without start-up
        "predicted_speedup_2_vs_in_process": base["total_s"] / (t_of(2) - start),
        "cpu_per_link_per_sim_s": cores_per_sim_s / n_links,
        "cores_for_real_time": math.ceil(cores_per_sim_s / max(efficiency, 1e-9)),
        "cores_for_real_time_ideal": cores_per_sim_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--network", default="national")
    ap.add_argument("--seconds", type=float, default=0.2, help="simulated seconds")
    ap.add_argument("--block-s", type=float, default=0.1)
    ap.add_argument("--workers", default="1,2", help="cluster sizes to measure")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = SimulationConfig(
        duration_s=args.seconds, block_duration_s=args.block_s, fidelity="exact", seed=args.seed
    )
    rows = []
    row, reference = in_process(args.network, cfg)
    rows.append(row)
    for n in (int(x) for x in args.workers.split(",")):
        row, out = on_cluster(args.network, cfg, n)
        row["same_result"] = _plain(out) == _plain(reference)
        row["speedup_vs_in_process"] = rows[0]["total_s"] / row["run_s"]
        rows.append(row)
    n_links = sum(link.kind == "fibre" for link in load_preset_topology(args.network).links)
    result = {
        "network": args.network,
        "simulated_s": args.seconds,
        "block_s": args.block_s,
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "rows": rows,
        "model": model(rows, args.seconds, n_links),
    }
    print(json.dumps(result, indent=1, default=str))
    print("\n| workers | start s | run s | tasks wall s | tasks CPU s | speedup | same |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r.get('start_s', 0):.1f} | {r.get('run_s', r['total_s']):.1f} "
            f"| {r.get('task_wall_s', 0):.1f} | {r.get('task_cpu_s', r.get('cpu_s', 0)):.1f} "
            f"| {r.get('speedup_vs_in_process', 1):.2f} | {r.get('same_result', '-')} |"
        )


if __name__ == "__main__":
    main()
