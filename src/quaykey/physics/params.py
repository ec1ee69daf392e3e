"""Parameters of a QKD link: source, channel, detector, protocol and security settings.

Every parameter object is a frozen dataclass that validates itself on construction and
raises :class:`ValueError` naming the offending parameter. Presets reproduce the parameter
sets of the papers we validate against (see ``docs/validation.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from quaykey.records import PublicProtocol
from quaykey.units import db_to_transmittance

__all__ = [
    "FREE_SPACE_PRESETS",
    "PRESETS",
    "DecoySource",
    "Detector",
    "FibreChannel",
    "FreeSpaceChannel",
    "LinkParams",
    "SPDCSource",
    "SecurityParams",
    "load_preset",
]


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class DecoySource:
    """Weak coherent pulses with decoy intensities (prepare-and-measure BB84).

    Parameters
    ----------
    intensities
        Mean photon numbers, strictly decreasing (signal > decoy > vacuum or weak vacuum).
    probabilities
        Probability of each intensity; each in [0, 1] and summing to 1.
    names
        A name per intensity (default ``signal``, ``decoy``, ``vacuum``).
    basis_probability_x
        Probability of the key basis X for Alice and Bob (efficient BB84 when > 0.5).
    repetition_rate_hz
        Pulse repetition rate.
    """

    intensities: tuple[float, ...] = (0.5, 0.1, 0.0)
    probabilities: tuple[float, ...] = (0.5, 0.25, 0.25)
    names: tuple[str, ...] = ("signal", "decoy", "vacuum")
    basis_probability_x: float = 0.5
    repetition_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        for name in ("intensities", "probabilities", "names"):
            if isinstance(getattr(self, name), str | bytes) or not hasattr(
                getattr(self, name), "__iter__"
            ):
                raise ValueError(f"{name} must be a list of values, got {getattr(self, name)!r}")
        for name in ("intensities", "probabilities"):
            try:
                [float(x) for x in getattr(self, name)]
            except (TypeError, ValueError):
                raise ValueError(f"{name} must hold numbers, got {getattr(self, name)!r}") from None
        object.__setattr__(self, "intensities", tuple(float(x) for x in self.intensities))
        object.__setattr__(self, "probabilities", tuple(float(x) for x in self.probabilities))
        object.__setattr__(self, "names", tuple(str(x) for x in self.names))
        if not 1 <= len(self.intensities) <= 8:
            raise ValueError("intensities must hold between 1 and 8 values")
        if len(self.probabilities) != len(self.intensities):
            raise ValueError(
                f"probabilities has {len(self.probabilities)} values but intensities has "
                f"{len(self.intensities)}"
            )
        if len(self.names) != len(self.intensities):
            raise ValueError(
                f"names has {len(self.names)} values but intensities has {len(self.intensities)}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names must be distinct, got {self.names}")
        for i, mu in enumerate(self.intensities):
            _check_nonnegative(f"intensities[{i}]", mu)
        for i, p in enumerate(self.probabilities):
            _check_probability(f"probabilities[{i}]", p)
        if abs(sum(self.probabilities) - 1.0) > 1e-9:
            raise ValueError(f"probabilities must sum to 1, got {sum(self.probabilities)!r}")
        if any(a <= b for a, b in zip(self.intensities, self.intensities[1:], strict=False)):
            raise ValueError(
                f"intensities must be strictly decreasing (signal > decoy > vacuum), "
                f"got {self.intensities}"
            )
        _check_probability("basis_probability_x", self.basis_probability_x)
        _check_positive("repetition_rate_hz", self.repetition_rate_hz)

    def protocol(self) -> PublicProtocol:
        """The public protocol settings this source implies."""
        return PublicProtocol(
            kind="bb84-decoy",
            intensities=self.intensities,
            intensity_names=self.names,
            intensity_probabilities=self.probabilities,
            basis_probability_x=self.basis_probability_x,
            repetition_rate_hz=self.repetition_rate_hz,
        )


@dataclass(frozen=True)
class SPDCSource:
    """Entangled-pair source (spontaneous parametric down-conversion) for BBM92.

    The number of pairs per pulse follows a thermal (Bose–Einstein) distribution of mean
    ``mean_pairs_per_pulse`` when ``statistics == "thermal"`` (single mode) or Poisson
    (many modes).
    """

    mean_pairs_per_pulse: float = 0.05
    basis_probability_x: float = 0.5
    repetition_rate_hz: float = 1e8
    statistics: Literal["thermal", "poisson"] = "thermal"

    def __post_init__(self) -> None:
        _check_positive("mean_pairs_per_pulse", self.mean_pairs_per_pulse)
        _check_probability("basis_probability_x", self.basis_probability_x)
        _check_positive("repetition_rate_hz", self.repetition_rate_hz)
        if self.statistics not in ("thermal", "poisson"):
            raise ValueError(f"statistics must be 'thermal' or 'poisson', got {self.statistics!r}")

    def protocol(self) -> PublicProtocol:
        """The public protocol settings this source implies."""
        return PublicProtocol(
            kind="bbm92",
            intensities=(self.mean_pairs_per_pulse,),
            intensity_names=("pair",),
            intensity_probabilities=(1.0,),
            basis_probability_x=self.basis_probability_x,
            repetition_rate_hz=self.repetition_rate_hz,
        )


@dataclass(frozen=True)
class FibreChannel:
    """Optical fibre: ``attenuation_db_per_km * length_km + fixed_loss_db`` of loss."""

    length_km: float = 50.0
    attenuation_db_per_km: float = 0.2
    fixed_loss_db: float = 0.0

    def __post_init__(self) -> None:
        _check_nonnegative("length_km", self.length_km)
        _check_nonnegative("attenuation_db_per_km", self.attenuation_db_per_km)
        _check_nonnegative("fixed_loss_db", self.fixed_loss_db)

    @property
    def loss_db(self) -> float:
        """Total channel loss in dB."""
        return self.attenuation_db_per_km * self.length_km + self.fixed_loss_db

    def transmittance(self, time_s: float = 0.0) -> float:
        """Power transmittance (constant in time for fibre)."""
        return db_to_transmittance(self.loss_db)


@dataclass(frozen=True)
class FreeSpaceChannel:
    """Free-space channel with a loss that may vary in time (satellite passes).

    ``loss_db`` is the loss when ``loss_db_at`` is not given; ``loss_db_at(time_s)`` gives a
    time-varying loss (the satellite module builds one from pass geometry).
    """

    loss_db: float = 30.0
    loss_db_at: Callable[[float], float] | None = field(default=None, compare=False)
    length_km: float = 0.0

    def __post_init__(self) -> None:
        _check_nonnegative("loss_db", self.loss_db)
        _check_nonnegative("length_km", self.length_km)

    def transmittance(self, time_s: float = 0.0) -> float:
        """Power transmittance at ``time_s``."""
        loss = self.loss_db if self.loss_db_at is None else float(self.loss_db_at(time_s))
        return db_to_transmittance(loss)


@dataclass(frozen=True)
class Detector:
    """Bob's (or either party's) threshold detectors: one per bit value.

    Parameters
    ----------
    efficiency
        Detection efficiency including Bob's optics (eta_Bob).
    dark_count_probability
        Dark-count probability per gate, *per detector*.
    afterpulse_probability
        Probability that a click (not itself an afterpulse) is followed by an afterpulse.
    dead_time_s
        Dead time after a click (0 for none).
    misalignment_error
        Probability that a photon hits the wrong detector (optical misalignment, e_d).
    afterpulse_model
        How the *analytic* models of :mod:`quaykey.physics.keyrate` treat afterpulses.
        ``"next-gate"`` (default): the afterpulse is a click of the same detector in the
        next gate, whatever Alice sent there (what the link sampler simulates).
        ``"lim2014"``: Lim et al. (2014)'s per-pulse approximation, gain ``D (1 + p_ap)``
        and errors ``+ p_ap D / 2``, kept to reproduce that paper's figures. The sampler
        always simulates next-gate afterpulses.
    """

    efficiency: float = 0.1
    dark_count_probability: float = 1e-6
    afterpulse_probability: float = 0.0
    dead_time_s: float = 0.0
    misalignment_error: float = 0.01
    afterpulse_model: Literal["next-gate", "lim2014"] = "next-gate"

    def __post_init__(self) -> None:
        _check_probability("efficiency", self.efficiency)
        if self.efficiency == 0.0:
            raise ValueError("efficiency must be > 0")
        _check_probability("dark_count_probability", self.dark_count_probability)
        _check_probability("afterpulse_probability", self.afterpulse_probability)
        _check_nonnegative("dead_time_s", self.dead_time_s)
        _check_probability("misalignment_error", self.misalignment_error)
        if self.misalignment_error > 0.5:
            raise ValueError(
                f"misalignment_error must be in [0, 0.5], got {self.misalignment_error!r}"
            )
        if self.afterpulse_model not in ("next-gate", "lim2014"):
            raise ValueError(
                f"afterpulse_model must be 'next-gate' or 'lim2014', got {self.afterpulse_model!r}"
            )


@dataclass(frozen=True)
class SecurityParams:
    """Post-processing and security settings (public).

    Parameters
    ----------
    error_correction_efficiency
        Nominal ``f`` of the analytic models (reconcilers charge their measured one).
    epsilon_sec, epsilon_cor
        Secrecy and correctness parameters of each key.
    key_from_both_bases
        Distil key from the sifted bits of both bases: the X-basis key with its phase
        error bounded from the Z-basis decoy statistics, plus the same with the bases
        swapped, each at ``epsilon_sec`` (symmetric BB84 with a passive 50:50 basis
        choice, as Liao et al., Nature 549, 43 (2017) ran it). ``False`` keeps the
        key-basis-only convention of Lim et al., PRA 89, 022307 (2014). Both link-block
        implementations (:mod:`quaykey.network.links`) honour it.
    """

    error_correction_efficiency: float = 1.16
    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-15
    key_from_both_bases: bool = False

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.error_correction_efficiency)
            and self.error_correction_efficiency >= 1.0
        ):
            raise ValueError(
                "error_correction_efficiency must be >= 1 (1 is the Shannon limit), "
                f"got {self.error_correction_efficiency!r}"
            )
        for name in ("epsilon_sec", "epsilon_cor"):
            value = getattr(self, name)
            if not (0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if not isinstance(self.key_from_both_bases, bool):
            raise ValueError(
                f"key_from_both_bases must be true or false, got {self.key_from_both_bases!r}"
            )


@dataclass(frozen=True)
class LinkParams:
    """Everything that defines one QKD link."""

    source: DecoySource | SPDCSource = field(default_factory=DecoySource)
    channel: FibreChannel | FreeSpaceChannel = field(default_factory=FibreChannel)
    detector: Detector = field(default_factory=Detector)
    security: SecurityParams = field(default_factory=SecurityParams)
    name: str = "custom"

    @property
    def distance_km(self) -> float:
        """The channel length in km (0 for a free-space channel given only by loss)."""
        return float(self.channel.length_km)

    def with_distance(self, distance_km: float) -> LinkParams:
        """A copy with the fibre length changed (fibre channels only)."""
        if not isinstance(self.channel, FibreChannel):
            raise ValueError(
                "with_distance needs a fibre channel; set the loss of a free-space "
                "channel with with_loss_db"
            )
        return replace(self, channel=replace(self.channel, length_km=float(distance_km)))

    def with_loss_db(self, loss_db: float) -> LinkParams:
        """A copy with the channel loss set (free-space channels only)."""
        if not isinstance(self.channel, FreeSpaceChannel):
            raise ValueError("with_loss_db needs a free-space channel")
        return replace(self, channel=replace(self.channel, loss_db=float(loss_db)))

    def with_overrides(self, overrides: Mapping[str, Any]) -> LinkParams:
        """A copy with dotted-path overrides, e.g. ``{"detector.efficiency": 0.2}``.

        Values may be text as typed (``"8e7"``, ``"0.5,0.1,0"``); see
        :func:`quaykey.physics.config.apply_overrides`, the one implementation.
        Raises ValueError naming an unknown parameter or a rejected value.
        """
        from quaykey.physics.config import apply_overrides

        return apply_overrides(self, overrides, source="")


def _gys(distance_km: float) -> LinkParams:
    # Gobby, Yuan, Shields, APL 84, 3762 (2004), as used by Ma, Qi, Zhao, Lo, PRA 72, 012326
    # (2005), Table I: alpha = 0.21 dB/km, eta_Bob = 4.5 %, Y0 = 1.7e-6 (both detectors),
    # e_detector = 3.3 %, f(e) = 1.22. The 1 GHz rate is ours (the paper is per pulse).
    return LinkParams(
        name="gys",
        source=DecoySource(
            intensities=(0.48, 0.05, 0.0),
            probabilities=(0.8, 0.1, 0.1),
            basis_probability_x=0.5,
            repetition_rate_hz=1e9,
        ),
        channel=FibreChannel(length_km=distance_km, attenuation_db_per_km=0.21),
        detector=Detector(
            efficiency=0.045, dark_count_probability=8.5e-7, misalignment_error=0.033
        ),
        security=SecurityParams(error_correction_efficiency=1.22),
    )


def _lim2014(distance_km: float) -> LinkParams:
    # Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), simulation of Fig. 1:
    # 0.2 dB/km, eta_Bob = 10 %, p_dc = 6e-7, p_ap = 4e-2, e_mis = 5e-3, f_EC = 1.16,
    # mu3 = 2e-4, eps_cor = 1e-15.
    return LinkParams(
        name="lim2014",
        source=DecoySource(
            intensities=(0.5, 0.1, 2e-4),
            probabilities=(0.7, 0.2, 0.1),
            basis_probability_x=0.9,
            repetition_rate_hz=1e9,
        ),
        channel=FibreChannel(length_km=distance_km, attenuation_db_per_km=0.2),
        detector=Detector(
            efficiency=0.1,
            dark_count_probability=6e-7,
            afterpulse_probability=4e-2,
            misalignment_error=5e-3,
        ),
        security=SecurityParams(
            error_correction_efficiency=1.16, epsilon_sec=1e-10, epsilon_cor=1e-15
        ),
    )


#: Liao et al. 2017: four detectors of 50 % efficiency and < 25 Hz of dark counts; photons
#: tagged in a 2 ns window. The background ("city stray light") is not published: 425 Hz
#: per detector is the rate that gives the published 1.1 % average QBER of the 19 Dec 2016
#: pass together with the 280:1 polarisation contrast (docs/validation.md).
_MICIUS_WINDOW_S = 2e-9
_MICIUS_DARK_HZ = 25.0
_MICIUS_BACKGROUND_HZ = 425.0


def _micius_2017(loss_db: float = 30.0) -> LinkParams:
    # Liao et al., "Satellite-to-ground quantum key distribution", Nature 549, 43 (2017),
    # "Experimental procedure and results": decoy BB84 downlink at 100 MHz (848.6 nm),
    # intensities 0.8 / 0.1 / 0 sent with probabilities 0.5 / 0.25 / 0.25; passive 50:50
    # basis choice at the ground station (sifted/detected = 0.47 on 19 Dec 2016); detectors
    # 50 % efficient; polarisation contrast 280:1 (misalignment 1/281); statistical failure
    # probability 1e-9; key from the sifted bits of both bases. The loss is the downlink's
    # (quaykey.network.downlink): diffraction, atmosphere, pointing and the ground station's
    # 16 % optics, not the detectors.
    return LinkParams(
        name="micius-2017",
        source=DecoySource(
            intensities=(0.8, 0.1, 0.0),
            probabilities=(0.5, 0.25, 0.25),
            basis_probability_x=0.5,
            repetition_rate_hz=1e8,
        ),
        channel=FreeSpaceChannel(loss_db=loss_db),
        detector=Detector(
            efficiency=0.5,
            dark_count_probability=(_MICIUS_DARK_HZ + _MICIUS_BACKGROUND_HZ) * _MICIUS_WINDOW_S,
            misalignment_error=1.0 / 281.0,
        ),
        security=SecurityParams(
            error_correction_efficiency=1.16, epsilon_sec=1e-9, key_from_both_bases=True
        ),
    )


def _micius_2021(loss_db: float = 30.0) -> LinkParams:
    # Chen et al., "An integrated space-to-ground quantum communication network over 4,600
    # kilometres", Nature 589, 214 (2021): the upgraded Micius downlink, 47.8 kbit/s of
    # secret key on average over a typical pass. The higher clock rate (200 MHz here) is an
    # assumption: the text available to us gives the key rate, not the upgraded hardware.
    # Everything else is the 2017 system; the downlink's ground optics carry the rest of
    # the improvement (quaykey.network.downlink.DOWNLINKS["micius-2021"]).
    base = _micius_2017(loss_db)
    return replace(base, name="micius-2021", source=replace(base.source, repetition_rate_hz=2e8))


def _backbone(distance_km: float) -> LinkParams:
    # A typical hop of the Beijing-Shanghai trunk on deployed cable: ~0.25 dB/km including
    # splices, 2 dB of connectors and patch panels, InGaAs APDs at 10 % efficiency and a
    # 625 MHz decoy-state transmitter (the class of hardware described for the trunk).
    # Intensities, their probabilities and the basis bias are the finite-key optimum
    # (Lim et al. 2014) of a 70 km hop for blocks of 1e6-1e7 key-basis bits, rounded, so
    # that a 10 s block of this preset already yields key (`quaykey link keyrate --model
    # finite --block-bits 1e6 --preset backbone --distance-km 70` shows the optimum).
    return LinkParams(
        name="backbone",
        source=DecoySource(
            intensities=(0.5, 0.25, 0.0),
            probabilities=(0.4, 0.4, 0.2),
            basis_probability_x=0.8,
            repetition_rate_hz=6.25e8,
        ),
        channel=FibreChannel(length_km=distance_km, attenuation_db_per_km=0.25, fixed_loss_db=2.0),
        detector=Detector(
            efficiency=0.1,
            dark_count_probability=1e-6,
            afterpulse_probability=0.01,
            dead_time_s=0.0,
            misalignment_error=0.01,
        ),
        security=SecurityParams(error_correction_efficiency=1.16),
    )


PRESETS: dict[str, Callable[[float], LinkParams]] = {
    "gys": _gys,
    "lim2014": _lim2014,
    "micius-2017": _micius_2017,
    "micius-2021": _micius_2021,
    "backbone": _backbone,
}


#: Presets whose channel is free space (a satellite downlink): they take a loss, not a length.
FREE_SPACE_PRESETS: tuple[str, ...] = ("micius-2017", "micius-2021")


def load_preset(
    name: str, distance_km: float | None = None, loss_db: float | None = None
) -> LinkParams:
    """Return a preset's parameters at a distance (fibre) or loss (free space).

    Raises
    ------
    ValueError
        For an unknown preset name, a negative distance or loss.

    Examples
    --------
    >>> load_preset("gys", distance_km=50).channel.loss_db
    10.5
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    if name in FREE_SPACE_PRESETS:
        if distance_km is not None and loss_db is None:
            raise ValueError(
                f"the {name} preset is a free-space link: give loss_db, not distance_km"
            )
        params = PRESETS[name](30.0 if loss_db is None else loss_db)
        return params
    if loss_db is not None:
        raise ValueError(f"preset {name!r} is a fibre link: give distance_km, not loss_db")
    return PRESETS[name](50.0 if distance_km is None else distance_km)
