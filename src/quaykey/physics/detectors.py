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
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
from numpy.typing import NDArray

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
    "dead_time_gates",
    "fire_patterns",
    "outcome_probabilities",
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
