"""Micius in ``quaykey up``: where it is, its ground track, its passes and their key.

Passes and their key come from :func:`quaykey.network.passes.passes_for_topology` (skyfield
over the preset's element sets, the Micius downlink budget), computed for a window of
:data:`WINDOW_S` simulated seconds at a time; a pass's key lands on its link when the pass's
QKD window ends, as in :class:`quaykey.network.sim.NetworkSimulation`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from skyfield.api import wgs84

from quaykey.network.orbit import closest_epoch, satellites_from_entry, timescale
from quaykey.network.passes import Pass, passes_for_topology
from quaykey.network.presets import load_satellite_preset
from quaykey.network.topology import Topology

__all__ = ["WINDOW_S", "SatelliteView"]

#: Simulated seconds of passes computed at a time.
WINDOW_S = 6 * 3600.0
TRACK_POINTS = 60
TRACK_STEP_S = 95.0


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class SatelliteView:
    """The satellite of a topology's free-space links (``None`` links: no satellite)."""

    def __init__(self, topology: Topology, start_utc: datetime) -> None:
        self.start_utc = start_utc
        self.links = [link for link in topology.links if link.kind != "fibre"]
        self.enabled = bool(self.links)
        preset = load_satellite_preset()
        self.name = str(preset["satellite"]["name"])
        self.stations = preset["stations"]
        self.sat = closest_epoch(satellites_from_entry(preset["satellite"]), start_utc)
        self._window_end = start_utc
        self._passes: list[tuple[str, Pass]] = []
        self._track: tuple[float, list[list[float]]] = (-1e18, [])

    def _extend(self, until: datetime) -> None:
        while self.enabled and self._window_end < until:
            found = passes_for_topology(
                self.links, self.stations, self.sat, self._window_end, WINDOW_S
            )
            for link, ps in found.items():
                self._passes.extend((link, p) for p in ps)
            self._passes.sort(key=lambda lp: lp[1].rise_utc)
            self._window_end += timedelta(seconds=WINDOW_S)

    def utc(self, t_sim: float) -> datetime:
        """Wall-clock time of simulated second ``t_sim``."""
        return self.start_utc + timedelta(seconds=t_sim)

    def key_between(self, t0: float, t1: float) -> dict[str, tuple[int, float]]:
        """Per link, the key bits and QBER of passes whose QKD window ends in ``(t0, t1]``."""
        a, b = self.utc(t0), self.utc(t1)
        self._extend(b + timedelta(hours=1))
        out: dict[str, tuple[int, float]] = {}
        for link, p in self._passes:
            if p.qkd_end_utc is not None and a < p.qkd_end_utc <= b and p.key_bits > 0:
                bits, _ = out.get(link, (0, 0.0))
                out[link] = (bits + p.key_bits, p.qber)
        return out

    def state(self, t_sim: float) -> dict[str, Any]:
        """The contract's ``satellite`` object at ``t_sim``."""
        now = self.utc(t_sim)
        ts = timescale()
        t = ts.from_datetime(now)
        at = self.sat.skyfield.at(t)
        pos = wgs84.subpoint_of(at)
        if abs(t_sim - self._track[0]) > 600 or not self._track[1]:
            times = ts.from_datetimes(
                [now + timedelta(seconds=TRACK_STEP_S * i) for i in range(TRACK_POINTS)]
            )
            sub = wgs84.subpoint_of(self.sat.skyfield.at(times))
            lat, lon = sub.latitude.degrees, sub.longitude.degrees
            pts = zip(lat, lon, strict=True)
            track = [[round(float(a), 3), round(float(b), 3)] for a, b in pts]
            self._track = (t_sim, track)
        self._extend(now + timedelta(hours=3))
        nxt = [
            {"station": p.station, "aos_utc": _iso(p.qkd_start_utc or p.rise_utc),
             "los_utc": _iso(p.qkd_end_utc or p.set_utc),
             "countdown_s": max(0.0, ((p.qkd_start_utc or p.rise_utc) - now).total_seconds()),
             "max_elevation_deg": round(p.max_elevation_deg, 1)}
            for _, p in self._passes if (p.qkd_end_utc or p.set_utc) > now
        ][:6]  # fmt: skip
        return {
            "name": self.name,
            "lat": round(float(pos.latitude.degrees), 4),
            "lon": round(float(pos.longitude.degrees), 4),
            "alt_km": round(float(wgs84.height_of(at).km), 1),
            "ground_track": self._track[1],
            "next_passes": nxt,
        }
