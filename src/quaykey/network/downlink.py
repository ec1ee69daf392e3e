"""The free-space downlink from a satellite telescope to a ground station's detectors.

The loss is split the way Liao et al. (2017) report it, each term with its published
value:

channel (depends on the geometry)
    * diffraction: a beam of full divergence ``theta`` (~10 urad for Micius) from a
      ``D_t`` = 300 mm telescope has a spot of diameter ``sqrt(D_t^2 + (theta L)^2)`` at
      slant range ``L``; a receiving telescope of diameter ``D_r`` collects
      ``(D_r / spot)^2`` of it (22 dB at 1,200 km for the 1 m Xinglong telescope, the
      paper's own estimate);
    * atmosphere (absorption and turbulence): ``A_zenith * airmass(elevation)``, with the
      Kasten-Young airmass; the paper gives 3-8 dB at 1,200 km;
    * pointing: a constant, "less than 3 dB" in the paper.
ground station (fixed)
    * receiver optics: "the overall optical efficiency including the receiving telescope
      and the fiber coupling on the ground station is ~16 %".

The detectors' efficiency (50 %), their dark counts and the background light are the
link's :class:`~quaykey.physics.params.Detector` parameters, not part of this budget, so
that ``--param detector.efficiency=...`` and the like act on a pass as on a fibre link.

Which numbers are published and which are chosen (the zenith atmospheric loss and the
pointing loss, inside the published ranges, so that the pass reproduces the published
sifted-key rates) is said at each :data:`DOWNLINKS` entry and in ``docs/validation.md``.

References
----------
Liao et al., "Satellite-to-ground quantum key distribution", Nature 549, 43-47 (2017),
section "Experimental challenges and solutions" (apertures, divergence, loss terms) and
"Experimental procedure and results" (receiver optical efficiency, detectors).
Chen et al., "An integrated space-to-ground quantum communication network over 4,600
kilometres", Nature 589, 214-219 (2021).
Kasten & Young, "Revised optical air mass tables and approximation formula",
Appl. Opt. 28, 4735 (1989).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DOWNLINKS",
    "Downlink",
    "airmass",
    "downlink_for",
    "elevation_for_range_deg",
]

_EARTH_RADIUS_KM = 6371.0


def airmass(elevation_deg: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Kasten & Young (1989) relative optical airmass (1 at the zenith, ~38 at the horizon).

    Example
    -------
    >>> round(float(airmass(90.0)), 3)
    1.0
    """
    el = np.asarray(elevation_deg, dtype=np.float64)
    return 1.0 / (np.sin(np.radians(el)) + 0.50572 * (el + 6.07995) ** -1.6364)


def elevation_for_range_deg(range_km: float, orbit_altitude_km: float) -> float:
    """Elevation at which a satellite at ``orbit_altitude_km`` is ``range_km`` away.

    Spherical Earth of 6,371 km: ``a^2 = R^2 + d^2 + 2 R d sin(el)``.

    Example
    -------
    >>> round(elevation_for_range_deg(500.0, 500.0), 1)
    90.0
    """
    a = _EARTH_RADIUS_KM + orbit_altitude_km
    r = _EARTH_RADIUS_KM
    sin_el = (a * a - r * r - range_km * range_km) / (2.0 * r * range_km)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


@dataclass(frozen=True)
class Downlink:
    """Loss from the satellite's telescope to the input of the ground detectors.

    Parameters
    ----------
    divergence_urad
        Full-angle beam divergence, microradians.
    transmitter_aperture_m, receiver_aperture_m
        Telescope diameters.
    atm_zenith_loss_db
        Atmospheric (absorption plus turbulence) loss at the zenith; scaled by the airmass.
    pointing_loss_db
        Constant pointing loss.
    receiver_optical_efficiency
        Ground station optics, telescope to detector fibre (not the detectors).
    source
        Where the figures come from.

    Example
    -------
    >>> d = DOWNLINKS["micius-2017"]
    >>> round(float(d.diffraction_loss_db(1200.0)), 1)  # Liao et al.: "22 dB at 1200 km"
    21.6
    """

    divergence_urad: float = 10.0
    transmitter_aperture_m: float = 0.30
    receiver_aperture_m: float = 1.0
    atm_zenith_loss_db: float = 2.0
    pointing_loss_db: float = 2.0
    receiver_optical_efficiency: float = 0.16
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("divergence_urad", "transmitter_aperture_m", "receiver_aperture_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("atm_zenith_loss_db", "pointing_loss_db"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 < self.receiver_optical_efficiency <= 1.0:
            raise ValueError(
                "receiver_optical_efficiency must be in (0, 1], "
                f"got {self.receiver_optical_efficiency!r}"
            )

    def with_receiver_aperture(self, receiver_aperture_m: float) -> Downlink:
        """A copy for another ground telescope."""
        return replace(self, receiver_aperture_m=float(receiver_aperture_m))

    def diffraction_loss_db(self, range_km: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Beam-spreading loss into the receiving aperture (0 dB when the spot is smaller)."""
        length_m = np.asarray(range_km, dtype=np.float64) * 1000.0
        spot2 = self.transmitter_aperture_m**2 + (self.divergence_urad * 1e-6 * length_m) ** 2
        collected = np.minimum(1.0, self.receiver_aperture_m**2 / spot2)
        return -10.0 * np.log10(collected)

    def atmospheric_loss_db(
        self, elevation_deg: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """Absorption and turbulence loss at ``elevation_deg``."""
        return self.atm_zenith_loss_db * airmass(elevation_deg)

    def channel_loss_db(
        self, range_km: NDArray[np.float64] | float, elevation_deg: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """Diffraction + atmosphere + pointing: satellite telescope to ground telescope."""
        return (
            self.diffraction_loss_db(range_km)
            + self.atmospheric_loss_db(elevation_deg)
            + self.pointing_loss_db
        )

    @property
    def receiver_loss_db(self) -> float:
        """The ground station's optical loss."""
        return -10.0 * math.log10(self.receiver_optical_efficiency)

    def loss_db(
        self, range_km: NDArray[np.float64] | float, elevation_deg: NDArray[np.float64] | float
    ) -> NDArray[np.float64]:
        """Channel plus ground optics: the loss a link's ``channel.loss_db`` stands for.

        The detectors' efficiency comes on top, from the link's parameters.
        """
        return self.channel_loss_db(range_km, elevation_deg) + self.receiver_loss_db


#: Downlink budgets by link hardware preset name (``micius-2017``, ``micius-2021``).
DOWNLINKS: dict[str, Downlink] = {
    # Liao et al. 2017: 300 mm transmitter, ~10 urad divergence, 1 m receiver at
    # Xinglong, ground optical efficiency ~16 % (key from both bases is the link's
    # security setting, quaykey.physics.params.SecurityParams.key_from_both_bases).
    # Published as ranges: atmosphere 3-8 dB and pointing < 3 dB at 1,200 km. Chosen
    # inside them: 2.5 dB at the zenith (7.5 dB at the 19.5 deg elevation of 1,200 km,
    # airmass 3.0) and 2.2 dB of pointing, which give the published ~12 kbit/s sifted
    # rate at 645 km and the sifted key of the whole 19 Dec 2016 pass (docs/validation.md).
    "micius-2017": Downlink(
        divergence_urad=10.0,
        transmitter_aperture_m=0.30,
        receiver_aperture_m=1.0,
        atm_zenith_loss_db=2.5,
        pointing_loss_db=2.2,
        receiver_optical_efficiency=0.16,
        source="Liao et al., Nature 549, 43 (2017)",
    ),
    # Chen et al. 2021: the upgraded system, 47.8 kbit/s of secret key on average over a
    # typical pass. The upgraded hardware is not in the text available to us, so this is a
    # fitted scenario, not a published budget: ground optics of 50 % (assumed) and a beam
    # divergence of 5.5 urad (fitted to the 47.8 kbit/s over the 1,200 km window of the
    # 52.5 deg night pass over Xinglong of 23 Apr 2021, docs/validation.md); atmosphere
    # and pointing as in 2017.
    "micius-2021": Downlink(
        divergence_urad=5.5,
        transmitter_aperture_m=0.30,
        receiver_aperture_m=1.0,
        atm_zenith_loss_db=2.5,
        pointing_loss_db=2.2,
        receiver_optical_efficiency=0.5,
        source="Chen et al., Nature 589, 214 (2021) (fitted, see docs/validation.md)",
    ),
}


def downlink_for(preset: str) -> Downlink:
    """The downlink budget of a free-space link preset.

    Raises
    ------
    ValueError
        For a preset without a downlink budget.
    """
    if preset not in DOWNLINKS:
        raise ValueError(
            f"no downlink budget for link preset {preset!r}; "
            f"choose one of: {', '.join(sorted(DOWNLINKS))}"
        )
    return DOWNLINKS[preset]
