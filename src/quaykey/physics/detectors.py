"""Threshold detectors: click-outcome probabilities, dead time and afterpulsing.

Detector model (one threshold detector per bit value, both with the same parameters):

* every photon that reaches the detectors is absorbed with probability ``efficiency``;
  an absorbed photon goes to the detector of the sender's bit with probability
  ``1 - misalignment_error`` when the bases match, to a random detector when they differ;
* each detector also fires on its own with ``dark_count_probability`` per gate;
* a gate in which both detectors fire is a *double click*, squashed to a random bit;
* **dead time**: after a detector fires in gate ``i`` it is blind in gates
  ``i+1 .. i+d`` with ``d = floor(dead_time_s * rate_hz)`` (non-paralysable: events in blind
  gates are lost and do not extend the dead time); each detector has its own dead time;
* **afterpulsing**: each click caused by light or a dark count triggers, with probability
  ``afterpulse_probability``, a click of the *same* detector in the first gate after its
  dead time (gate ``i+1`` when there is no dead time). Afterpulses do not trigger further
  afterpulses (the first-order model behind the ``(1 + p_ap)`` factor of Lim et al. 2014).
  An afterpulse that falls after the end of the block is dropped. Because the next pulse's
  bit is independent, an afterpulse gives a random bit relative to Alice's.

The click-outcome probabilities here are exact for any distribution of arriving photons
given by its PGF ``G``: with ``A = G(1 - eta r_c)``, ``B = G(1 - eta r_w)``,
``C = G(1 - eta)`` (no photon absorbed in the correct / wrong / either detector) and
dark-count probability ``p`` per detector, a detector is silent with probability
``(1 - p) A``, both are silent with ``(1 - p)^2 C``, and inclusion-exclusion gives the rest.
:func:`outcome_probabilities` gives the six outcomes the sampler draws from.

The analytic key-rate models need only the gain and error probability of a gate, with the
afterpulses of the previous gate or-ed in: :func:`click_probabilities` (coherent pulses,
closed form ``G(z) = exp(-mu (1 - z))``), :func:`single_photon_yield_and_error` (one photon)
and :func:`afterpulse_background`. Both assemble the gain and error from the silence
probabilities above in one helper; without afterpulses they equal the sums of the six
outcomes (tested to rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.channels import check_transmittance
from quaykey.physics.params import Detector
from quaykey.physics.sources import PhotonDistribution

__all__ = [
    "N_OUTCOMES",
    "OUTCOME_DARK_CORRECT",
    "OUTCOME_DARK_WRONG",
    "OUTCOME_DOUBLE",
    "OUTCOME_NONE",
    "OUTCOME_PHOTON_CORRECT",
    "OUTCOME_PHOTON_WRONG",
    "afterpulse_background",
    "click_probabilities",
    "dead_time_gates",
    "fire_patterns",
    "outcome_probabilities",
    "single_photon_yield_and_error",
]

# Outcome classes of one gate at a two-detector receiver, relative to the sender's bit.
OUTCOME_PHOTON_CORRECT = 0  # only the detector of the sender's bit fired; a photon was absorbed
OUTCOME_PHOTON_WRONG = 1  # only the other detector fired; a photon was absorbed
OUTCOME_DARK_CORRECT = 2  # only the sender's-bit detector fired; no photon absorbed (dark)
OUTCOME_DARK_WRONG = 3  # only the other detector fired; no photon absorbed (dark)
OUTCOME_DOUBLE = 4  # both fired (squashed to a random bit)
OUTCOME_NONE = 5  # no click
N_OUTCOMES = 6


def outcome_probabilities(
    photons: PhotonDistribution, correct_routing: float, detector: Detector
) -> NDArray[np.float64]:
    """Probabilities of the six click outcomes of one gate.

    Parameters
    ----------
    photons
        Distribution of the number of photons reaching the detectors (after the channel,
        before the detector efficiency).
    correct_routing
        Probability that an absorbed photon goes to the detector of the sender's bit
        (``1 - e_d`` in matching bases, ``1/2`` otherwise).
    detector
        Efficiency and dark-count probability (per detector per gate).

    Returns
    -------
    numpy.ndarray
        Six probabilities indexed by ``OUTCOME_*``; they sum to 1.

    Raises
    ------
    ValueError
        If ``correct_routing`` is outside [0, 1].

    Example
    -------
    >>> d = Detector(efficiency=1.0, dark_count_probability=0.0, misalignment_error=0.0)
    >>> p = outcome_probabilities(PhotonDistribution(poisson_mean=1.0), 1.0, d)
    >>> round(float(p[OUTCOME_PHOTON_CORRECT]), 4), round(float(p[OUTCOME_NONE]), 4)
    (0.6321, 0.3679)
    """
    if not 0.0 <= correct_routing <= 1.0:
        raise ValueError(f"correct_routing must be in [0, 1], got {correct_routing!r}")
    eta = detector.efficiency
    p = detector.dark_count_probability
    r_c = correct_routing
    r_w = 1.0 - correct_routing
    # 1 - G(.) = probability that at least one photon is absorbed in the given detector(s)
    fire_c = photons.pgf_complement(1.0 - eta * r_c)
    fire_w = photons.pgf_complement(1.0 - eta * r_w)
    fire_any = photons.pgf_complement(1.0 - eta)
    none_absorbed = 1.0 - fire_any
    out = np.empty(N_OUTCOMES)
    # only c fires: w silent, c not silent. Photon part: photons in c, none in w, w no dark.
    out[OUTCOME_PHOTON_CORRECT] = (1.0 - p) * max(fire_any - fire_w, 0.0)
    out[OUTCOME_PHOTON_WRONG] = (1.0 - p) * max(fire_any - fire_c, 0.0)
    out[OUTCOME_DARK_CORRECT] = p * (1.0 - p) * none_absorbed
    out[OUTCOME_DARK_WRONG] = p * (1.0 - p) * none_absorbed
    # both fire: P(c) + P(w) - P(any), expanded to avoid cancellation of the constant terms
    double = p * p + (1.0 - p) * (fire_c + fire_w - (1.0 - p) * fire_any)
    out[OUTCOME_DOUBLE] = max(double, 0.0)
    out[OUTCOME_NONE] = (1.0 - p) ** 2 * none_absorbed
    return out


def fire_patterns(silence: dict[tuple[int, ...], float], n_detectors: int) -> NDArray[np.float64]:
    """Probability of each exact firing pattern from the probabilities of silent subsets.

    Parameters
    ----------
    silence
        ``silence[S]`` = probability that every detector in the sorted tuple ``S`` is silent
        (``silence[()]`` = 1), for every subset ``S``.
    n_detectors
        Number of detectors (patterns are bit masks ``0 .. 2**n - 1``; bit ``j`` set means
        detector ``j`` fired).

    Returns
    -------
    numpy.ndarray
        ``P(exactly the detectors of mask F fire)`` for each mask, by inclusion-exclusion:
        ``sum over T subset of F of (-1)^|T| silence[complement(F) union T]``.

    Example
    -------
    >>> s = {(): 1.0, (0,): 0.5}
    >>> fire_patterns(s, 1).tolist()
    [0.5, 0.5]
    """
    n = n_detectors
    out = np.zeros(2**n)
    for mask in range(2**n):
        fired = [j for j in range(n) if mask >> j & 1]
        quiet = [j for j in range(n) if not mask >> j & 1]
        total = 0.0
        for choice in product((0, 1), repeat=len(fired)):
            subset = tuple(sorted(quiet + [f for f, c in zip(fired, choice, strict=True) if c]))
            total += (-1.0) ** sum(choice) * silence[subset]
        out[mask] = max(total, 0.0)
    return out


def dead_time_gates(detector: Detector, repetition_rate_hz: float) -> int:
    """Gates a detector is blind for after a click: ``floor(dead_time_s * rate_hz)``.

    Parameters
    ----------
    detector
        The detector (``dead_time_s``).
    repetition_rate_hz
        Gate (pulse) rate.

    Returns
    -------
    int
        Number of blind gates after each click (0 for no dead time).

    Example
    -------
    >>> dead_time_gates(Detector(dead_time_s=10e-9), 1e9)
    10
    """
    gates = detector.dead_time_s * repetition_rate_hz
    # guard against 9.999999 -> 9 from floating point
    return math.floor(gates + 1e-9)


# --------------------------------------------------------------------------- gain and error


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
    The detector model of this module (what
    :func:`quaykey.physics.sampler.simulate_link` samples); Lim et al., PRA 89, 022307
    (2014), Sec. IV, for ``p_ap``.
    """
    eta = check_transmittance(transmittance)
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
    silent_both: NDArray[np.float64] | float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gain and error probability once independent afterpulses are or-ed into a gate.

    ``silent_c`` / ``silent_w`` are the probabilities that the detector of Alice's bit / the
    other one does not fire for real, ``silent_both`` that neither does (by default
    ``silent_c * silent_w``: independent detectors, as for Poisson light); afterpulses hit
    a given detector with ``a1`` and both with ``a2``, independently of the real clicks.
    This is the one place where the two-detector gain and error of a gate are assembled.
    """
    a1, a2 = background
    sc = np.asarray(silent_c, dtype=np.float64)
    sw = np.asarray(silent_w, dtype=np.float64)
    quiet_c = sc * (1.0 - a1)  # detector of Alice's bit does not fire at all
    quiet_w = sw * (1.0 - a1)
    both = sc * sw if silent_both is None else np.asarray(silent_both, dtype=np.float64)
    quiet_both = both * (1.0 - 2.0 * a1 + a2)
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
    eta = check_transmittance(transmittance)
    k = np.asarray(intensities, dtype=np.float64)
    pd = detector.dark_count_probability
    ed = detector.misalignment_error
    a_c = (1.0 - pd) * np.exp(-eta * k * (1.0 - ed))
    a_w = (1.0 - pd) * np.exp(-eta * k * ed)
    if detector.afterpulse_model == "lim2014":
        d, err = _with_background(a_c, a_w, (0.0, 0.0))
        return _lim2014_afterpulses(d, err, detector.afterpulse_probability)
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
    eta = check_transmittance(transmittance)
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
    # photon routing makes c and w dependent: both silent = (1 - eta)(1 - p_d)^2
    silent_both = (1.0 - eta) * (1.0 - pd) ** 2
    gain, err = _with_background(silent_c, silent_w, (a1, a2), silent_both)
    if detector.afterpulse_model == "lim2014":
        gain, err = _lim2014_afterpulses(gain, err, detector.afterpulse_probability)
    y, e = float(gain), float(err)
    return y, (e / y if y > 0 else 0.5)


def _lim2014_afterpulses(
    gain: NDArray[np.float64], err: NDArray[np.float64], afterpulse_probability: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lim et al. (2014)'s per-pulse afterpulses: ``gain (1 + p_ap)``, ``err + p_ap gain / 2``."""
    return gain * (1.0 + afterpulse_probability), err + 0.5 * afterpulse_probability * gain
