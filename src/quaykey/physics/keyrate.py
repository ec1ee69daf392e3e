"""Analytic secret-key rates of a QKD link and the repeaterless bounds (PLOB, TGW).

Models (``model=``):

``asymptotic``
    GLLP with infinitely many decoys: the single-photon yield and error rate are known
    exactly. Rate ``q {-Q_mu f h(E_mu) + Q_1 [1 - h(e_1)]}`` with ``Q_1 = Y_1 mu e^{-mu}``,
    optimised over the signal intensity ``mu`` (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005),
    GLLP rate and channel model).
``vacuum-weak``
    The same rate with ``Y_1`` and ``e_1`` bounded from a vacuum and one weak decoy of the
    source's second intensity ``nu`` (Ma et al. 2005, vacuum + weak decoy bounds); ``mu`` optimised.
``three-intensity``
    The asymptotic limit of ``finite``: Lim et al. (2014) bounds without fluctuations,
    ``q_x -> 1`` and ``p_mu1 -> 1``, optimised over ``mu1`` and ``mu2`` (``mu3`` fixed).
``finite``
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014): three intensities, a block
    of ``block_bits`` sifted X detections, optimised over ``{q_x, p_mu1, p_mu2, mu1, mu2}``
    (``mu3`` fixed, as in the paper).
``bbm92``
    Entanglement-based BBM92 with a thermal SPDC source in the middle of the link (each arm
    carries half the channel loss): the thermal-source gain and QBER of Ma, Fung, Lo,
    PRA 76, 012307 (2007); the mean pair number is optimised.

Detection model shared by every model (``expected_gains_and_qbers``): two threshold
detectors, one per bit value, each with dark-count probability ``p_d`` per gate; photons
reach the detector side with total transmittance ``eta = eta_channel * eta_detector`` and
hit the wrong detector with probability ``e_d``; a double click is squashed to a random bit.
Afterpulses follow the link sampler (``afterpulse_model="next-gate"``, the default): a click
not itself an afterpulse makes the same detector click again, with probability ``p_ap``, in
the next gate, whatever Alice sent there. Every gate therefore sees an afterpulse background
that depends on the *mix* of intensities sent (their probabilities ``p_k``), not on its own
intensity (:func:`afterpulse_background`). ``afterpulse_model="lim2014"`` keeps Lim et al.
(2014)'s per-pulse approximation instead: detections ``D (1 + p_ap)``, errors
``+ p_ap D / 2``. Dead time is not modelled (the background is that of dead time 0).

Sifting factor of the asymptotic BB84 models: ``q = q_x^2 + (1 - q_x)^2`` (both bases kept,
1/2 for the standard protocol). The finite and three-intensity models keep the X basis only.

The bounds ``plob_bound`` and ``tgw_bound`` take the transmittance of the *channel only*
(fibre or free space, without Bob's detector efficiency): that is the quantity the
repeaterless bounds are about, and every model here stays below it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from quaykey.decoy import (
    DecoyCounts,
    gllp_key_rate,
    lim2014_key_length,
    three_intensity_bounds,
    vacuum_weak_bounds,
)
from quaykey.physics.params import DecoySource, Detector, FibreChannel, LinkParams, SPDCSource
from quaykey.units import binary_entropy

__all__ = [
    "MODELS",
    "KeyRateResult",
    "ModelName",
    "afterpulse_background",
    "click_probabilities",
    "cutoff_distance_km",
    "expected_gains_and_qbers",
    "key_rate",
    "key_rate_curve",
    "observed_vacuum_weak_rate",
    "plob_bound",
    "single_photon_yield_and_error",
    "system_transmittance",
    "tgw_bound",
]

ModelName = Literal["asymptotic", "vacuum-weak", "three-intensity", "finite", "bbm92"]
MODELS: tuple[str, ...] = ("asymptotic", "vacuum-weak", "three-intensity", "finite", "bbm92")

_MU_MAX = 1.5  # largest signal intensity any optimiser may try


@dataclass(frozen=True)
class KeyRateResult:
    """Secret-key rate of one link under one model.

    Attributes
    ----------
    model
        The model name (see :data:`MODELS`).
    distance_km
        Fibre length (0 for a free-space channel given only by loss).
    secret_key_rate_per_pulse
        Secret bits per pulse sent (per pair-generation attempt for ``bbm92``), >= 0.
    secret_key_rate_bps
        ``secret_key_rate_per_pulse * repetition_rate_hz``.
    optimal_signal_intensity
        The signal intensity ``mu`` (mean pairs per pulse for ``bbm92``) that maximises the
        rate, or the source's own when not optimised.
    optimal_parameters
        Every optimised parameter by name (e.g. ``q_x``, ``p_mu1``, ``mu2``).
    plob_bound_per_pulse, tgw_bound_per_pulse
        Repeaterless bounds for the channel transmittance (detector efficiency excluded).
    qber
        Error rate of the key (signal) detections at the optimum.
    gain
        Detection probability per signal pulse at the optimum (coincidence probability for
        ``bbm92``).
    channel_transmittance
        The channel's power transmittance (detector excluded).
    block_bits
        The block size ``n_X`` of the ``finite`` model (``None`` otherwise).
    """

    model: str
    distance_km: float
    secret_key_rate_per_pulse: float
    secret_key_rate_bps: float
    optimal_signal_intensity: float
    optimal_parameters: dict[str, float] = field(compare=False)
    plob_bound_per_pulse: float
    tgw_bound_per_pulse: float
    qber: float
    gain: float
    channel_transmittance: float
    block_bits: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The result as a JSON-ready mapping whose keys carry units."""
        return {
            "model": self.model,
            "distance_km": self.distance_km,
            "secret_key_rate_per_pulse": self.secret_key_rate_per_pulse,
            "secret_key_rate_bps": self.secret_key_rate_bps,
            "optimal_signal_intensity": self.optimal_signal_intensity,
            "optimal_parameters": dict(self.optimal_parameters),
            "plob_bound_per_pulse": self.plob_bound_per_pulse,
            "tgw_bound_per_pulse": self.tgw_bound_per_pulse,
            "qber": self.qber,
            "gain_per_pulse": self.gain,
            "channel_transmittance": self.channel_transmittance,
            "block_bits": self.block_bits,
        }


# --------------------------------------------------------------------------- bounds


def _check_transmittance(transmittance: float) -> float:
    t = float(transmittance)
    if not (math.isfinite(t) and 0.0 <= t <= 1.0):
        raise ValueError(f"transmittance must be in [0, 1], got {transmittance!r}")
    return t


def plob_bound(transmittance: float) -> float:
    """PLOB repeaterless bound ``-log2(1 - eta)`` in secret bits per channel use.

    Parameters
    ----------
    transmittance
        Channel transmittance ``eta`` in [0, 1] (``inf`` at 1).

    Returns
    -------
    float
        The secret-key capacity of the pure-loss channel.

    Raises
    ------
    ValueError
        If ``transmittance`` is outside [0, 1].

    Example
    -------
    >>> round(plob_bound(0.01), 6)
    0.0145

    References
    ----------
    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017) (secret-key capacity
    of the pure-loss channel).
    """
    t = _check_transmittance(transmittance)
    return math.inf if t == 1.0 else -math.log2(1.0 - t)


def tgw_bound(transmittance: float) -> float:
    """TGW bound ``log2((1 + eta) / (1 - eta))`` in secret bits per channel use.

    Parameters
    ----------
    transmittance
        Channel transmittance ``eta`` in [0, 1] (``inf`` at 1).

    Returns
    -------
    float
        The squashed-entanglement bound of the pure-loss channel (about twice PLOB at
        low ``eta``).

    Raises
    ------
    ValueError
        If ``transmittance`` is outside [0, 1].

    Example
    -------
    >>> round(tgw_bound(0.01), 6)
    0.028855

    References
    ----------
    Takeoka, Guha, Wilde, Nat. Commun. 5, 5235 (2014) (squashed-entanglement bound of the
    pure-loss channel).
    """
    t = _check_transmittance(transmittance)
    return math.inf if t == 1.0 else math.log2((1.0 + t) / (1.0 - t))


# --------------------------------------------------------------------------- detection


def system_transmittance(params: LinkParams) -> float:
    """``eta = eta_channel * eta_detector``: probability that a sent photon reaches a click.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> round(system_transmittance(load_preset("gys", distance_km=0)), 3)
    0.045
    """
    return float(params.channel.transmittance()) * float(params.detector.efficiency)


def afterpulse_background(
    transmittance: float,
    intensities: Sequence[float] | NDArray[np.float64],
    probabilities: Sequence[float] | NDArray[np.float64],
    detector: Detector,
    *,
    basis_match_probability: float = 1.0,
) -> tuple[float, float]:
    """Afterpulse clicks that the previous gate leaves in any gate (next-gate model).

    A detector that fired in gate ``i`` because of light or a dark count (not because of an
    afterpulse alone) fires again in gate ``i + 1`` with probability ``p_ap``; afterpulses
    trigger no further afterpulses. With dead time 0 whether a detector fires "for real" in
    gate ``i`` does not depend on afterpulses, and pulses are independent, so the
    afterpulses of gate ``i + 1`` are independent of what Alice sends in it. With ``r`` the
    probability that a given detector fires for real in a gate and ``delta`` that both do,
    averaged over the intensities sent (``p_k``) and over matching (routing ``1 - e_d``)
    and non-matching (routing ``1/2``) bases:

    * ``a1 = p_ap r`` — an afterpulse on a given detector;
    * ``a2 = p_ap^2 delta`` — afterpulses on both detectors.

    Alice's bit in the gate is independent of the previous gate, so an afterpulse click is
    on the detector of her bit or the other one with probability 1/2 each.

    Parameters
    ----------
    transmittance
        ``eta``: channel transmittance times detector efficiency, in [0, 1].
    intensities, probabilities
        The intensities Alice sends and the probability of each (summing to 1).
    detector
        Dark counts, misalignment and ``afterpulse_probability``.
    basis_match_probability
        Probability that Bob's basis matches Alice's, ``q_x^2 + (1 - q_x)^2`` (it enters
        only at second order, through the routing of the previous gate's photons).

    Returns
    -------
    a1, a2
        Probability of an afterpulse on one given detector, and on both.

    Raises
    ------
    ValueError
        For probabilities that do not match the intensities or do not sum to 1, or a
        ``basis_match_probability`` outside [0, 1].

    Example
    -------
    >>> det = Detector(dark_count_probability=1e-6, afterpulse_probability=0.04)
    >>> a1, a2 = afterpulse_background(0.01, [0.5, 0.0], [0.5, 0.5], det)
    >>> round(a1 / (0.04 * (1e-6 + 0.01 * 0.25 / 2)), 3)  # p_ap (p_d + eta mean(k) / 2)
    0.998

    References
    ----------
    The detector model of :mod:`quaykey.physics.detectors` (what
    :func:`quaykey.physics.sampler.simulate_link` samples); Lim et al., PRA 89, 022307
    (2014), Sec. IV, for ``p_ap``.
    """
    eta = _check_transmittance(transmittance)
    k = np.asarray(intensities, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if k.shape != p.shape or k.ndim != 1:
        raise ValueError(
            f"probabilities must give one probability per intensity, got {p.size} for {k.size}"
        )
    if not (np.all(np.isfinite(p)) and np.all(p >= 0.0) and abs(float(p.sum()) - 1.0) < 1e-6):
        raise ValueError(f"probabilities must be >= 0 and sum to 1, got {p.tolist()}")
    m = float(basis_match_probability)
    if not (math.isfinite(m) and 0.0 <= m <= 1.0):
        raise ValueError(f"basis_match_probability must be in [0, 1], got {m!r}")
    pap = detector.afterpulse_probability
    if pap == 0.0:
        return 0.0, 0.0
    pd = detector.dark_count_probability
    ed = detector.misalignment_error
    # real (light or dark) firing of the detector of the previous gate's bit / the other one
    fire_c = 1.0 - (1.0 - pd) * np.exp(-eta * k * (1.0 - ed))
    fire_w = 1.0 - (1.0 - pd) * np.exp(-eta * k * ed)
    fire_h = 1.0 - (1.0 - pd) * np.exp(-eta * k * 0.5)  # bases differ: routing 1/2
    one = m * 0.5 * (fire_c + fire_w) + (1.0 - m) * fire_h
    both = m * fire_c * fire_w + (1.0 - m) * fire_h * fire_h
    return pap * float(p @ one), pap * pap * float(p @ both)


def _with_background(
    silent_c: NDArray[np.float64] | float,
    silent_w: NDArray[np.float64] | float,
    background: tuple[float, float],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gain and error probability once independent afterpulses are or-ed into a gate.

    ``silent_c`` / ``silent_w`` are the probabilities that the detector of Alice's bit / the
    other one does not fire for real (independent of each other); afterpulses hit a given
    detector with ``a1`` and both with ``a2``, independently of the real clicks.
    """
    a1, a2 = background
    sc = np.asarray(silent_c, dtype=np.float64)
    sw = np.asarray(silent_w, dtype=np.float64)
    quiet_c = sc * (1.0 - a1)  # detector of Alice's bit does not fire at all
    quiet_w = sw * (1.0 - a1)
    quiet_both = sc * sw * (1.0 - 2.0 * a1 + a2)
    gain = 1.0 - quiet_both
    # wrong detector alone, plus half of the double clicks (squashed to a random bit)
    err = (quiet_c - quiet_both) + 0.5 * (1.0 - quiet_c - quiet_w + quiet_both)
    return gain, err


def click_probabilities(
    transmittance: float,
    intensities: Sequence[float] | NDArray[np.float64],
    detector: Detector,
    *,
    probabilities: Sequence[float] | NDArray[np.float64] | None = None,
    background: tuple[float, float] | None = None,
    basis_match_probability: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Detection and error probabilities per pulse of coherent states, same basis.

    The exact two-detector model: with ``a_c = (1 - p_d) exp(-eta k (1 - e_d))`` and
    ``a_w = (1 - p_d) exp(-eta k e_d)`` the probabilities that the right and the wrong
    detector do not fire (Poisson splitting makes them independent), and ``a1``, ``a2`` the
    afterpulse background of :func:`afterpulse_background` (independent of this gate),

    * ``D_k = 1 - a_c a_w (1 - 2 a1 + a2)``
    * ``error_k = [a_c (1 - a1) - a_c a_w (1 - 2 a1 + a2)] + double_k / 2`` with
      ``double_k = 1 - (a_c + a_w)(1 - a1) + a_c a_w (1 - 2 a1 + a2)`` (double clicks
      squashed to a random bit).

    Without afterpulses this is, to first order, Ma et al.'s ``Q_k = Y0 + 1 - e^{-eta k}``,
    ``E_k Q_k = e0 Y0 + e_d (1 - e^{-eta k})`` with ``Y0 = 2 p_d``; the afterpulses add
    about ``2 a1`` to every intensity's gain (the vacuum's included) with a random bit.
    With ``detector.afterpulse_model == "lim2014"`` the afterpulses instead follow Lim et
    al. (2014): ``gain_k = D_k (1 + p_ap)``, ``error_k += p_ap D_k / 2`` (no background).

    Parameters
    ----------
    transmittance
        ``eta``: channel transmittance times detector efficiency, in [0, 1].
    intensities
        Mean photon numbers ``k`` (>= 0).
    detector
        Dark counts, misalignment and afterpulses.
    probabilities
        Probability that Alice sends each of ``intensities``: the mix that sets the
        afterpulse background. Needed when the detector has next-gate afterpulses and no
        ``background`` is given.
    background
        A precomputed ``(a1, a2)`` from :func:`afterpulse_background` (when the mix sent is
        not ``intensities`` itself); overrides ``probabilities``.
    basis_match_probability
        As in :func:`afterpulse_background`.

    Returns
    -------
    gain, error_probability
        Arrays per intensity; the QBER is ``error_probability / gain``.

    Raises
    ------
    ValueError
        For a transmittance outside [0, 1], or next-gate afterpulses without
        ``probabilities`` or ``background``.

    Example
    -------
    >>> g, e = click_probabilities(0.01, [0.5], Detector(dark_count_probability=0.0,
    ...                           misalignment_error=0.02))
    >>> round(float(e[0] / g[0]), 6)
    0.02

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (channel and detector model); Lim et al.,
    PRA 89, 022307 (2014), Sec. IV (``p_ap``, and the ``lim2014`` approximation).
    """
    eta = _check_transmittance(transmittance)
    k = np.asarray(intensities, dtype=np.float64)
    pd = detector.dark_count_probability
    ed = detector.misalignment_error
    a_c = (1.0 - pd) * np.exp(-eta * k * (1.0 - ed))
    a_w = (1.0 - pd) * np.exp(-eta * k * ed)
    if detector.afterpulse_model == "lim2014":
        pap = detector.afterpulse_probability
        d, err = _with_background(a_c, a_w, (0.0, 0.0))
        return d * (1.0 + pap), err + 0.5 * pap * d
    bg = _resolve_background(eta, k, detector, probabilities, background, basis_match_probability)
    return _with_background(a_c, a_w, bg)


def _check_background(background: tuple[float, float]) -> tuple[float, float]:
    a1, a2 = (float(x) for x in background)
    if not (0.0 <= a2 <= a1 <= 1.0):
        raise ValueError(
            f"background must be (a1, a2) from afterpulse_background, with "
            f"0 <= a2 <= a1 <= 1; got {background!r}"
        )
    return a1, a2


def _resolve_background(
    eta: float,
    intensities: NDArray[np.float64],
    detector: Detector,
    probabilities: Sequence[float] | NDArray[np.float64] | None,
    background: tuple[float, float] | None,
    basis_match_probability: float,
) -> tuple[float, float]:
    if detector.afterpulse_probability == 0.0 or detector.afterpulse_model == "lim2014":
        return 0.0, 0.0
    if background is not None:
        return _check_background(background)
    if probabilities is None:
        raise ValueError(
            "probabilities (of each intensity sent) are needed for next-gate afterpulses: "
            "pass probabilities=... or background=afterpulse_background(...)"
        )
    return afterpulse_background(
        eta, intensities, probabilities, detector, basis_match_probability=basis_match_probability
    )


def single_photon_yield_and_error(
    transmittance: float,
    detector: Detector,
    *,
    background: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Exact yield ``Y1`` and error rate ``e1`` of single-photon pulses (same two detectors).

    The photon is lost (``1 - eta``), hits the right detector (``eta (1 - e_d)``) or the
    wrong one (``eta e_d``); dark counts add independently; double clicks give a random bit;
    afterpulses as in :func:`click_probabilities`: the next-gate background ``(a1, a2)`` of
    the intensity mix actually sent (the same as for every other photon number, so that
    ``Q_k = sum_n P_k(n) Y_n`` holds), or Lim et al.'s factor ``(1 + p_ap)``.

    Parameters
    ----------
    transmittance
        ``eta``: channel transmittance times detector efficiency, in [0, 1].
    detector
        Dark counts, misalignment and afterpulses.
    background
        ``(a1, a2)`` from :func:`afterpulse_background`; required for next-gate afterpulses.

    Returns
    -------
    y1, e1
        ``Y1 ~ Y0 + eta`` and ``e1 ~ (e0 Y0 + e_d eta) / Y1`` to first order (Ma et al.
        2005), ``Y0 = 2 p_d + 2 a1``.

    Raises
    ------
    ValueError
        For a transmittance outside [0, 1], or next-gate afterpulses without ``background``.

    Example
    -------
    >>> y1, e1 = single_photon_yield_and_error(0.1, Detector(dark_count_probability=0.0,
    ...                                        misalignment_error=0.03))
    >>> round(y1, 6), round(e1, 6)
    (0.1, 0.03)

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (6)-(8).
    """
    eta = _check_transmittance(transmittance)
    pd = detector.dark_count_probability
    ed = detector.misalignment_error
    if detector.afterpulse_probability == 0.0 or detector.afterpulse_model == "lim2014":
        a1, a2 = 0.0, 0.0
    elif background is None:
        raise ValueError(
            "background is needed for next-gate afterpulses: pass "
            "background=afterpulse_background(...) for the intensities sent"
        )
    else:
        a1, a2 = _check_background(background)
    # a single photon: detector c silent unless it absorbs it, w likewise (exclusive events)
    silent_c = (1.0 - pd) * (1.0 - eta * (1.0 - ed))
    silent_w = (1.0 - pd) * (1.0 - eta * ed)
    quiet_c = silent_c * (1.0 - a1)
    quiet_w = silent_w * (1.0 - a1)
    # photon routing makes c and w dependent: both silent = (1 - eta)(1 - p_d)^2
    quiet_both = (1.0 - eta) * (1.0 - pd) ** 2 * (1.0 - 2.0 * a1 + a2)
    y = 1.0 - quiet_both
    err = (quiet_c - quiet_both) + 0.5 * (1.0 - quiet_c - quiet_w + quiet_both)
    if detector.afterpulse_model == "lim2014":
        pap = detector.afterpulse_probability
        err = err + 0.5 * pap * y
        y = y * (1.0 + pap)
    return y, (err / y if y > 0 else 0.5)


def _decoy_source(params: LinkParams) -> DecoySource:
    if not isinstance(params.source, DecoySource):
        raise ValueError(
            "source must be a DecoySource (weak coherent pulses) for this model; "
            "use model='bbm92' for an SPDC source"
        )
    return params.source


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
        gain, qber = _bbm92_gain_qber(params, params.source.mean_pairs_per_pulse)
        return {"pair": (gain, qber)}
    source = _decoy_source(params)
    gains, errs = click_probabilities(
        system_transmittance(params),
        source.intensities,
        params.detector,
        probabilities=source.probabilities,
        basis_match_probability=_sifting_factor(source.basis_probability_x),
    )
    return {
        name: (float(g), float(e / g) if g > 0 else 0.0)
        for name, g, e in zip(source.names, gains.tolist(), errs.tolist(), strict=True)
    }


# --------------------------------------------------------------------------- models


def _qber(gain: NDArray[np.float64], err: NDArray[np.float64]) -> NDArray[np.float64]:
    """Error rate per intensity; 0 where nothing is detected (no clicks, no errors)."""
    out = np.zeros_like(gain)
    np.divide(err, gain, out=out, where=gain > 0)
    return out


def _sifting_factor(qx: float) -> float:
    return qx * qx + (1.0 - qx) ** 2


def _asymptotic_rate(params: LinkParams, mu: float) -> tuple[float, float, float]:
    """GLLP rate with exact single-photon quantities; returns (rate, gain, qber).

    Infinitely many decoys sent with a vanishing probability: the afterpulse background is
    that of signal pulses alone.
    """
    eta = system_transmittance(params)
    match = _sifting_factor(_decoy_source(params).basis_probability_x)
    bg = afterpulse_background(eta, [mu], [1.0], params.detector, basis_match_probability=match)
    gain, err = click_probabilities(eta, [mu], params.detector, background=bg)
    g, qber = float(gain[0]), float(_qber(gain, err)[0])
    y1, e1 = single_photon_yield_and_error(eta, params.detector, background=bg)
    rate = gllp_key_rate(
        g,
        qber,
        y1 * mu * math.exp(-mu),
        e1,
        error_correction_efficiency=params.security.error_correction_efficiency,
        sifting_factor=_sifting_factor(_decoy_source(params).basis_probability_x),
    )
    return rate, g, qber


def _mix(source: DecoySource, mu: Sequence[float]) -> tuple[list[float], list[float]]:
    """The intensities sent (the source's, with the first ``len(mu)`` replaced) and their
    probabilities: the mix that sets the afterpulse background."""
    ks = [*(float(x) for x in mu), *source.intensities[len(mu) :]]
    return ks[: len(source.intensities)], list(source.probabilities)


def _vacuum_weak_rate(params: LinkParams, mu: float, nu: float) -> tuple[float, float, float]:
    eta = system_transmittance(params)
    source = _decoy_source(params)
    ks, ps = _mix(source, [mu, nu])
    bg = afterpulse_background(
        eta,
        ks,
        ps,
        params.detector,
        basis_match_probability=_sifting_factor(source.basis_probability_x),
    )
    gain, err = click_probabilities(eta, [mu, nu, 0.0], params.detector, background=bg)
    qber = _qber(gain, err)
    bounds = vacuum_weak_bounds(
        (float(gain[0]), float(gain[1])),
        (float(qber[0]), float(qber[1])),
        mu=mu,
        nu=nu,
        y0=float(gain[2]),
    )
    rate = gllp_key_rate(
        float(gain[0]),
        float(qber[0]),
        bounds.q1_lower,
        bounds.e1_upper,
        error_correction_efficiency=params.security.error_correction_efficiency,
        sifting_factor=_sifting_factor(_decoy_source(params).basis_probability_x),
    )
    return rate, float(gain[0]), float(qber[0])


def _three_intensity_rate(params: LinkParams, mu: Sequence[float]) -> tuple[float, float, float]:
    """Asymptotic Lim et al. rate per pulse with q_x -> 1 and p_mu1 -> 1.

    Every pulse is a signal pulse in the matching basis, so the afterpulse background is
    that of ``mu1`` alone.
    """
    eta = system_transmittance(params)
    bg = afterpulse_background(eta, [float(mu[0])], [1.0], params.detector)
    gain, err = click_probabilities(eta, mu, params.detector, background=bg)
    qber = _qber(gain, err)
    b = three_intensity_bounds(gain, qber, mu)
    mu1 = float(mu[0])
    f = params.security.error_correction_efficiency
    rate = (
        math.exp(-mu1) * b.y0
        + b.q1_lower * (1.0 - float(binary_entropy(b.e1_upper)))
        - f * float(gain[0]) * float(binary_entropy(float(qber[0])))
    )
    return rate, float(gain[0]), float(qber[0])


def _finite_rate(
    params: LinkParams,
    block_bits: float,
    qx: float,
    p: NDArray[np.float64],
    mu: NDArray[np.float64],
) -> tuple[float, float, float, int]:
    """Lim et al. key per pulse from expected counts; returns (rate, gain, qber, bits)."""
    eta = system_transmittance(params)
    gain, err = click_probabilities(
        eta, mu, params.detector, probabilities=p, basis_match_probability=_sifting_factor(qx)
    )
    detect_x = qx * qx * p * gain
    n_pulses = block_bits / float(detect_x.sum())
    qz2 = (1.0 - qx) ** 2
    counts = DecoyCounts(
        n_x=n_pulses * detect_x,
        n_z=n_pulses * qz2 * p * gain,
        m_x=n_pulses * qx * qx * p * err,
        m_z=n_pulses * qz2 * p * err,
    )
    e_x = counts.qber_x
    leak = params.security.error_correction_efficiency * float(binary_entropy(e_x)) * block_bits
    bound = lim2014_key_length(
        counts,
        mu,
        p,
        leak_ec_bits=leak,
        epsilon_sec=params.security.epsilon_sec,
        epsilon_cor=params.security.epsilon_cor,
    )
    return bound.key_length_real / n_pulses, float(gain[0]), e_x, bound.key_length_bits


def observed_vacuum_weak_rate(
    params: LinkParams, gains: Mapping[str, float], qbers: Mapping[str, float]
) -> float:
    """Asymptotic vacuum + weak decoy rate per pulse from *observed* gains and QBERs.

    Uses the source's first two intensities as signal ``mu`` and weak decoy ``nu`` and the
    gain of its vacuum intensity as ``Y0`` (Ma et al. 2005 vacuum + weak bounds, then GLLP).
    Meant for Monte-Carlo samples (statistical fluctuations are ignored).

    Parameters
    ----------
    params
        The link (a decoy source whose last intensity is 0).
    gains, qbers
        Observed gain and QBER keyed by intensity name (as the sampler reports them).

    Returns
    -------
    float
        Rate per pulse sent with the signal intensity, clipped at 0.

    Raises
    ------
    ValueError
        For a source without a vacuum and a weak decoy, or a missing intensity name.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> p = load_preset("gys", distance_km=50)
    >>> exp = expected_gains_and_qbers(p)
    >>> r = observed_vacuum_weak_rate(p, {k: v[0] for k, v in exp.items()},
    ...                               {k: v[1] for k, v in exp.items()})
    >>> 1e-4 < r < 3e-4
    True
    """
    source = _decoy_source(params)
    if len(source.intensities) != 3 or source.intensities[2] != 0.0:
        raise ValueError(
            "intensities: the vacuum-weak estimate needs (signal, weak decoy, vacuum = 0), "
            f"got {source.intensities}"
        )
    names = source.names
    missing = [n for n in names if n not in gains or n not in qbers]
    if missing:
        raise ValueError(f"gains and qbers need every intensity; missing {missing}")
    mu, nu = source.intensities[0], source.intensities[1]
    bounds = vacuum_weak_bounds(
        (gains[names[0]], gains[names[1]]),
        (qbers[names[0]], qbers[names[1]]),
        mu=mu,
        nu=nu,
        y0=gains[names[2]],
    )
    rate = gllp_key_rate(
        gains[names[0]],
        qbers[names[0]],
        bounds.q1_lower,
        bounds.e1_upper,
        error_correction_efficiency=params.security.error_correction_efficiency,
        sifting_factor=_sifting_factor(source.basis_probability_x),
    )
    return max(rate, 0.0)


# --------------------------------------------------------------------------- bbm92


def _bbm92_gain_qber(params: LinkParams, mean_pairs: float) -> tuple[float, float]:
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


def _bbm92_rate(params: LinkParams, mean_pairs: float) -> tuple[float, float, float]:
    gain, qber = _bbm92_gain_qber(params, mean_pairs)
    f = params.security.error_correction_efficiency
    qx = params.source.basis_probability_x
    h = float(binary_entropy(qber))
    return _sifting_factor(qx) * gain * (1.0 - f * h - h), gain, qber


# --------------------------------------------------------------------------- optimisers


def _maximise_scalar(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Bounded maximiser of a smooth unimodal function on [lo, hi] (grid + Brent)."""
    grid = np.geomspace(lo, hi, 24)
    values = [f(float(x)) for x in grid]
    i = int(np.argmax(values))
    a = grid[max(i - 1, 0)]
    b = grid[min(i + 1, grid.size - 1)]
    if b <= a:
        return float(grid[i])
    res = optimize.minimize_scalar(
        lambda x: -f(x), bounds=(a, b), method="bounded", options={"xatol": 1e-5 * b}
    )
    best = float(res.x) if -float(res.fun) >= values[i] else float(grid[i])
    return best


# finite model: x = [q_x, p_mu1, s, mu1, t], p_mu2 = s (1 - p_mu1), mu2 = mu3 + t (mu1 - 2 mu3)
def _finite_unpack(
    x: NDArray[np.float64], mu3: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    qx, p1, s, mu1, t = (float(v) for v in x)
    p = np.array([p1, s * (1.0 - p1), (1.0 - s) * (1.0 - p1)])
    mu2 = mu3 + t * (mu1 - 2.0 * mu3)
    return qx, p, np.array([mu1, mu2, mu3])


def _finite_bounds(mu3: float) -> list[tuple[float, float]]:
    return [
        (0.01, 0.9999),
        (0.01, 0.999),
        (0.01, 0.99),
        (max(3.0 * mu3, 0.02), 1.2),
        (0.01, 0.95),
    ]


def _finite_start(source: DecoySource) -> NDArray[np.float64]:
    mu1, mu2, mu3 = source.intensities
    p1, p2, _ = source.probabilities
    t = (mu2 - mu3) / max(mu1 - 2.0 * mu3, 1e-12)
    x0 = np.array(
        [source.basis_probability_x, p1, p2 / max(1.0 - p1, 1e-12), mu1, t], dtype=np.float64
    )
    lo, hi = np.array(_finite_bounds(mu3)).T
    return np.clip(x0, lo, hi)


# Starting points that cover small blocks (balanced bases, many decoys) and large ones.
_FINITE_EXTRA_STARTS = [
    np.array([0.5, 0.08, 0.5, 0.48, 0.2]),
    np.array([0.75, 0.3, 0.6, 0.45, 0.4]),
]


def _optimise_finite(
    params: LinkParams,
    block_bits: float,
    starts: list[NDArray[np.float64]],
    *,
    first_is_warm: bool = False,
) -> NDArray[np.float64]:
    """Nelder-Mead from each start; a warm start that already gives key is trusted alone."""
    source = _decoy_source(params)
    mu3 = source.intensities[2]
    scale = max(system_transmittance(params), 1e-300)
    bounds = _finite_bounds(mu3)

    def objective(x: NDArray[np.float64]) -> float:
        qx, p, mu = _finite_unpack(x, mu3)
        try:
            rate = _finite_rate(params, block_bits, qx, p, mu)[0]
        except ValueError:
            return 1e3
        return -rate / scale

    best_x, best_f = starts[0], objective(starts[0])
    for x0 in starts:
        res = optimize.minimize(
            objective,
            x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-3, "fatol": 1e-6, "maxfev": 1500, "adaptive": True},
        )
        if res.fun < best_f:
            best_x, best_f = np.asarray(res.x), float(res.fun)
        if first_is_warm and best_f < 0.0:
            break
    return best_x


def _optimise_three_intensity(
    params: LinkParams, start: NDArray[np.float64]
) -> NDArray[np.float64]:
    source = _decoy_source(params)
    mu3 = source.intensities[2]
    scale = max(system_transmittance(params), 1e-300)
    bounds = [(max(3.0 * mu3, 0.02), 1.2), (0.005, 0.95)]

    def objective(x: NDArray[np.float64]) -> float:
        mu1, t = float(x[0]), float(x[1])
        mu = [mu1, mu3 + t * (mu1 - 2.0 * mu3), mu3]
        return -_three_intensity_rate(params, mu)[0] / scale

    res = optimize.minimize(
        objective,
        start,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-5, "fatol": 1e-9, "maxfev": 800},
    )
    return np.asarray(res.x)


# --------------------------------------------------------------------------- public


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")


def _check_block_bits(model: str, block_bits: float | None) -> float | None:
    if model != "finite":
        return None
    if block_bits is None:
        raise ValueError("block_bits (the block size n_X) is required for the finite model")
    if not (isinstance(block_bits, int | float) and math.isfinite(block_bits) and block_bits >= 10):
        raise ValueError(f"block_bits must be a number >= 10, got {block_bits!r}")
    return float(block_bits)


def _result(
    params: LinkParams,
    model: str,
    rate: float,
    mu: float,
    opt: dict[str, float],
    qber: float,
    gain: float,
    block_bits: float | None,
) -> KeyRateResult:
    rate = max(float(rate), 0.0)
    t = float(params.channel.transmittance())
    return KeyRateResult(
        model=model,
        distance_km=params.distance_km,
        secret_key_rate_per_pulse=rate,
        secret_key_rate_bps=rate * params.source.repetition_rate_hz,
        optimal_signal_intensity=float(mu),
        optimal_parameters=opt,
        plob_bound_per_pulse=plob_bound(t),
        tgw_bound_per_pulse=tgw_bound(t),
        qber=float(qber),
        gain=float(gain),
        channel_transmittance=t,
        block_bits=block_bits,
    )


def _key_rate(
    params: LinkParams,
    model: str,
    block_bits: float | None,
    optimise: bool,
    warm: NDArray[np.float64] | None,
) -> tuple[KeyRateResult, NDArray[np.float64] | None]:
    if model == "bbm92":
        if isinstance(params.source, SPDCSource):
            bsrc = params.source
        else:
            bsrc = SPDCSource(
                basis_probability_x=params.source.basis_probability_x,
                repetition_rate_hz=params.source.repetition_rate_hz,
            )
        if bsrc.statistics != "thermal":
            raise ValueError("the bbm92 model needs source.statistics = 'thermal'")
        pairs = replace(params, source=bsrc)
        lam = (
            _maximise_scalar(lambda x: _bbm92_rate(pairs, x)[0], 1e-5, 2.0)
            if optimise
            else bsrc.mean_pairs_per_pulse
        )
        rate, gain, qber = _bbm92_rate(pairs, lam)
        opt = {"mean_pairs_per_pulse": lam}
        return _result(pairs, model, rate, lam, opt, qber, gain, None), None

    source = _decoy_source(params)
    if model == "asymptotic":
        mu = (
            _maximise_scalar(lambda x: _asymptotic_rate(params, x)[0], 1e-3, _MU_MAX)
            if optimise
            else source.intensities[0]
        )
        rate, gain, qber = _asymptotic_rate(params, mu)
        return _result(params, model, rate, mu, {"mu": mu}, qber, gain, None), None

    if model == "vacuum-weak":
        if len(source.intensities) < 2:
            raise ValueError("the vacuum-weak model needs a source with a weak decoy intensity")
        nu = source.intensities[1]
        if not nu > 0:
            raise ValueError(f"the weak decoy intensity (intensities[1]) must be > 0, got {nu}")
        mu = (
            _maximise_scalar(lambda x: _vacuum_weak_rate(params, x, nu)[0], 1.05 * nu, _MU_MAX)
            if optimise
            else source.intensities[0]
        )
        rate, gain, qber = _vacuum_weak_rate(params, mu, nu)
        return _result(params, model, rate, mu, {"mu": mu, "nu": nu}, qber, gain, None), None

    if len(source.intensities) != 3:
        raise ValueError(
            f"the {model} model needs exactly three intensities, got {source.intensities}"
        )
    mu1_src, mu2_src, mu3 = source.intensities
    if not (mu1_src > mu2_src + mu3 and mu2_src > mu3 >= 0.0):
        raise ValueError(
            "intensities in an order the model cannot use: the "
            f"{model} model needs mu1 > mu2 + mu3 and mu2 > mu3 >= 0, got {source.intensities}"
        )
    if model == "three-intensity":
        start = (
            warm if warm is not None and warm.size == 2 else np.array([source.intensities[0], 0.2])
        )
        if optimise:
            x = _optimise_three_intensity(params, start)
        else:
            mu1, mu2, _ = source.intensities
            x = np.array([mu1, (mu2 - mu3) / (mu1 - 2 * mu3)])
        mus = [float(x[0]), mu3 + float(x[1]) * (float(x[0]) - 2 * mu3), mu3]
        rate, gain, qber = _three_intensity_rate(params, mus)
        opt = {"q_x": 1.0, "p_mu1": 1.0, "mu1": mus[0], "mu2": mus[1], "mu3": mu3}
        return _result(params, model, rate, mus[0], opt, qber, gain, None), x

    assert block_bits is not None
    default = _finite_start(source)
    if optimise:
        starts = [default, *_FINITE_EXTRA_STARTS]
        is_warm = warm is not None and warm.size == 5
        if warm is not None and is_warm:
            starts.insert(0, warm)
        x = _optimise_finite(params, block_bits, starts, first_is_warm=is_warm)
    else:
        x = default
    qx, probs, mu_arr = _finite_unpack(x, mu3)
    rate, gain, qber, _bits = _finite_rate(params, block_bits, qx, probs, mu_arr)
    opt = {
        "q_x": qx,
        "p_mu1": float(probs[0]),
        "p_mu2": float(probs[1]),
        "p_mu3": float(probs[2]),
        "mu1": float(mu_arr[0]),
        "mu2": float(mu_arr[1]),
        "mu3": mu3,
    }
    return _result(params, model, rate, mu_arr[0], opt, qber, gain, block_bits), x


def key_rate(
    params: LinkParams,
    model: str = "asymptotic",
    *,
    block_bits: float | None = None,
    optimise: bool = True,
) -> KeyRateResult:
    """Secret-key rate of a link under one model, with the parameters optimised.

    Parameters
    ----------
    params
        The link (any preset, any distance or loss).
    model
        One of :data:`MODELS`: ``asymptotic``, ``vacuum-weak``, ``three-intensity``,
        ``finite`` or ``bbm92`` (see the module docstring for each model's equations).
    block_bits
        Block size ``n_X`` (sifted X detections per block); required for ``finite``.
    optimise
        Optimise the source settings (default) or use those in ``params``.

    Returns
    -------
    KeyRateResult
        Rate per pulse and per second, optimal settings, PLOB and TGW bounds.

    Raises
    ------
    ValueError
        For an unknown ``model``, a missing or bad ``block_bits``, a source that the model
        cannot use, or intensities in an order the model cannot use.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> r = key_rate(load_preset("gys", distance_km=50), "asymptotic")
    >>> r.secret_key_rate_per_pulse < r.plob_bound_per_pulse
    True

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005); Lim, Curty, Walenta, Xu, Zbinden,
    PRA 89, 022307 (2014); Ma, Fung, Lo, PRA 76, 012307 (2007).
    """
    _check_model(model)
    bb = _check_block_bits(model, block_bits)
    return _key_rate(params, model, bb, optimise, None)[0]


def key_rate_curve(
    params: LinkParams,
    model: str,
    distances_km: Sequence[float],
    *,
    block_bits: float | None = None,
) -> list[KeyRateResult]:
    """Optimised key rates over fibre lengths (each optimum warm-starts the next).

    Parameters
    ----------
    params
        A fibre link; its length is replaced by each distance.
    model, block_bits
        As in :func:`key_rate`.
    distances_km
        Fibre lengths, each >= 0.

    Returns
    -------
    list of KeyRateResult
        One per distance, in the given order.

    Raises
    ------
    ValueError
        As :func:`key_rate`, and for a free-space channel or a negative distance.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> curve = key_rate_curve(load_preset("gys"), "asymptotic", [0, 50, 100])
    >>> [r.distance_km for r in curve]
    [0.0, 50.0, 100.0]
    """
    _check_model(model)
    bb = _check_block_bits(model, block_bits)
    if not isinstance(params.channel, FibreChannel):
        raise ValueError("key_rate_curve needs a fibre channel (distances in km)")
    out: list[KeyRateResult] = []
    warm: NDArray[np.float64] | None = None
    for d in distances_km:
        if not (math.isfinite(d) and d >= 0):
            raise ValueError(f"distances_km must hold lengths >= 0, got {d!r}")
        res, x = _key_rate(params.with_distance(d), model, bb, True, warm)
        if res.secret_key_rate_per_pulse > 0:
            warm = x
        out.append(res)
    return out


def cutoff_distance_km(
    params: LinkParams,
    model: str = "asymptotic",
    *,
    block_bits: float | None = None,
    max_distance_km: float = 400.0,
    tolerance_km: float = 0.05,
) -> float:
    """Largest fibre length at which the optimised key rate is still positive.

    Parameters
    ----------
    params
        A fibre link (its length is ignored).
    model, block_bits
        As in :func:`key_rate`.
    max_distance_km
        Search limit; returned when the rate is still positive there.
    tolerance_km
        Bisection tolerance.

    Returns
    -------
    float
        The cutoff distance in km (0 when no key is possible even at 0 km).

    Raises
    ------
    ValueError
        As :func:`key_rate`, and for a free-space channel or a non-positive limit.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> 140 < cutoff_distance_km(load_preset("gys"), "asymptotic") < 145
    True
    """
    _check_model(model)
    bb = _check_block_bits(model, block_bits)
    if not isinstance(params.channel, FibreChannel):
        raise ValueError("cutoff_distance_km needs a fibre channel (distances in km)")
    if not (math.isfinite(max_distance_km) and max_distance_km > 0):
        raise ValueError(f"max_distance_km must be > 0, got {max_distance_km!r}")
    if not tolerance_km > 0:
        raise ValueError(f"tolerance_km must be > 0, got {tolerance_km!r}")

    warm: list[NDArray[np.float64] | None] = [None]

    def positive(d: float) -> bool:
        res, x = _key_rate(params.with_distance(d), model, bb, True, warm[0])
        if res.secret_key_rate_per_pulse > 0:
            warm[0] = x
            return True
        return False

    if not positive(0.0):
        return 0.0
    if positive(max_distance_km):
        return float(max_distance_km)
    lo, hi = 0.0, float(max_distance_km)
    # Coarse scan first so that warm starts follow the curve outwards.
    step = max_distance_km / 16.0
    d = step
    while d < hi:
        if positive(d):
            lo = d
            d += step
        else:
            hi = d
            break
    while hi - lo > tolerance_km:
        mid = 0.5 * (lo + hi)
        if positive(mid):
            lo = mid
        else:
            hi = mid
    return lo
