"""Satellite passes over ground stations, their loss profile and the key of each pass.

A pass is a rise above the horizon, a culmination and a set, found by skyfield
(:mod:`quaykey.network.orbit`). QKD runs only while the elevation is above
``min_elevation_deg`` (10 deg by default) and only at night (the Sun below
``sun_max_elevation_deg`` at culmination, -12 deg by default: nautical twilight).

Key per pass
    The loss of every ``step_s`` slice of the QKD window comes from the link's
    :class:`~quaykey.network.downlink.Downlink` (range and elevation); that loss profile
    goes through THE link-block seam (:mod:`quaykey.network.links`) as one block over the
    whole pass, as Liao et al. (2017) did with the data of one pass: the statistical
    implementation at the expected counts (no draws), the link's own parameters (source,
    detectors, overrides, key from one basis or both) and the Lim et al. (2014) length.

References
----------
Liao et al., "Satellite-to-ground quantum key distribution", Nature 549, 43-47 (2017).
Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for practical decoy-state
quantum key distribution", PRA 89, 022307 (2014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from quaykey.network.downlink import Downlink, downlink_for
from quaykey.network.dual_downlink import YIN2020_STATIONS, find_dual_windows, window_key
from quaykey.network.links.block import BlockWindow, LossProfile
from quaykey.network.links.statistical import StatisticalBlock, block_key_bits
from quaykey.network.orbit import (
    GroundStation,
    Satellite,
    sample_times,
    station_from_entry,
    sun_elevation_deg,
)
from quaykey.physics.counts import expected_counts
from quaykey.physics.params import LinkParams

if TYPE_CHECKING:
    from quaykey.network.topology import Link

__all__ = [
    "Pass",
    "PassProfile",
    "WindowCredit",
    "find_passes",
    "key_per_pass",
    "pass_profile",
    "passes_for_topology",
    "windows_for_topology",
    "within_range",
]


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


def _triples(events: list[tuple[datetime, int]]) -> list[tuple[datetime, datetime, datetime]]:
    """Complete rise-culmination-set triples (passes cut by the window edges dropped)."""
    out = []
    for i in range(len(events) - 2):
        (t0, k0), (t1, k1), (t2, k2) = events[i : i + 3]
        if (k0, k1, k2) == (0, 1, 2):
            out.append((t0, t1, t2))
    return out


def _qkd_window(
    rise: datetime, sett: datetime, above: list[tuple[datetime, int]]
) -> tuple[datetime | None, datetime | None]:
    """The rise and set above the QKD elevation that fall inside one pass."""
    inside = [(t, k) for t, k in above if rise <= t <= sett]
    starts = [t for t, k in inside if k == 0]
    ends = [t for t, k in inside if k == 2]
    if not starts or not ends:
        return None, None
    return starts[0], ends[-1]


def find_passes(
    satellite: Satellite,
    station: GroundStation,
    start_utc: datetime,
    end_utc: datetime,
    horizon_deg: float = 0.0,
    min_elevation_deg: float = 10.0,
    sun_max_elevation_deg: float = -12.0,
) -> list[Pass]:
    """Passes of ``satellite`` over ``station`` that rise and set between two times.

    Parameters
    ----------
    satellite, station
        What passes over what.
    start_utc, end_utc
        Search window (timezone-aware). Passes cut by the window edges are dropped.
    horizon_deg
        Elevation that defines rise and set.
    min_elevation_deg
        Elevation above which QKD runs.
    sun_max_elevation_deg
        The pass is a night pass when the Sun is below this at culmination.

    Returns
    -------
    list of Pass
        In time order, with ``key_bits`` 0 (see :func:`key_per_pass`).

    Raises
    ------
    ValueError
        For an empty window or ``min_elevation_deg`` outside [horizon, 90].

    Example
    -------
    >>> from datetime import UTC
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
    if not horizon_deg <= min_elevation_deg <= 90.0:
        raise ValueError(
            f"min_elevation_deg must be in [{horizon_deg:g}, 90], got {min_elevation_deg!r}"
        )
    triples = _triples(satellite.events(station, start_utc, end_utc, horizon_deg))
    if not triples:
        return []
    above = (
        satellite.events(station, start_utc, end_utc, min_elevation_deg)
        if min_elevation_deg > horizon_deg
        else []
    )
    culminations = [c for _, c, _ in triples]
    el, rng_km = satellite.look(station, culminations)
    sun = sun_elevation_deg(station, culminations)
    passes = []
    for i, (rise, cul, sett) in enumerate(triples):
        if min_elevation_deg > horizon_deg:
            q0, q1 = _qkd_window(rise, sett, above)
        else:
            q0, q1 = rise, sett
        passes.append(
            Pass(
                station=station.name,
                rise_utc=rise,
                culmination_utc=cul,
                set_utc=sett,
                max_elevation_deg=float(el[i]),
                min_range_km=float(rng_km[i]),
                night=bool(sun[i] < sun_max_elevation_deg),
                qkd_start_utc=q0,
                qkd_end_utc=q1,
            )
        )
    return passes


def within_range(
    satellite: Satellite, station: GroundStation, p: Pass, max_range_km: float
) -> Pass:
    """The pass with its QKD window narrowed to slant ranges up to ``max_range_km``.

    Liao et al. (2017) report the data of the part of a pass within 1,200 km (Fig. 3);
    this gives the same window. Found to ~0.1 s on a 0.1 s grid; a pass that never comes
    that close gets no QKD window.

    Raises
    ------
    ValueError
        For ``max_range_km`` <= 0.
    """
    if not max_range_km > 0:
        raise ValueError(f"max_range_km must be > 0, got {max_range_km!r}")
    if p.qkd_start_utc is None or p.qkd_end_utc is None:
        return p
    duration_s = (p.qkd_end_utc - p.qkd_start_utc).total_seconds()
    n = max(2, int(duration_s * 10) + 1)
    _, rng_km = satellite.look(station, sample_times(p.qkd_start_utc, p.qkd_end_utc, n))
    inside = np.nonzero(rng_km <= max_range_km)[0]
    if inside.size == 0:
        return replace(p, qkd_start_utc=None, qkd_end_utc=None)
    step = timedelta(seconds=duration_s / (n - 1))
    return replace(
        p,
        qkd_start_utc=p.qkd_start_utc + int(inside[0]) * step,
        qkd_end_utc=p.qkd_start_utc + int(inside[-1]) * step,
    )


@dataclass(frozen=True)
class PassProfile:
    """Time series over a pass's QKD window (for plots and per-pass key)."""

    t_s: NDArray[np.float64]
    elevation_deg: NDArray[np.float64]
    range_km: NDArray[np.float64]
    loss_db: NDArray[np.float64]
    sifted_rate_bps: NDArray[np.float64]
    asymptotic_key_rate_bps: NDArray[np.float64]


def _geometry(
    satellite: Satellite,
    station: GroundStation,
    start: datetime,
    end: datetime,
    step_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """Seconds from ``start``, elevation and range every ~``step_s``, and the exact step."""
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    duration_s = (end - start).total_seconds()
    n = max(2, int(duration_s / step_s) + 1)
    el, rng_km = satellite.look(station, sample_times(start, end, n))
    return np.linspace(0.0, duration_s, n), el, rng_km, duration_s / (n - 1)


def _downlink(params: LinkParams, station: GroundStation, downlink: Downlink | None) -> Downlink:
    base = downlink if downlink is not None else downlink_for(params.name.split(":")[0])
    return base.with_receiver_aperture(station.receiver_aperture_m)


def pass_profile(
    satellite: Satellite,
    station: GroundStation,
    p: Pass,
    params: LinkParams,
    downlink: Downlink | None = None,
    step_s: float = 1.0,
) -> PassProfile:
    """Loss, sifted-key rate and asymptotic secret-key rate over the QKD window.

    The sifted rate counts both bases (what Liao et al. 2017 plot in Fig. 3). The
    asymptotic rate (key from one basis or both, as the link's security settings say) is
    the Lim et al. bound of a block of 10^6 seconds at that instant's
    loss, divided by 10^6 s (finite-size terms vanish); it is a curve to look at, not the
    pass's key, which :func:`key_per_pass` computes as one finite block.
    """
    if p.qkd_start_utc is None or p.qkd_end_utc is None:
        z = np.zeros(0)
        return PassProfile(z, z, z, z, z, z)
    link = _downlink(params, station, downlink)
    t_s, el, rng_km, _ = _geometry(satellite, station, p.qkd_start_utc, p.qkd_end_utc, step_s)
    loss = link.loss_db(rng_km, el)
    rate = params.source.repetition_rate_hz
    sifted = np.empty(loss.size)
    asym = np.empty(loss.size)
    for i, ldb in enumerate(loss):
        c = expected_counts(params, rate, loss_db=float(ldb))
        sifted[i] = float(c.n_x.sum() + c.n_z.sum())
        big = expected_counts(params, rate * 1e6, loss_db=float(ldb))
        asym[i] = block_key_bits(params, big)[0] / 1e6
    return PassProfile(t_s, el, rng_km, loss, sifted, asym)


def key_per_pass(
    satellite: Satellite,
    station: GroundStation,
    p: Pass,
    params: LinkParams,
    downlink: Downlink | None = None,
    step_s: float = 1.0,
    require_night: bool = True,
) -> Pass:
    """The pass with its finite-key length over the whole QKD window filled in.

    Parameters
    ----------
    satellite, station, p
        The pass (from :func:`find_passes`).
    params
        The link's own parameters (preset with its overrides): source, detectors,
        security. Their ``channel.loss_db`` is ignored: the loss comes from the downlink.
    downlink
        The downlink budget; by default the one of the preset ``params.name`` names
        (:func:`~quaykey.network.downlink.downlink_for`). The station's aperture replaces
        the receiver aperture.
    step_s
        Slice length.
    require_night
        Day passes yield 0.

    Returns
    -------
    Pass
        A copy with ``key_bits`` (0 when the block aborts), ``sifted_bits`` (both bases),
        ``qber`` (key basis) and the loss profile; unchanged by day (when
        ``require_night``) and below the minimum elevation.
    """
    if (require_night and not p.night) or p.qkd_start_utc is None or p.qkd_end_utc is None:
        return p
    link = _downlink(params, station, downlink)
    _, el, rng_km, dt = _geometry(satellite, station, p.qkd_start_utc, p.qkd_end_utc, step_s)
    profile = LossProfile.from_samples(link.loss_db(rng_km, el), dt)
    outcome = StatisticalBlock(draw=False).run(
        params,
        BlockWindow(0.0, profile.duration_s),
        np.random.default_rng(0),  # unused: no draws
        name=p.station,
        loss=profile,
    )
    return replace(
        p,
        key_bits=outcome.key_bits,
        sifted_bits=outcome.sifted_bits,
        qber=outcome.qber,
        loss_db_profile=profile.loss_db,
        profile_step_s=profile.step_s,
    )


def passes_for_topology(
    links: Sequence[Link],
    stations: dict[str, dict[str, object]],
    satellite: Satellite,
    start_utc: datetime,
    duration_s: float,
    min_elevation_deg: float = 10.0,
) -> dict[str, list[Pass]]:
    """Passes with their key for every satellite-to-ground link of a topology.

    Parameters
    ----------
    links
        The free-space links (``a`` the satellite, ``b`` the ground station); each link's
        own parameters (preset and overrides, :meth:`Link.params`) and its preset's
        downlink budget give its key.
    stations
        Ground-station entries by node name (``lat_deg``, ``lon_deg``, ``altitude_m``,
        ``receiver_aperture_m``), as the ``micius`` preset gives them.
    satellite
        The propagated satellite.
    start_utc, duration_s
        The window.
    min_elevation_deg
        QKD minimum elevation.

    Returns
    -------
    dict
        Link name -> passes (with ``key_bits``) in time order.

    Raises
    ------
    ValueError
        When a link's ground end has no station entry.
    """
    out: dict[str, list[Pass]] = {}
    end = start_utc + timedelta(seconds=duration_s)
    for link in links:
        ground = link.b if link.b in stations else link.a
        if ground not in stations:
            raise ValueError(f"no ground-station entry for link {link.name!r}")
        gs = station_from_entry(stations[ground])
        params = link.params()
        downlink = downlink_for(link.preset)
        found = find_passes(satellite, gs, start_utc, end, min_elevation_deg=min_elevation_deg)
        out[link.name] = [key_per_pass(satellite, gs, p, params, downlink) for p in found]
    return out


@dataclass(frozen=True)
class WindowCredit:
    """The key an ``entangled`` link makes in one shared night window (a simulation's
    :class:`~quaykey.network.sim.PassKey`): it lands at ``qkd_end_utc``."""

    rise_utc: datetime
    qkd_end_utc: datetime | None
    key_bits: int
    sifted_bits: float
    qber: float
    loss_db_profile: tuple[float, ...] = ()
    profile_step_s: float = 0.0


def windows_for_topology(
    links: Sequence[Link],
    stations: dict[str, dict[str, object]],
    satellite: Satellite,
    start_utc: datetime,
    duration_s: float,
    min_elevation_deg: float = 10.0,
) -> dict[str, list[WindowCredit]]:
    """The key of every ``entangled`` link of a topology, shared night window by window.

    Each link's two ends are ground stations (coordinates from
    :data:`~quaykey.network.dual_downlink.YIN2020_STATIONS` where it names them, else from
    ``stations``); the windows come from
    :func:`~quaykey.network.dual_downlink.find_dual_windows` and their key from
    :func:`~quaykey.network.dual_downlink.window_key` with the Yin et al. (2020) budget.
    A window is credited its *asymptotic* key: one window's ~500 sifted bits are too few
    for a positive finite key (Yin et al. processed 3,100 s, about seven nights, as one
    block), which ``docs/network.md`` states.

    Raises
    ------
    ValueError
        When an end of a link has no ground-station entry.
    """

    def station(name: str) -> GroundStation:
        if name in YIN2020_STATIONS:
            return YIN2020_STATIONS[name]
        if name not in stations:
            raise ValueError(f"no ground-station entry for node {name!r}")
        return station_from_entry(stations[name])

    out: dict[str, list[WindowCredit]] = {}
    end = start_utc + timedelta(seconds=duration_s)
    for link in links:
        a, b = station(link.a), station(link.b)
        found = find_dual_windows(satellite, a, b, start_utc, end, min_elevation_deg)
        keyed = [window_key(satellite, a, b, w) for w in found if w.night]
        out[link.name] = [
            WindowCredit(w.start_utc, w.end_utc, int(w.asymptotic_key_bits), w.sifted_bits, w.qber)
            for w in keyed
        ]
    return out
