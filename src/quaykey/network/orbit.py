"""Orbit and geodesy of a satellite link, from skyfield: positions, look angles, passes.

What skyfield does for us
    SGP4 propagation of a two-line element set and the TEME to Earth-fixed rotation
    (:class:`skyfield.api.EarthSatellite`), ground stations on the WGS84 ellipsoid
    (:data:`skyfield.api.wgs84`), topocentric elevation and slant range, and rise,
    culmination and set times (:meth:`~skyfield.api.EarthSatellite.find_events`). The
    timescale is skyfield's builtin one (``load.timescale(builtin=True)``): nothing is
    downloaded.
What we keep
    The Sun's position: skyfield needs a JPL ephemeris file for it, and a night flag needs
    no more than the Astronomical Almanac's low-precision solar coordinates (~0.01 deg
    for 1950-2050), rotated to the station's horizon with skyfield's sidereal time.

References
----------
Rhodes, "Skyfield: High precision research-grade positions for planets and Earth
satellites generator", Astrophysics Source Code Library ascl:1907.024 (2019).
Vallado, Crawford, Hujsak, Kelso, "Revisiting Spacetrack Report #3", AIAA 2006-6753.
The Astronomical Almanac, section C ("Low precision formulas for the Sun").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skyfield.api import EarthSatellite, Timescale, load, wgs84

__all__ = [
    "GroundStation",
    "Satellite",
    "closest_epoch",
    "parse_tle_text",
    "sample_times",
    "satellites_from_entry",
    "station_from_entry",
    "sun_elevation_deg",
    "timescale",
]


@cache
def timescale() -> Timescale:
    """skyfield's builtin timescale (leap seconds and Delta T shipped with skyfield)."""
    return load.timescale(builtin=True)


#: A time argument: a timezone-aware datetime, a list of them, or a skyfield ``Time``.
TimeLike = Any


def _times(utc: TimeLike) -> Any:
    """A skyfield Time from a datetime, a list of datetimes, or a skyfield Time."""
    ts = timescale()
    if isinstance(utc, datetime):
        if utc.tzinfo is None:
            raise ValueError("times must be timezone-aware (UTC)")
        return ts.from_datetime(utc)
    if isinstance(utc, list):
        return ts.from_datetimes(utc)
    return utc


def sample_times(start_utc: datetime, end_utc: datetime, n: int) -> Any:
    """``n`` equally spaced skyfield times from ``start_utc`` to ``end_utc`` inclusive."""
    t0, t1 = _times(start_utc), _times(end_utc)
    return timescale().tt_jd(np.linspace(t0.tt, t1.tt, n))


@dataclass(frozen=True)
class GroundStation:
    """An optical ground station on the WGS84 ellipsoid.

    Parameters
    ----------
    name
        Identifier (matches the topology node).
    lat_deg, lon_deg, altitude_m
        WGS84 geodetic position.
    receiver_aperture_m
        Telescope aperture diameter (Xinglong: 1.0 m).
    """

    name: str
    lat_deg: float
    lon_deg: float
    altitude_m: float = 0.0
    receiver_aperture_m: float = 1.0

    def __post_init__(self) -> None:
        if not (-90 <= self.lat_deg <= 90 and -180 <= self.lon_deg <= 180):
            raise ValueError(f"station {self.name!r}: latitude/longitude out of range")
        if not self.receiver_aperture_m > 0:
            raise ValueError(f"station {self.name!r}: receiver_aperture_m must be > 0")

    @property
    def site(self) -> Any:
        """The skyfield geographic position."""
        return wgs84.latlon(self.lat_deg, self.lon_deg, elevation_m=self.altitude_m)


@dataclass(frozen=True)
class Satellite:
    """A satellite given by a two-line element set, propagated with SGP4 by skyfield.

    Example
    -------
    >>> from datetime import UTC
    >>> from quaykey.network.presets import load_satellite_preset
    >>> tle = load_satellite_preset()["satellite"]["tle"][0]
    >>> sat = Satellite.from_tle(tle["line1"], tle["line2"], name="micius")
    >>> 450 < sat.altitude_km(datetime(2016, 12, 19, tzinfo=UTC)) < 560
    True
    >>> sat.epoch_utc.date().isoformat()
    '2016-12-18'
    """

    name: str
    line1: str
    line2: str
    _sat: EarthSatellite = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self._sat is not None:
            return
        l1, l2 = self.line1.strip(), self.line2.strip()
        if not (l1.startswith("1 ") and l2.startswith("2 ") and len(l1) >= 64 and len(l2) >= 64):
            raise ValueError(
                f"cannot parse the two-line elements of {self.name!r}: line 1 must start "
                "with '1 ' and line 2 with '2 ', 69 characters each"
            )
        try:
            sat = EarthSatellite(l1, l2, self.name, timescale())
        except Exception as exc:  # sgp4 raises a variety of errors on bad input
            raise ValueError(f"cannot parse the two-line elements: {exc}") from None
        if sat.model.error != 0 or sat.model.no_kozai <= 0:
            raise ValueError(
                f"cannot use the two-line elements of {self.name!r} "
                f"(SGP4 error code {sat.model.error}); check both lines"
            )
        object.__setattr__(self, "_sat", sat)

    @classmethod
    def from_tle(cls, line1: str, line2: str, name: str = "satellite") -> Satellite:
        """Build from the two TLE lines (ValueError when they do not parse)."""
        return cls(name=name, line1=line1, line2=line2)

    @property
    def skyfield(self) -> EarthSatellite:
        """The underlying :class:`skyfield.api.EarthSatellite`."""
        return self._sat

    @property
    def epoch_utc(self) -> datetime:
        """The epoch of the element set."""
        return self._sat.epoch.utc_datetime()  # type: ignore[no-any-return]

    def altitude_km(self, t: datetime) -> float:
        """Height above the WGS84 ellipsoid, km."""
        return float(wgs84.height_of(self._sat.at(_times(t))).km)

    def look(
        self, station: GroundStation, t: TimeLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Elevation (deg, no refraction) and slant range (km) seen from ``station``.

        ``t`` is a datetime, a list of datetimes or a skyfield ``Time`` (e.g. from
        :func:`sample_times`).
        """
        t = _times(t)
        alt, _az, dist = (self._sat - station.site).at(t).altaz()
        return np.atleast_1d(alt.degrees), np.atleast_1d(dist.km)

    def events(
        self, station: GroundStation, start_utc: datetime, end_utc: datetime, altitude_deg: float
    ) -> list[tuple[datetime, int]]:
        """Rise (0), culmination (1) and set (2) above ``altitude_deg``, in time order.

        skyfield's :meth:`~skyfield.api.EarthSatellite.find_events`.
        """
        times, kinds = self._sat.find_events(
            station.site, _times(start_utc), _times(end_utc), altitude_degrees=altitude_deg
        )
        return [(t.utc_datetime(), int(k)) for t, k in zip(times, kinds, strict=True)]


def sun_elevation_deg(station: GroundStation, utc: TimeLike) -> NDArray[np.float64]:
    """Elevation of the Sun's centre (no refraction), degrees.

    The Astronomical Almanac's low-precision formula: with ``n = JD - 2451545``,
    ``L = 280.460 + 0.9856474 n``, ``g = 357.528 + 0.9856003 n``,
    ``lambda = L + 1.915 sin g + 0.020 sin 2g``, ``epsilon = 23.439 - 4e-7 n``
    (all degrees); accuracy about 0.01 deg between 1950 and 2050, and a slowly growing
    error outside (enough for a night flag). The hour angle uses skyfield's Greenwich
    mean sidereal time.

    Example
    -------
    >>> from datetime import UTC
    >>> gs = GroundStation("xinglong", 40.3958, 117.5775)
    >>> midnight_beijing = datetime(2016, 12, 18, 16, 0, tzinfo=UTC)
    >>> bool(sun_elevation_deg(gs, midnight_beijing)[0] < -60)
    True

    References
    ----------
    The Astronomical Almanac (U.S. Naval Observatory), section C, "Low precision formulas
    for the Sun".
    """
    t = _times(utc)
    n = np.atleast_1d(t.ut1 - 2451545.0)
    L = np.radians(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.radians(np.mod(357.528 + 0.9856003 * n, 360.0))
    lam = L + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 4.0e-7 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))
    dec = np.arcsin(np.sin(eps) * np.sin(lam))
    ha = np.radians(np.atleast_1d(t.gmst) * 15.0 + station.lon_deg) - ra
    lat = math.radians(station.lat_deg)
    sin_el = math.sin(lat) * np.sin(dec) + math.cos(lat) * np.cos(dec) * np.cos(ha)
    return np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))


def parse_tle_text(text: str, default_name: str = "satellite") -> list[Satellite]:
    """Every element set in a two-line or three-line (name line first) TLE text.

    Blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    ValueError
        When the text holds no element set, or a line 1 without its line 2.

    Example
    -------
    >>> from quaykey.network.presets import load_satellite_preset
    >>> e = load_satellite_preset()["satellite"]["tle"][0]
    >>> text = chr(10).join(["MICIUS", e["line1"], e["line2"]])
    >>> [s.name for s in parse_tle_text(text)]
    ['MICIUS']
    """
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    out: list[Satellite] = []
    name = default_name
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("1 "):
            if i + 1 >= len(lines) or not lines[i + 1].startswith("2 "):
                raise ValueError(f"line 1 of element set {len(out) + 1} has no line 2 after it")
            out.append(Satellite.from_tle(line, lines[i + 1], name=name))
            name, i = default_name, i + 2
        elif line.startswith("2 "):
            raise ValueError(f"a line 2 without its line 1: {line[:20]!r}...")
        else:
            name, i = line.removeprefix("0 ").strip(), i + 1
    if not out:
        raise ValueError("no two-line element set found (lines starting '1 ' and '2 ')")
    return out


def satellites_from_entry(entry: Mapping[str, Any]) -> list[Satellite]:
    """Every element set of a preset's ``satellite`` section, named after the satellite.

    Example
    -------
    >>> from quaykey.network.presets import load_satellite_preset
    >>> [s.epoch_utc.year for s in satellites_from_entry(load_satellite_preset()["satellite"])]
    [2016, 2021]
    """
    name = str(entry["name"])
    return [Satellite.from_tle(e["line1"], e["line2"], name=name) for e in entry["tle"]]


def closest_epoch(satellites: Sequence[Satellite], when_utc: datetime) -> Satellite:
    """The element set whose epoch is closest to ``when_utc`` (SGP4 drifts away from it).

    Raises
    ------
    ValueError
        For no element sets.

    Example
    -------
    >>> from datetime import UTC
    >>> from quaykey.network.presets import load_satellite_preset
    >>> sats = satellites_from_entry(load_satellite_preset()["satellite"])
    >>> closest_epoch(sats, datetime(2021, 4, 23, tzinfo=UTC)).epoch_utc.year
    2021
    """
    if not satellites:
        raise ValueError("no element sets to choose from")
    return min(satellites, key=lambda s: abs((s.epoch_utc - when_utc).total_seconds()))


def station_from_entry(entry: dict[str, object]) -> GroundStation:
    """A :class:`GroundStation` from a preset node entry."""
    return GroundStation(
        name=str(entry["name"]),
        lat_deg=float(entry["lat_deg"]),  # type: ignore[arg-type]
        lon_deg=float(entry["lon_deg"]),  # type: ignore[arg-type]
        altitude_m=float(entry.get("altitude_m", 0.0)),  # type: ignore[arg-type]
        receiver_aperture_m=float(entry.get("receiver_aperture_m", 1.0)),  # type: ignore[arg-type]
    )
