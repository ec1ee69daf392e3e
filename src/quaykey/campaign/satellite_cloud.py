"""A satellite pass lost to cloud, in the network simulation.

The Beijing–Shanghai backbone with Micius (preset ``beijing-shanghai`` plus ``micius``) is
simulated for 24 hours (12 in the short size: the same night) from 19 December 2016,
12:00 UTC (statistical fidelity) twice: under
a clear sky, and with thick cloud over Xinglong during its best night pass. Cloud is extra
atmospheric loss on that pass's downlink: 40 dB, an optical depth of about 9, which thick
stratus exceeds (beyond it no photon statistics survive). The pass is recomputed through the
same seam with that loss (:func:`quaykey.network.passes.key_per_pass`).

Held to: the cloudy pass yields no key (the block has too few detections to pass the
finite-key bound, rather than yielding a key an eavesdropper could know); the Micius–Xinglong
link's key over the day drops by exactly that pass's clear-sky key; every other link's key
is unchanged; no pool goes negative; the satellite demand (Xinglong to Nanshan, through the
satellite) reports the requests it could not serve instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from quaykey.campaign.findings import ScenarioResult
from quaykey.network.downlink import downlink_for
from quaykey.network.orbit import closest_epoch, satellites_from_entry, station_from_entry
from quaykey.network.passes import Pass, find_passes, key_per_pass
from quaykey.network.presets import load_preset_topology, load_satellite_preset
from quaykey.network.report import SimulationReport
from quaykey.network.sim import NetworkSimulation, SimulationConfig

__all__ = ["CLOUD_DB", "cloud_pass"]

Progress = Callable[[str], None]

#: Extra loss of thick cloud on the cloudy pass, dB.
CLOUD_DB = 40.0
_START = datetime(2016, 12, 19, 12, tzinfo=UTC)
_STATION = "xinglong"


def _passes(duration_s: float, cloudy: bool) -> tuple[dict[str, list[Pass]], dict[str, int]]:
    """Every satellite link's passes; with ``cloudy``, Xinglong's best pass under cloud."""
    topo = load_preset_topology("beijing-shanghai", with_micius=True)
    sat_entry = load_satellite_preset()
    sat = closest_epoch(satellites_from_entry(sat_entry["satellite"]), _START)
    stations = sat_entry["stations"]
    out: dict[str, list[Pass]] = {}
    info = {"clear_key_bits": 0, "cloudy_key_bits": 0, "pass_index": -1}
    end = _START + timedelta(seconds=duration_s)
    for link in (lk for lk in topo.links if lk.kind == "free-space"):
        ground = link.b if link.b in stations else link.a
        gs = station_from_entry(stations[ground])
        params, downlink = link.params(), downlink_for(link.preset)
        found = [
            key_per_pass(sat, gs, p, params, downlink) for p in find_passes(sat, gs, _START, end)
        ]
        if ground == _STATION and found:
            best = max(range(len(found)), key=lambda i: found[i].key_bits)
            thick = replace(downlink, atm_zenith_loss_db=downlink.atm_zenith_loss_db + CLOUD_DB)
            under_cloud = key_per_pass(sat, gs, found[best], params, thick)
            info.update(
                clear_key_bits=found[best].key_bits,
                cloudy_key_bits=under_cloud.key_bits,
                pass_index=best,
            )
            if cloudy:
                found[best] = under_cloud
        out[link.name] = found
    return out, info


def _simulate(passes: dict[str, Any], duration_s: float) -> SimulationReport:
    topo = load_preset_topology("beijing-shanghai", with_micius=True)
    cfg = SimulationConfig(duration_s=duration_s, start_utc=_START)
    return NetworkSimulation(topo, cfg, passes).run()


def cloud_pass(size: str, seed: int, progress: Progress) -> ScenarioResult:
    """The day with and without cloud over Xinglong's best pass; what changes."""
    duration_s = {"short": 12 * 3600.0, "full": 86400.0}[size]
    res = ScenarioResult("cloud", "A satellite pass lost to cloud")
    res.settings = {
        "network": "beijing-shanghai + micius",
        "start_utc": _START.isoformat(),
        "hours": duration_s / 3600,
        "station": _STATION,
        "cloud_db": CLOUD_DB,
    }
    progress("cloud: clear sky")
    clear_passes, info = _passes(duration_s, cloudy=False)
    clear = _simulate(clear_passes, duration_s)
    progress("cloud: thick cloud over the best pass")
    cloudy_passes, _ = _passes(duration_s, cloudy=True)
    cloudy = _simulate(cloudy_passes, duration_s)
    res.settings.update(info)
    link = next(
        lk.name for lk in clear.links if _STATION in (lk.a, lk.b) and lk.kind == "free-space"
    )
    by_clear = {lk.name: lk for lk in clear.links}
    by_cloudy = {lk.name: lk for lk in cloudy.links}
    drop = by_clear[link].key_bits - by_cloudy[link].key_bits
    res.add(
        "key of the pass under thick cloud (bits)",
        info["cloudy_key_bits"],
        "0",
        info["cloudy_key_bits"] == 0,
        1,
    )
    res.add(
        "clear-sky key of the same pass (bits)",
        info["clear_key_bits"],
        "> 0",
        info["clear_key_bits"] > 0,
        1,
    )
    res.add(
        f"{link}: key lost over the day (bits)",
        drop,
        f"{info['clear_key_bits']} (that pass)",
        drop == info["clear_key_bits"],
        1,
    )
    others = sum(by_clear[n].key_bits != by_cloudy[n].key_bits for n in by_clear if n != link)
    res.add("other links whose key changed", others, "0", others == 0, len(by_clear) - 1)
    negative = sum(lk.pool_bits < 0 for lk in cloudy.links)
    res.add("pools below zero", negative, "0", negative == 0, len(cloudy.links))
    sat_routes = [r for r in cloudy.routes if {r.src, r.dst} == {"xinglong", "nanshan"}]
    failed = sum(r.failed_requests + r.no_route_requests for r in sat_routes)
    served = sum(r.requests for r in sat_routes) - failed
    res.settings["satellite_demand"] = {"served": served, "not_served": failed}
    res.add(
        "satellite demand: requests reported (served + not served)",
        served + failed,
        "> 0",
        served + failed > 0,
        served + failed,
    )
    return res
