"""Entangled pairs from a satellite to two ground stations at once (BBM92, no trusted node).

A *shared window* is a time when the satellite is above ``min_elevation_deg`` at both
stations at once (skyfield, :mod:`quaykey.network.orbit`). Over a window, each downlink's
loss comes from its own slant range and elevation with the single-downlink channel model
(:class:`~quaykey.network.downlink.Downlink`: diffraction, atmosphere by airmass,
pointing, ground optics); the two arms, the source and the detectors make the two-photon
link of :mod:`quaykey.physics.entangled` (coincidences, QBER, BBM92 key). The satellite
holds no key: it emits pairs and measures nothing.

The Yin et al. (2020) budget (:data:`YIN2020_DOWNLINK`, :data:`YIN2020_LINK`) says at each
figure whether it is published, assumed or fitted; ``docs/validation.md`` compares the
result with the paper.

References
----------
Yin et al., "Entanglement-based secure quantum cryptography over 1,120 kilometres",
Nature 582, 501-505 (2020): stations, 1.2 m telescopes, ~10 urad transmitters (text
beside Fig. 1), 2.2 Hz two-photon rate at 15:1 signal-to-noise, 1.1 Hz sifted, QBER
~4.5 % (p. 503), f_e = 1.19, 0.43 and 0.12 bit/s, 372 bits (p. 504), 3,100 s of data
(Extended Data Fig. 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from quaykey.network.downlink import Downlink
from quaykey.network.orbit import GroundStation, Satellite, sample_times, sun_elevation_deg
from quaykey.physics.entangled import (
    TwoPhotonCounts,
    TwoPhotonLink,
    asymptotic_key_per_window,
    coincidence_records,
    finite_key_bits,
    two_photon_counts,
)
from quaykey.postproc.channel import AuthKeyPool
from quaykey.postproc.driver import run_block
from quaykey.postproc.pipeline import SecuritySettings
from quaykey.postproc.report import BlockResult
from quaykey.units import binary_entropy

__all__ = [
    "YIN2020_DOWNLINK",
    "YIN2020_LINK",
    "YIN2020_STATIONS",
    "DualProfile",
    "DualSummary",
    "DualWindow",
    "dual_profile",
    "find_dual_windows",
    "night_windows",
    "postprocess",
    "summarise",
    "window_key",
]

#: Delingha and Nanshan as Yin et al. (2020) give them (text beside Fig. 1), both with the
#: newly built 1.2 m telescopes.
YIN2020_STATIONS: dict[str, GroundStation] = {
    "delingha": GroundStation("delingha", 37.0 + 22 / 60 + 44.43 / 3600,
                              97.0 + 43 / 60 + 37.01 / 3600, 3153.0, 1.2),
    "nanshan": GroundStation("nanshan", 43.0 + 28 / 60 + 31.66 / 3600,
                             87.0 + 10 / 60 + 36.07 / 3600, 2028.0, 1.2),
}  # fmt: skip

#: Each downlink of the entanglement distribution. Published: ~10 urad divergence, 1.2 m
#: receivers. Assumed: the 300 mm transmitter aperture, atmosphere and pointing of the
#: ``micius-2017`` budget (Liao et al. 2017). Fitted: the ground optics, to the published
#: 2.2 Hz average two-photon rate over 3,100 s of shared night windows
#: (``tests/unit/network/test_yin2020_validation.py``).
YIN2020_DOWNLINK = Downlink(
    divergence_urad=10.0,
    transmitter_aperture_m=0.30,
    receiver_aperture_m=1.2,
    atm_zenith_loss_db=2.5,
    pointing_loss_db=2.2,
    receiver_optical_efficiency=0.44,
    source="Yin et al., Nature 582, 501 (2020) (ground optics fitted, see docs/validation.md)",
)

#: The source, detectors and post-processing. Published: f_e = 1.19 (Hamming code) and
#: epsilon = 1e-10. Assumed (not in the text available to us): 5.9e6 pairs/s, a 2.5 ns
#: coincidence window, 50 % detectors. Fitted: the noise clicks (to the 15:1
#: signal-to-noise) and the visibility (to the ~4.5 % QBER).
YIN2020_LINK = TwoPhotonLink(
    pair_rate_hz=5.9e6,
    coincidence_window_s=2.5e-9,
    detector_efficiency=0.5,
    noise_a_hz=3400.0,
    noise_b_hz=3400.0,
    visibility=0.971,
    ec_inefficiency=1.19,
    epsilon=1e-10,
    source="Yin et al., Nature 582, 501 (2020) (pair rate, window assumed; noise fitted)",
)


@dataclass(frozen=True)
class DualProfile:
    """Time series over a shared window (arrays of one length, one entry per step)."""

    t_s: NDArray[np.float64]
    step_s: float
    elevation_a_deg: NDArray[np.float64]
    elevation_b_deg: NDArray[np.float64]
    range_a_km: NDArray[np.float64]
    range_b_km: NDArray[np.float64]
    loss_a_db: NDArray[np.float64]
    loss_b_db: NDArray[np.float64]
    counts: TwoPhotonCounts = field(repr=False)
    key_per_attempt: NDArray[np.float64] = field(repr=False)
    attempts_per_second: float = 0.0

    @property
    def coincidence_rate_hz(self) -> NDArray[np.float64]:
        """Two-photon coincidences per second."""
        return self.counts.p_coincidence * self.attempts_per_second

    @property
    def asymptotic_key_rate_bps(self) -> NDArray[np.float64]:
        """Secret bits per second, asymptotic."""
        return self.key_per_attempt * self.attempts_per_second

    @property
    def link_loss_db(self) -> NDArray[np.float64]:
        """Two-downlink loss, satellite to the detectors' inputs (detectors not included)."""
        return self.loss_a_db + self.loss_b_db


@dataclass(frozen=True)
class DualWindow:
    """A time when the satellite is above the minimum elevation at both stations.

    ``coincidences`` ... ``finite_key_bits`` are filled by :func:`window_key` (0 before).
    """

    station_a: str
    station_b: str
    start_utc: datetime
    end_utc: datetime
    max_elevation_a_deg: float
    max_elevation_b_deg: float
    min_range_sum_km: float
    max_range_sum_km: float
    night: bool
    coincidences: float = 0.0
    sifted_bits: float = 0.0
    qber: float = 0.0
    asymptotic_key_bits: float = 0.0
    finite_key_bits: float = 0.0

    @property
    def duration_s(self) -> float:
        """Length of the window, seconds."""
        return (self.end_utc - self.start_utc).total_seconds()


def _look_both(
    sat: Satellite, a: GroundStation, b: GroundStation, start: datetime, end: datetime, n: int
) -> tuple[NDArray[np.float64], ...]:
    t = sample_times(start, end, n)
    el_a, rng_a = sat.look(a, t)
    el_b, rng_b = sat.look(b, t)
    return el_a, rng_a, el_b, rng_b


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Inclusive index ranges of the True runs."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0] - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _refine(
    sat: Satellite, a: GroundStation, b: GroundStation, t0: datetime, t1: datetime, min_el: float
) -> tuple[datetime, datetime] | None:
    """The shared window inside ``[t0, t1]`` to a 1 s grid (the longest run)."""
    n = max(2, int((t1 - t0).total_seconds()) + 1)
    el_a, _, el_b, _ = _look_both(sat, a, b, t0, t1, n)
    runs = _runs((el_a >= min_el) & (el_b >= min_el))
    if not runs:
        return None
    i0, i1 = max(runs, key=lambda r: r[1] - r[0])
    if i1 == i0:
        return None
    step = (t1 - t0) / (n - 1)
    return t0 + i0 * step, t0 + i1 * step


def find_dual_windows(
    satellite: Satellite,
    station_a: GroundStation,
    station_b: GroundStation,
    start_utc: datetime,
    end_utc: datetime,
    min_elevation_deg: float = 10.0,
    sun_max_elevation_deg: float = -12.0,
    coarse_step_s: float = 10.0,
) -> list[DualWindow]:
    """Shared windows of two stations between two times (edges to ~1 s).

    A window is at night when the Sun is below ``sun_max_elevation_deg`` at both stations
    at its middle. Windows cut by the search edges are kept as cut.

    Raises
    ------
    ValueError
        For an empty search window, a step <= 0 or an elevation outside [0, 90].

    Example
    -------
    >>> from datetime import UTC
    >>> from quaykey.network.orbit import satellites_from_entry
    >>> from quaykey.network.presets import load_satellite_preset
    >>> sat = satellites_from_entry(load_satellite_preset()["satellite"])[0]
    >>> a, b = YIN2020_STATIONS["delingha"], YIN2020_STATIONS["nanshan"]
    >>> day = datetime(2016, 12, 18, tzinfo=UTC)
    >>> ws = find_dual_windows(sat, a, b, day, day + timedelta(days=1))
    >>> len(ws) >= 1 and all(60 < w.duration_s < 600 for w in ws)
    True
    """
    if end_utc <= start_utc:
        raise ValueError("end_utc must be after start_utc")
    if not coarse_step_s > 0:
        raise ValueError(f"coarse_step_s must be > 0, got {coarse_step_s!r}")
    if not 0.0 <= min_elevation_deg <= 90.0:
        raise ValueError(f"min_elevation_deg must be in [0, 90], got {min_elevation_deg!r}")
    span = (end_utc - start_utc).total_seconds()
    n = max(2, int(span / coarse_step_s) + 1)
    el_a, _, el_b, _ = _look_both(satellite, station_a, station_b, start_utc, end_utc, n)
    step = (end_utc - start_utc) / (n - 1)
    out: list[DualWindow] = []
    for i0, i1 in _runs((el_a >= min_elevation_deg) & (el_b >= min_elevation_deg)):
        t0 = max(start_utc, start_utc + (i0 - 1) * step)
        t1 = min(end_utc, start_utc + (i1 + 1) * step)
        edges = _refine(satellite, station_a, station_b, t0, t1, min_elevation_deg)
        if edges is None:
            continue
        w0, w1 = edges
        m = max(2, int((w1 - w0).total_seconds()) + 1)
        ea, ra, eb, rb = _look_both(satellite, station_a, station_b, w0, w1, m)
        mid = w0 + (w1 - w0) / 2
        sun = max(
            float(sun_elevation_deg(station_a, mid)[0]),
            float(sun_elevation_deg(station_b, mid)[0]),
        )
        out.append(
            DualWindow(
                station_a=station_a.name,
                station_b=station_b.name,
                start_utc=w0,
                end_utc=w1,
                max_elevation_a_deg=float(ea.max()),
                max_elevation_b_deg=float(eb.max()),
                min_range_sum_km=float((ra + rb).min()),
                max_range_sum_km=float((ra + rb).max()),
                night=sun < sun_max_elevation_deg,
            )
        )
    return out


def dual_profile(
    satellite: Satellite,
    station_a: GroundStation,
    station_b: GroundStation,
    window: DualWindow,
    link: TwoPhotonLink = YIN2020_LINK,
    downlink_a: Downlink = YIN2020_DOWNLINK,
    downlink_b: Downlink = YIN2020_DOWNLINK,
    step_s: float = 1.0,
) -> DualProfile:
    """Geometry, loss, coincidences, QBER and asymptotic key over a window, every ``step_s``.

    Each arm's transmittance is its downlink's loss (channel plus ground optics) times the
    detectors' efficiency.
    """
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    duration = window.duration_s
    n = max(2, int(duration / step_s) + 1)
    el_a, rng_a, el_b, rng_b = _look_both(
        satellite, station_a, station_b, window.start_utc, window.end_utc, n
    )
    loss_a = downlink_a.loss_db(rng_a, el_a)
    loss_b = downlink_b.loss_db(rng_b, el_b)
    eta_a = 10.0 ** (-loss_a / 10.0) * link.detector_efficiency
    eta_b = 10.0 ** (-loss_b / 10.0) * link.detector_efficiency
    counts = two_photon_counts(link, eta_a, eta_b)
    return DualProfile(
        t_s=np.linspace(0.0, duration, n),
        step_s=duration / (n - 1),
        elevation_a_deg=el_a,
        elevation_b_deg=el_b,
        range_a_km=rng_a,
        range_b_km=rng_b,
        loss_a_db=loss_a,
        loss_b_db=loss_b,
        counts=counts,
        key_per_attempt=asymptotic_key_per_window(link, counts),
        attempts_per_second=link.windows_per_second,
    )


@dataclass(frozen=True)
class DualSummary:
    """Totals over a stretch of data (one window, or several as one block).

    ``mean_link_loss_db`` is the time average of the two-downlink loss to the detectors'
    inputs; ``link_efficiency`` the time average of ``eta_a * eta_b``, the two-photon link
    efficiency with the detectors.
    """

    duration_s: float
    coincidences: float
    sifted_bits: float
    qber: float
    asymptotic_key_bits: float
    finite_key_bits: float
    mean_link_loss_db: float
    signal_to_noise: float
    link_efficiency: float = 0.0

    @property
    def coincidence_rate_hz(self) -> float:
        """Average two-photon rate."""
        return self.coincidences / self.duration_s if self.duration_s else 0.0

    @property
    def asymptotic_rate_bps(self) -> float:
        """Average asymptotic key rate."""
        return self.asymptotic_key_bits / self.duration_s if self.duration_s else 0.0

    @property
    def finite_rate_bps(self) -> float:
        """Finite key over the stretch, per second."""
        return self.finite_key_bits / self.duration_s if self.duration_s else 0.0


def summarise(
    profiles: list[DualProfile], link: TwoPhotonLink, max_seconds: float | None = None
) -> DualSummary:
    """Counts of ``profiles`` (in order, cut after ``max_seconds`` of data) as one block.

    Both keys are those of one block of all the sifted bits at the block's average QBER,
    as Yin et al. (2020) processed their 3,100 s: asymptotic ``n (1 - f_e h(E) - h(E))``
    and finite (:func:`~quaykey.physics.entangled.finite_key_bits`). The per-instant
    asymptotic curve is :attr:`DualProfile.asymptotic_key_rate_bps`.
    """
    dt_parts, pc_parts, pt_parts, err_parts, loss_parts, eff_parts = [], [], [], [], [], []
    left = np.inf if max_seconds is None else float(max_seconds)
    for p in profiles:
        if left <= 0:
            break
        dt = np.full(p.t_s.size, p.step_s)
        dt[0] = dt[-1] = p.step_s / 2.0  # trapezoid weights over the window
        cum = np.cumsum(dt)
        dt = np.where(cum <= left, dt, np.maximum(0.0, left - (cum - dt)))
        left -= float(dt.sum())
        dt_parts.append(dt)
        pc_parts.append(p.counts.p_coincidence)
        pt_parts.append(p.counts.p_true)
        err_parts.append(p.counts.qber * p.counts.p_coincidence)
        loss_parts.append(p.link_loss_db)
        eff_parts.append(p.counts.eta_a * p.counts.eta_b)
    if not dt_parts:
        return DualSummary(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    dt = np.concatenate(dt_parts)
    per_s = link.windows_per_second
    coinc = float(np.sum(np.concatenate(pc_parts) * dt) * per_s)
    true = float(np.sum(np.concatenate(pt_parts) * dt) * per_s)
    errors = float(np.sum(np.concatenate(err_parts) * dt) * per_s)
    qber = errors / coinc if coinc > 0 else 0.5
    sifted = coinc / 2.0
    h_e = float(binary_entropy(qber))
    duration = float(dt.sum())
    return DualSummary(
        duration_s=duration,
        coincidences=coinc,
        sifted_bits=sifted,
        qber=qber,
        asymptotic_key_bits=sifted * max(0.0, 1.0 - (link.ec_inefficiency + 1.0) * h_e),
        finite_key_bits=finite_key_bits(sifted, qber, link.ec_inefficiency, link.epsilon),
        mean_link_loss_db=float(np.sum(np.concatenate(loss_parts) * dt) / duration),
        signal_to_noise=true / (coinc - true) if coinc > true else float("inf"),
        link_efficiency=float(np.sum(np.concatenate(eff_parts) * dt) / duration),
    )


def window_key(
    satellite: Satellite,
    station_a: GroundStation,
    station_b: GroundStation,
    window: DualWindow,
    link: TwoPhotonLink = YIN2020_LINK,
    downlink: Downlink = YIN2020_DOWNLINK,
    step_s: float = 1.0,
    require_night: bool = True,
) -> DualWindow:
    """The window with its coincidences, QBER and key (asymptotic, finite as one block).

    By day (when ``require_night``) the window is returned unchanged (no key).
    """
    if require_night and not window.night:
        return window
    prof = dual_profile(satellite, station_a, station_b, window, link, downlink, downlink, step_s)
    s = summarise([prof], link)
    return replace(
        window,
        coincidences=s.coincidences,
        sifted_bits=s.sifted_bits,
        qber=s.qber,
        asymptotic_key_bits=s.asymptotic_key_bits,
        finite_key_bits=s.finite_key_bits,
    )


def night_windows(
    satellite: Satellite,
    station_a: GroundStation,
    station_b: GroundStation,
    start_utc: datetime,
    seconds: float,
    max_days: float = 60.0,
    min_elevation_deg: float = 10.0,
) -> list[DualWindow]:
    """Night shared windows from ``start_utc`` on, until they hold ``seconds`` of data.

    Raises
    ------
    ValueError
        When ``max_days`` of search do not hold that much.
    """
    found: list[DualWindow] = []
    total = 0.0
    day = start_utc
    while total < seconds:
        if (day - start_utc).total_seconds() >= max_days * 86400.0:
            raise ValueError(f"fewer than {seconds:g} s of night windows in {max_days:g} days")
        nxt = day + timedelta(days=1)
        for w in find_dual_windows(
            satellite, station_a, station_b, day, nxt, min_elevation_deg=min_elevation_deg
        ):
            if w.night:
                found.append(w)
                total += w.duration_s
        day = nxt
    return found


def postprocess(
    summary: DualSummary,
    link: TwoPhotonLink,
    rng: np.random.Generator,
    reconciler: str = "cascade",
    preshared_auth_bits: int = 200_000,
) -> BlockResult:
    """The two stations' post-processing of a stretch of data, through the two-party pipeline.

    Records are drawn at the stretch's expected coincidences and QBER
    (:func:`~quaykey.physics.entangled.coincidence_records`) and run through
    :func:`quaykey.postproc.driver.run_block`: sifting, parameter estimation, error
    correction, verification, privacy amplification, each station its own party over the
    authenticated channel. The key basis is X (one basis; the pipeline's own BBM92
    finite-key bound, Tomamichel et al. 2012, decides the length).

    Raises
    ------
    quaykey.errors.SecurityAbortError
        When the counts do not allow a key (too few bits, QBER above 11 %).
    """
    alice, bob = coincidence_records(
        link, summary.coincidences, summary.qber, summary.duration_s, rng
    )
    auth = AuthKeyPool.pre_shared(preshared_auth_bits, seed=int(rng.integers(0, 2**31)))
    settings = SecuritySettings(epsilon_sec=link.epsilon, epsilon_cor=1e-15)
    return run_block(
        alice,
        bob,
        auth_alice=auth[0],
        auth_bob=auth[1],
        reconciler=reconciler,
        security=settings,
        seed=int(rng.integers(0, 2**31)),
        auth_replenish_bits=0,  # the pre-shared key pays; the whole final key is shown
    )
