"""Satellite passes, the downlink budget and key per pass; the satellite as a trusted relay.

Orbit
    SGP4 (the :mod:`sgp4` package) propagates a two-line element set; positions come out in
    the TEME frame and are rotated to Earth-fixed coordinates by the Greenwich mean sidereal
    time (IAU 1982, as SGP4 itself uses; polar motion and UT1-UTC are neglected, a few
    metres). Ground stations sit on the WGS84 ellipsoid.
Passes
    A pass is a rise above the horizon (0 deg elevation unless told otherwise), a
    culmination and a set; times are found by bisection (``scipy.optimize.brentq``) to
    0.1 s on a coarse grid. QKD runs only while the elevation is above
    ``min_elevation_deg`` (10 deg by default) and only at night (the Sun below
    ``sun_max_elevation_deg``, -12 deg by default: nautical twilight).
Sun
    The Astronomical Almanac's low-precision solar coordinates (accuracy ~0.01 deg for
    1950-2050), enough for a night flag.
Link budget
    :class:`LinkBudget`: geometric (diffraction) loss of a beam from a 300 mm transmitter
    into the receiving telescope, a fixed pointing loss, receiver optics efficiency, and an
    atmospheric loss ``A_zenith * airmass**p`` with the Kasten-Young airmass. ``A_zenith``
    and ``p`` are calibrated so that the loss is 22 dB at 645 km and 35 dB at 1200 km of
    slant range for a 500 km orbit, the figures reported by Liao et al. (2017);
    ``p > 1`` lumps turbulence-induced beam spreading, which grows faster than the
    airmass at low elevation.
Key per pass
    The expected counts of every second of the QKD window are summed and one finite-key
    block (Lim et al. 2014) is taken over the whole pass, as Liao et al. did.

References
----------
Liao et al., "Satellite-to-ground quantum key distribution", Nature 549, 43 (2017).
Vallado, Crawford, Hujsak, Kelso, "Revisiting Spacetrack Report #3", AIAA 2006-6753.
The Astronomical Almanac, section C ("Low precision formulas for the Sun").
Kasten & Young, "Revised optical air mass tables", Appl. Opt. 28, 4735 (1989).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, minimize_scalar
from sgp4.api import WGS72, Satrec

from quaykey.decoy import DecoyCounts
from quaykey.network.link import block_key_bits, expected_counts
from quaykey.physics.params import LinkParams, load_preset

__all__ = [
    "GroundStation",
    "LinkBudget",
    "Pass",
    "PassProfile",
    "Satellite",
    "counts_over_profile",
    "find_passes",
    "key_per_pass",
    "pass_profile",
    "passes_for_topology",
    "relay_xor",
    "station_from_entry",
    "sun_elevation_deg",
    "utc",
]

_WGS84_A_KM = 6378.137
_WGS84_F = 1.0 / 298.257223563
_J2000_JD = 2451545.0
_UNIX_EPOCH_JD = 2440587.5


def _jd(t: datetime) -> float:
    if t.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return _UNIX_EPOCH_JD + t.timestamp() / 86400.0


def _gmst_rad(jd_ut1: NDArray[np.float64]) -> NDArray[np.float64]:
    """GMST, IAU 1982 model (Vallado's ``gstime``), radians in [0, 2 pi)."""
    tut1 = (jd_ut1 - _J2000_JD) / 36525.0
    sec = (
        -6.2e-6 * tut1**3
        + 0.093104 * tut1**2
        + (876600.0 * 3600.0 + 8640184.812866) * tut1
        + 67310.54841
    )
    return np.mod(np.radians(sec / 240.0), 2.0 * math.pi)


@dataclass(frozen=True)
class GroundStation:
    """An optical ground station.

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

    def ecef_km(self) -> NDArray[np.float64]:
        """Earth-fixed position, km."""
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        e2 = _WGS84_F * (2.0 - _WGS84_F)
        n = _WGS84_A_KM / math.sqrt(1.0 - e2 * math.sin(lat) ** 2)
        h = self.altitude_m / 1000.0
        return np.array(
            [
                (n + h) * math.cos(lat) * math.cos(lon),
                (n + h) * math.cos(lat) * math.sin(lon),
                (n * (1.0 - e2) + h) * math.sin(lat),
            ]
        )

    def _enu_matrix(self) -> NDArray[np.float64]:
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        sl, cl, sp, cp = math.sin(lon), math.cos(lon), math.sin(lat), math.cos(lat)
        return np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])


@dataclass(frozen=True)
class Satellite:
    """A satellite given by a two-line element set, propagated with SGP4.

    Example
    -------
    >>> from quaykey.network.presets import load_satellite_preset
    >>> tle = load_satellite_preset()["satellite"]["tle"][0]
    >>> sat = Satellite.from_tle(tle["line1"], tle["line2"], name="micius")
    >>> 450 < sat.altitude_km(datetime(2016, 12, 19, tzinfo=UTC)) < 560
    True
    """

    name: str
    line1: str
    line2: str
    _satrec: Satrec = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self._satrec is None:
            try:
                rec = Satrec.twoline2rv(self.line1.strip(), self.line2.strip(), WGS72)
            except Exception as exc:  # sgp4 raises a variety of errors on bad input
                raise ValueError(f"cannot parse the two-line elements: {exc}") from None
            if rec.error != 0 or rec.no_kozai <= 0:
                raise ValueError(
                    f"cannot use the two-line elements of {self.name!r} "
                    f"(SGP4 error code {rec.error}); check both lines"
                )
            object.__setattr__(self, "_satrec", rec)

    @classmethod
    def from_tle(cls, line1: str, line2: str, name: str = "satellite") -> Satellite:
        """Build from the two TLE lines (ValueError when they do not parse)."""
        return cls(name=name, line1=line1, line2=line2)

    def ecef_km(self, jd: NDArray[np.float64]) -> NDArray[np.float64]:
        """Earth-fixed positions (km), shape ``(n, 3)``, at Julian dates ``jd`` (UTC)."""
        jd = np.atleast_1d(np.asarray(jd, dtype=np.float64))
        whole = np.floor(jd - 0.5) + 0.5
        err, r, _ = self._satrec.sgp4_array(whole, jd - whole)
        if np.any(err != 0):
            raise ValueError(f"SGP4 failed for {self.name} (error codes {set(err.tolist())})")
        theta = _gmst_rad(jd)
        c, s = np.cos(theta), np.sin(theta)
        x = c * r[:, 0] + s * r[:, 1]
        y = -s * r[:, 0] + c * r[:, 1]
        return np.column_stack([x, y, r[:, 2]])

    def altitude_km(self, t: datetime) -> float:
        """Height above a spherical Earth of 6371 km (rough; for sanity checks)."""
        return float(np.linalg.norm(self.ecef_km(np.array([_jd(t)]))[0]) - 6371.0)

    def look(
        self, station: GroundStation, jd: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Elevation (deg) and slant range (km) of the satellite seen from ``station``."""
        rel = self.ecef_km(jd) - station.ecef_km()
        enu = rel @ station._enu_matrix().T
        rng_km = np.linalg.norm(enu, axis=1)
        el = np.degrees(np.arcsin(np.clip(enu[:, 2] / rng_km, -1.0, 1.0)))
        return el, rng_km


def sun_elevation_deg(station: GroundStation, jd: NDArray[np.float64]) -> NDArray[np.float64]:
    """Elevation of the Sun's centre (no refraction), degrees.

    The Astronomical Almanac's low-precision formula: with ``n = JD - 2451545``,
    ``L = 280.460 + 0.9856474 n``, ``g = 357.528 + 0.9856003 n``,
    ``lambda = L + 1.915 sin g + 0.020 sin 2g``, ``epsilon = 23.439 - 4e-7 n``
    (all degrees); accuracy about 0.01 deg between 1950 and 2050.

    Example
    -------
    >>> gs = GroundStation("xinglong", 40.3958, 117.5775)
    >>> midnight_beijing = _jd(datetime(2016, 12, 18, 16, 0, tzinfo=UTC))
    >>> bool(sun_elevation_deg(gs, np.array([midnight_beijing]))[0] < -60)
    True

    References
    ----------
    The Astronomical Almanac (U.S. Naval Observatory), section C, "Low precision formulas
    for the Sun".
    """
    jd = np.atleast_1d(np.asarray(jd, dtype=np.float64))
    n = jd - _J2000_JD
    L = np.radians(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.radians(np.mod(357.528 + 0.9856003 * n, 360.0))
    lam = L + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 4.0e-7 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))
    dec = np.arcsin(np.sin(eps) * np.sin(lam))
    ha = _gmst_rad(jd) + math.radians(station.lon_deg) - ra
    lat = math.radians(station.lat_deg)
    sin_el = math.sin(lat) * np.sin(dec) + math.cos(lat) * np.cos(dec) * np.cos(ha)
    return np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))


def _airmass(el_deg: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Kasten & Young (1989) relative optical airmass."""
    el = np.asarray(el_deg, dtype=np.float64)
    return 1.0 / (np.sin(np.radians(el)) + 0.50572 * (el + 6.07995) ** -1.6364)


def _elevation_for_range(range_km: float, orbit_altitude_km: float) -> float:
    r_e = 6371.0
    a = r_e + orbit_altitude_km
    # a^2 = R^2 + d^2 + 2 R d sin(el)
    sin_el = (a * a - r_e * r_e - range_km * range_km) / (2.0 * r_e * range_km)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


@dataclass(frozen=True)
class LinkBudget:
    """Downlink loss versus elevation and slant range.

    ``loss = geometric(range) + pointing_loss_db + receiver_loss_db
    + atm_zenith_db * airmass(el)**atm_exponent``. The geometric term is
    ``-10 log10(min(1, D_r^2 / (D_t^2 + (theta L)^2)))`` with the beam's full divergence
    ``theta = 2.44 * beam_quality * wavelength / D_t`` (the far-field diffraction of a
    transmitter of aperture ``D_t``; ``beam_quality`` 1.45 gives the ~10 urad of Micius).

    Use :meth:`calibrated` to fit ``atm_zenith_db`` and ``atm_exponent`` to two reported
    (range, loss) points.

    Example
    -------
    >>> b = LinkBudget.calibrated()
    >>> round(float(b.loss_db(645.0, _elevation_for_range(645.0, 500.0))), 1)
    22.0
    >>> round(float(b.loss_db(1200.0, _elevation_for_range(1200.0, 500.0))), 1)
    35.0
    """

    transmitter_aperture_m: float = 0.30
    receiver_aperture_m: float = 1.0
    wavelength_m: float = 850e-9
    beam_quality: float = 1.45
    pointing_loss_db: float = 1.0
    receiver_loss_db: float = 3.0
    atm_zenith_db: float = 1.0
    atm_exponent: float = 2.0

    @property
    def divergence_rad(self) -> float:
        """Full-angle beam divergence."""
        return 2.44 * self.beam_quality * self.wavelength_m / self.transmitter_aperture_m

    def geometric_loss_db(self, range_km: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Diffraction (beam-spreading) loss into the receiver aperture."""
        L = np.asarray(range_km, dtype=np.float64) * 1000.0
        spot2 = self.transmitter_aperture_m**2 + (self.divergence_rad * L) ** 2
        eff = np.minimum(1.0, self.receiver_aperture_m**2 / spot2)
        return -10.0 * np.log10(eff)

    def loss_db(
        self, range_km: NDArray[np.float64] | float, el_deg: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """Total link loss in dB."""
        atm = self.atm_zenith_db * _airmass(el_deg) ** self.atm_exponent
        return (
            self.geometric_loss_db(range_km) + self.pointing_loss_db + self.receiver_loss_db + atm
        )

    @classmethod
    def calibrated(
        cls,
        points: Sequence[tuple[float, float]] = ((645.0, 22.0), (1200.0, 35.0)),
        orbit_altitude_km: float = 500.0,
        **kwargs: float,
    ) -> LinkBudget:
        """A budget whose atmospheric term passes through two (range km, loss dB) points.

        Raises
        ------
        ValueError
            When the other terms alone already exceed a point's loss.
        """
        base = cls(**kwargs)  # type: ignore[arg-type]
        (r1, l1), (r2, l2) = points
        am1 = float(_airmass(_elevation_for_range(r1, orbit_altitude_km)))
        am2 = float(_airmass(_elevation_for_range(r2, orbit_altitude_km)))
        fixed = base.pointing_loss_db + base.receiver_loss_db
        a1 = l1 - float(base.geometric_loss_db(r1)) - fixed
        a2 = l2 - float(base.geometric_loss_db(r2)) - fixed
        if a1 <= 0 or a2 <= 0:
            raise ValueError("the calibration points leave no room for atmospheric loss")
        p = math.log(a2 / a1) / math.log(am2 / am1)
        return cls(**{**kwargs, "atm_zenith_db": a1 / am1**p, "atm_exponent": p})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pass:
    """One pass of a satellite over a ground station (times in UTC).

    ``qkd_start_utc``/``qkd_end_utc`` bound the part above the QKD minimum elevation
    (``None`` when the pass never gets that high); ``key_bits`` is filled by
    :func:`key_per_pass` (0 by day or below the minimum elevation).
    """

    station: str
    rise_utc: datetime
    culmination_utc: datetime
    set_utc: datetime
    max_elevation_deg: float
    min_range_km: float
    night: bool
    qkd_start_utc: datetime | None = None
    qkd_end_utc: datetime | None = None
    key_bits: int = 0
    sifted_bits: float = 0.0
    qber: float = 0.0
    loss_db_profile: tuple[float, ...] = field(default=(), repr=False)
    profile_step_s: float = 0.0

    @property
    def qkd_duration_s(self) -> float:
        """Length of the QKD window, seconds."""
        if self.qkd_start_utc is None or self.qkd_end_utc is None:
            return 0.0
        return (self.qkd_end_utc - self.qkd_start_utc).total_seconds()


def _to_dt(jd: float) -> datetime:
    return datetime.fromtimestamp((jd - _UNIX_EPOCH_JD) * 86400.0, tz=UTC)


def _crossings(
    f: object, jd: NDArray[np.float64], values: NDArray[np.float64]
) -> list[tuple[float, bool]]:
    out: list[tuple[float, bool]] = []
    above = values > 0
    for i in np.nonzero(above[1:] != above[:-1])[0]:
        t = brentq(f, jd[i], jd[i + 1], xtol=0.05 / 86400.0)  # type: ignore[call-overload]
        out.append((float(t), bool(above[i + 1])))
    return out


def find_passes(
    satellite: Satellite,
    station: GroundStation,
    start_utc: datetime,
    end_utc: datetime,
    horizon_deg: float = 0.0,
    min_elevation_deg: float = 10.0,
    sun_max_elevation_deg: float = -12.0,
    step_s: float = 20.0,
) -> list[Pass]:
    """Passes of ``satellite`` over ``station`` that rise between two times.

    Parameters
    ----------
    satellite, station
        What passes over what.
    start_utc, end_utc
        Search window (timezone-aware). Passes cut by the window edges are dropped.
    horizon_deg
        Elevation that defines rise and set (0 deg, like skyfield's ``find_events``).
    min_elevation_deg
        Elevation above which QKD runs.
    sun_max_elevation_deg
        The pass is a night pass when the Sun is below this at culmination.
    step_s
        Coarse sampling step; passes shorter than this can be missed.

    Returns
    -------
    list of Pass
        In time order, with ``key_bits`` 0 (see :func:`key_per_pass`).

    Example
    -------
    >>> from quaykey.network.presets import load_satellite_preset
    >>> tle = load_satellite_preset()["satellite"]["tle"][0]
    >>> sat = Satellite.from_tle(tle["line1"], tle["line2"], "micius")
    >>> gs = GroundStation("xinglong", 40.3958, 117.5775, 890.0)
    >>> ps = find_passes(sat, gs, datetime(2016, 12, 19, tzinfo=UTC),
    ...                  datetime(2016, 12, 20, tzinfo=UTC))
    >>> 2 <= len(ps) <= 8
    True
    """
    if end_utc <= start_utc:
        raise ValueError("end_utc must be after start_utc")
    if step_s <= 0:
        raise ValueError("step_s must be > 0")
    j0, j1 = _jd(start_utc), _jd(end_utc)
    n = math.ceil((j1 - j0) * 86400.0 / step_s) + 1
    jd = np.linspace(j0, j1, n)
    el, _ = satellite.look(station, jd)

    def f_h(t: float) -> float:
        return float(satellite.look(station, np.array([t]))[0][0]) - horizon_deg

    def f_q(t: float) -> float:
        return float(satellite.look(station, np.array([t]))[0][0]) - min_elevation_deg

    events = _crossings(f_h, jd, el - horizon_deg)
    passes: list[Pass] = []
    for (t_rise, up), (t_set, up2) in itertools.pairwise(events):
        if not up or up2:
            continue
        # Optimise in seconds from rise: in Julian days the optimiser's relative
        # tolerance (sqrt(eps) |x|) would be close to an hour.
        res = minimize_scalar(
            lambda s, t0=t_rise: -f_h(t0 + s / 86400.0),
            bounds=(0.0, (t_set - t_rise) * 86400.0),
            method="bounded",
            options={"xatol": 0.05},
        )
        t_cul = t_rise + float(res.x) / 86400.0
        max_el = float(-res.fun) + horizon_deg
        sun = float(sun_elevation_deg(station, np.array([t_cul]))[0])
        q0 = q1 = None
        if max_el > min_elevation_deg:
            qa = brentq(f_q, t_rise, t_cul, xtol=0.05 / 86400.0)
            qb = brentq(f_q, t_cul, t_set, xtol=0.05 / 86400.0)
            q0, q1 = _to_dt(qa), _to_dt(qb)
        passes.append(
            Pass(
                station=station.name,
                rise_utc=_to_dt(t_rise),
                culmination_utc=_to_dt(t_cul),
                set_utc=_to_dt(t_set),
                max_elevation_deg=max_el,
                min_range_km=float(satellite.look(station, np.array([t_cul]))[1][0]),
                night=sun < sun_max_elevation_deg,
                qkd_start_utc=q0,
                qkd_end_utc=q1,
            )
        )
    return passes


@dataclass(frozen=True)
class PassProfile:
    """Time series over a pass's QKD window (for plots and per-pass key)."""

    t_s: NDArray[np.float64]
    elevation_deg: NDArray[np.float64]
    range_km: NDArray[np.float64]
    loss_db: NDArray[np.float64]
    sifted_rate_bps: NDArray[np.float64]
    asymptotic_key_rate_bps: NDArray[np.float64]


def pass_profile(
    satellite: Satellite,
    station: GroundStation,
    p: Pass,
    budget: LinkBudget | None = None,
    params: LinkParams | None = None,
    step_s: float = 1.0,
) -> PassProfile:
    """Loss, sifted-key rate and asymptotic secret-key rate over the QKD window.

    The asymptotic rate is the Lim et al. bound of a block of 10^6 seconds at that
    instant's loss, divided by 10^6 s (finite-size terms vanish); it is a curve to look
    at, not the pass's key, which :func:`key_per_pass` computes as one finite block.
    """
    if p.qkd_start_utc is None or p.qkd_end_utc is None:
        z = np.zeros(0)
        return PassProfile(z, z, z, z, z, z)
    budget = budget or replace(
        LinkBudget.calibrated(), receiver_aperture_m=station.receiver_aperture_m
    )
    params = params or load_preset("micius", loss_db=30.0)
    j0, j1 = _jd(p.qkd_start_utc), _jd(p.qkd_end_utc)
    n = max(2, int((j1 - j0) * 86400.0 / step_s) + 1)
    jd = np.linspace(j0, j1, n)
    el, rng_km = satellite.look(station, jd)
    loss = budget.loss_db(rng_km, el)
    rate = params.source.repetition_rate_hz
    sifted = np.empty(n)
    asym = np.empty(n)
    for i, ldb in enumerate(loss):
        c = expected_counts(params, rate, loss_db=float(ldb))
        sifted[i] = float(c.n_x.sum() + c.n_z.sum())
        big = expected_counts(params, rate * 1e6, loss_db=float(ldb))
        asym[i] = block_key_bits(params, big)[0] / 1e6
    return PassProfile((jd - j0) * 86400.0, el, rng_km, loss, sifted, asym)


def key_per_pass(
    satellite: Satellite,
    station: GroundStation,
    p: Pass,
    budget: LinkBudget | None = None,
    params: LinkParams | None = None,
    step_s: float = 1.0,
    require_night: bool = True,
    extra_loss_db: float = 0.0,
) -> Pass:
    """The pass with its finite-key length over the whole QKD window filled in.

    Expected counts of each ``step_s`` slice (at that slice's loss) are summed and one
    Lim et al. (2014) block is taken over the sum. Day passes (when ``require_night``)
    and passes that never reach the minimum elevation yield 0. ``extra_loss_db`` adds a
    constant loss on top of the budget (e.g. ground detector efficiency, when the budget's
    calibration points are read as excluding it).

    Returns
    -------
    Pass
        A copy with ``key_bits``, ``sifted_bits`` and ``qber``.
    """
    if (require_night and not p.night) or p.qkd_start_utc is None:
        return p
    params = params or load_preset("micius", loss_db=30.0)
    budget = budget or replace(
        LinkBudget.calibrated(), receiver_aperture_m=station.receiver_aperture_m
    )
    if p.qkd_end_utc is None:
        return p
    j0, j1 = _jd(p.qkd_start_utc), _jd(p.qkd_end_utc)
    n = max(2, int((j1 - j0) * 86400.0 / step_s) + 1)
    jd = np.linspace(j0, j1, n)
    el, rng_km = satellite.look(station, jd)
    loss = budget.loss_db(rng_km, el) + extra_loss_db
    dt = (j1 - j0) * 86400.0 / (n - 1)
    counts = counts_over_profile(params, loss, dt)
    bits, qber = block_key_bits(params, counts)
    return replace(
        p,
        key_bits=int(bits),
        sifted_bits=float(counts.n_x.sum() + counts.n_z.sum()),
        qber=qber,
        loss_db_profile=tuple(float(x) for x in loss),
        profile_step_s=float(dt),
    )


def counts_over_profile(
    params: LinkParams, loss_db_profile: Sequence[float] | NDArray[np.float64], step_s: float
) -> DecoyCounts:
    """Expected counts of a block whose loss is sampled every ``step_s`` (trapezoid rule).

    Example
    -------
    >>> p = load_preset("micius", loss_db=30.0)
    >>> c = counts_over_profile(p, [30.0, 30.0, 30.0], 1.0)
    >>> bool(abs(c.n_x.sum() / expected_counts(p, 2e8).n_x.sum() - 1) < 1e-12)
    True
    """
    loss = np.asarray(loss_db_profile, dtype=np.float64)
    if loss.size < 2 or step_s <= 0:
        raise ValueError("loss_db_profile needs two or more samples and step_s > 0")
    per_slice = params.source.repetition_rate_hz * step_s
    tot = [np.zeros(3) for _ in range(4)]
    last = loss.size - 1
    for i, ldb in enumerate(loss):
        w = 0.5 if i in (0, last) else 1.0
        c = expected_counts(params, per_slice * w, loss_db=float(ldb))
        for acc, arr in zip(tot, (c.n_x, c.n_z, c.m_x, c.m_z), strict=True):
            acc += arr
    return DecoyCounts(n_x=tot[0], n_z=tot[1], m_x=tot[2], m_z=tot[3])


def relay_xor(key_a: bytes, key_b: bytes) -> bytes:
    """What a trusted satellite announces to join two ground stations: ``K_A xor K_B``.

    Station A, holding ``K_A``, recovers ``K_B = K_A xor (K_A xor K_B)``; anyone who sees
    only the announcement learns nothing about either key (a one-time pad), but the
    satellite itself knows both: it is a *trusted* relay.

    Example
    -------
    >>> ka, kb = bytes([1, 2, 3]), bytes([7, 7, 7])
    >>> bytes(x ^ y for x, y in zip(ka, relay_xor(ka, kb))) == kb
    True
    """
    if len(key_a) != len(key_b):
        raise ValueError("the two keys must have the same length")
    return bytes(x ^ y for x, y in zip(key_a, key_b, strict=True))


def station_from_entry(entry: dict[str, object]) -> GroundStation:
    """A :class:`GroundStation` from a preset node entry."""
    return GroundStation(
        name=str(entry["name"]),
        lat_deg=float(entry["lat_deg"]),  # type: ignore[arg-type]
        lon_deg=float(entry["lon_deg"]),  # type: ignore[arg-type]
        altitude_m=float(entry.get("altitude_m", 0.0)),  # type: ignore[arg-type]
        receiver_aperture_m=float(entry.get("receiver_aperture_m", 1.0)),  # type: ignore[arg-type]
    )


def utc(year: int, month: int, day: int, hours: float = 0.0) -> datetime:
    """A UTC datetime (convenience for examples and tests)."""
    return datetime(year, month, day, tzinfo=UTC) + timedelta(hours=hours)


def passes_for_topology(
    topology_links: Sequence[tuple[str, str, str]],
    stations: dict[str, dict[str, object]],
    satellite: Satellite,
    start_utc: datetime,
    duration_s: float,
    min_elevation_deg: float = 10.0,
    budget: LinkBudget | None = None,
) -> dict[str, list[Pass]]:
    """Passes with their key for every satellite-to-ground link of a topology.

    Parameters
    ----------
    topology_links
        ``(link name, satellite node, ground node)`` for each free-space link.
    stations
        Ground-station entries by node name (``lat_deg``, ``lon_deg``, ``altitude_m``,
        ``receiver_aperture_m``), as the ``micius`` preset gives them.
    satellite
        The propagated satellite.
    start_utc, duration_s
        The window.
    min_elevation_deg
        QKD minimum elevation.
    budget
        Link budget (default :meth:`LinkBudget.calibrated`, i.e. calibrated for Xinglong's
        1 m telescope); each station's own aperture replaces the receiver aperture.

    Returns
    -------
    dict
        Link name -> passes (with ``key_bits``) in time order.
    """
    out: dict[str, list[Pass]] = {}
    end = start_utc + timedelta(seconds=duration_s)
    for name, _sat_node, ground in topology_links:
        if ground not in stations:
            raise ValueError(f"no ground-station entry for node {ground!r}")
        gs = station_from_entry(stations[ground])
        b = replace(budget or LinkBudget.calibrated(), receiver_aperture_m=gs.receiver_aperture_m)
        found = find_passes(satellite, gs, start_utc, end, min_elevation_deg=min_elevation_deg)
        out[name] = [key_per_pass(satellite, gs, p, b) for p in found]
    return out
