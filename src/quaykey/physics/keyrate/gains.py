"""Expected gains and QBERs of a link: the detector model of :mod:`quaykey.physics.detectors`
applied to a link's parameters, and the helpers every key-rate model shares.

Detection model (two threshold detectors, dark counts, misalignment, double clicks squashed
to a random bit, next-gate afterpulses whose background comes from the intensity mix sent,
or Lim et al. (2014)'s per-pulse approximation): see
:func:`quaykey.physics.detectors.click_probabilities`. BBM92: the thermal-source gain and QBER
of Ma, Fung, Lo, PRA 76, 012307 (2007), source in the middle of the link.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.detectors import click_probabilities
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource

__all__ = [
    "bbm92_gain_qber",
    "decoy_source",
    "expected_gains_and_qbers",
    "intensity_mix",
    "qber_per_intensity",
    "sifting_factor",
    "system_transmittance",
]


def system_transmittance(params: LinkParams) -> float:
    """``eta = eta_channel * eta_detector``: probability that a sent photon reaches a click.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> round(system_transmittance(load_preset("gys", distance_km=0)), 3)
    0.045
    """
    return float(params.channel.transmittance()) * float(params.detector.efficiency)


def decoy_source(params: LinkParams) -> DecoySource:
    """The link's decoy source, or a ``ValueError`` naming the model to use instead."""
    if not isinstance(params.source, DecoySource):
        raise ValueError(
            "source must be a DecoySource (weak coherent pulses) for this model; "
            "use model='bbm92' for an SPDC source"
        )
    return params.source


def sifting_factor(qx: float) -> float:
    """Fraction of pulses kept when both bases are sifted: ``q_x^2 + (1 - q_x)^2``."""
    return qx * qx + (1.0 - qx) ** 2


def qber_per_intensity(gain: NDArray[np.float64], err: NDArray[np.float64]) -> NDArray[np.float64]:
    """Error rate per intensity; 0 where nothing is detected (no clicks, no errors)."""
    out = np.zeros_like(gain)
    np.divide(err, gain, out=out, where=gain > 0)
    return out


def intensity_mix(source: DecoySource, mu: Sequence[float]) -> tuple[list[float], list[float]]:
    """The intensities sent (the source's, with the first ``len(mu)`` replaced) and their
    probabilities: the mix that sets the afterpulse background."""
    ks = [*(float(x) for x in mu), *source.intensities[len(mu) :]]
    return ks[: len(source.intensities)], list(source.probabilities)


def bbm92_gain_qber(params: LinkParams, mean_pairs: float) -> tuple[float, float]:
    """Ma-Fung-Lo thermal-source coincidence gain and QBER, source in the middle."""
    eta_arm = math.sqrt(float(params.channel.transmittance())) * params.detector.efficiency
    y0 = 1.0 - (1.0 - params.detector.dark_count_probability) ** 2
    e_d = params.detector.misalignment_error
    lam = mean_pairs / 2.0  # MFL: lambda is half the expected pair number
    ea = eb = eta_arm
    denom_ab = 1.0 + ea * lam + eb * lam - ea * eb * lam
    gain = (
        1.0
        - (1.0 - y0) / (1.0 + ea * lam) ** 2
        - (1.0 - y0) / (1.0 + eb * lam) ** 2
        + (1.0 - y0) ** 2 / denom_ab**2
    )
    e0 = 0.5
    err = e0 * gain - 2.0 * (e0 - e_d) * lam * (1.0 + lam) * ea * eb / (
        (1.0 + ea * lam) * (1.0 + eb * lam) * denom_ab
    )
    gain *= 1.0 + params.detector.afterpulse_probability
    qber = min(max(err / gain, 0.0), 0.5) if gain > 0 else 0.5
    return gain, qber


def expected_gains_and_qbers(params: LinkParams) -> dict[str, tuple[float, float]]:
    """Expected gain and QBER of each of the source's intensities (matching bases).

    The gain is the probability that Bob registers a click (after squashing double clicks)
    when Alice sends a pulse of that intensity and both chose the same basis; the QBER is
    the fraction of those clicks with the wrong bit. The exact model is documented in
    :func:`click_probabilities` (two detectors, dark counts ``p_d`` per detector,
    misalignment ``e_d``, double clicks to a random bit, afterpulses in the next gate from
    the source's own intensity mix (or Lim et al.'s approximation, per
    ``detector.afterpulse_model``); no dead time) with
    ``eta = channel transmittance * detector efficiency``. This is what
    :func:`quaykey.physics.sampler.simulate_link` samples for an honest fibre link with
    dead time 0.

    For an SPDC source the single entry ``"pair"`` holds the coincidence probability and
    QBER of the ``bbm92`` model.

    Parameters
    ----------
    params
        The link.

    Returns
    -------
    dict
        ``{intensity name: (gain_per_pulse, qber)}``.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> out = expected_gains_and_qbers(load_preset("gys", distance_km=50))
    >>> sorted(out), round(out["vacuum"][1], 3)
    (['decoy', 'signal', 'vacuum'], 0.5)
    """
    if isinstance(params.source, SPDCSource):
        gain, qber = bbm92_gain_qber(params, params.source.mean_pairs_per_pulse)
        return {"pair": (gain, qber)}
    source = decoy_source(params)
    gains, errs = click_probabilities(
        system_transmittance(params),
        source.intensities,
        params.detector,
        probabilities=source.probabilities,
        basis_match_probability=sifting_factor(source.basis_probability_x),
    )
    return {
        name: (float(g), float(e / g) if g > 0 else 0.0)
        for name, g, e in zip(source.names, gains.tolist(), errs.tolist(), strict=True)
    }
