"""Network benchmarks: wall time of 24 simulated hours, and the exact-fidelity real-time factor.

Run: ``.venv/bin/python benchmarks/network.py`` (add ``--quick`` for a shorter exact run).
Prints a Markdown table; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

from quaykey.network.demands import Demand
from quaykey.network.orbit import Satellite
from quaykey.network.passes import passes_for_topology
from quaykey.network.presets import load_preset_topology, load_satellite_preset
from quaykey.network.sim import NetworkSimulation, SimulationConfig
from quaykey.network.topology import topology_from_dict


def statistical_day(with_micius: bool) -> tuple[float, float, dict[str, float]]:
    t0 = time.perf_counter()
    topo = load_preset_topology("beijing-shanghai", with_micius=with_micius)
    cfg = SimulationConfig(duration_s=86400.0, seed=1)
    passes = None
    t_pass = 0.0
    if with_micius:
        sat_data = load_satellite_preset()
        tle = sat_data["satellite"]["tle"][0]
        sat = Satellite.from_tle(tle["line1"], tle["line2"], "micius")
        free = [lk for lk in topo.links if lk.kind == "free-space"]
        tp = time.perf_counter()
        passes = passes_for_topology(free, sat_data["stations"], sat, cfg.start_utc, cfg.duration_s)
        t_pass = time.perf_counter() - tp
    rep = NetworkSimulation(topo, cfg, passes).run()
    wall = time.perf_counter() - t0
    relays = sum(r.requests for r in rep.routes)
    return wall, t_pass, {"links": len(rep.links), "relays": relays}


def exact_hour(hours: float) -> tuple[float, float, int, int]:
    topo = topology_from_dict(
        {
            "name": "pair",
            "defaults": {
                "overrides": {
                    "source.repetition_rate_hz": 2e6,
                    "source.basis_probability_x": 0.5,
                }
            },
            "nodes": [
                {"name": "a", "lat_deg": 31.0, "lon_deg": 121.0},
                {"name": "b", "lat_deg": 31.0, "lon_deg": 121.4},
            ],
            "links": [{"a": "a", "b": "b", "length_km": 40}],
        }
    )
    cfg = SimulationConfig(
        duration_s=hours * 3600,
        fidelity="exact",
        block_duration_s=300,
        seed=5,
        demands=(Demand("a", "b", key_bits=1024, interval_s=60),),
    )
    rep = NetworkSimulation(topo, cfg).run()
    stat = NetworkSimulation(topo, replace(cfg, fidelity="statistical")).run()
    return rep.wall_s, cfg.duration_s, rep.links[0].key_bits, stat.links[0].key_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="exact run of 0.5 h instead of 1 h")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores visible, Python "
        f"{platform.python_version()}"
    )
    print()
    print("| run | simulated | wall s | notes |")
    print("|---|---|---|---|")
    wall, _, info = statistical_day(False)
    print(
        f"| beijing-shanghai, statistical | 24 h | {wall:.1f} | {info['links']} links, "
        f"{info['relays']} relay requests |"
    )
    wall, t_pass, info = statistical_day(True)
    print(
        f"| beijing-shanghai + micius, statistical | 24 h | {wall:.1f} | "
        f"{info['links']} links, {info['relays']} relay requests, passes {t_pass:.1f} s |"
    )
    hours = 0.5 if args.quick else 1.0
    ewall, sim_s, bits, stat_bits = exact_hour(hours)
    print(
        f"| one 40 km link at 2 MHz, exact (sampler + cascade) | {hours:g} h | {ewall:.1f} | "
        f"real-time factor {sim_s / ewall:.0f}x, {bits} key bits (statistical: {stat_bits}) |"
    )


if __name__ == "__main__":
    main()
