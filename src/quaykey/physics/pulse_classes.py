"""The class model of a link: exact probability of every class of pulse (decoy BB84, BBM92).

A *class* of a decoy-BB84 pulse is ``(intensity k, Alice's basis a, Bob's basis b,
outcome o)``, ``o`` one of the six gate outcomes of :mod:`quaykey.physics.detectors`;
pulses are independent, so the class counts of a block are multinomial with

``P(k, a, b, o) = p_k q_a q_b sum_s w_s P(o | scenario s)``,

where the scenarios ``s`` (one without an attack; a few with one, see
:mod:`quaykey.physics.attacks`) give the photon-number distribution reaching Bob and the
routing of absorbed photons. A BBM92 pair slot's class is ``(a, b, which of the four
detectors fired)``. :func:`quaykey.physics.sampler.simulate_link` draws records from these.

References
----------
Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (gain and QBER model); Ma, Fung, Lo, PRA 76,
012307 (2007) (SPDC model).
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.attacks import Attack, honest_scenarios
from quaykey.physics.detectors import N_OUTCOMES, fire_patterns, outcome_probabilities
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource
from quaykey.physics.sources import pair_number_pgf

__all__ = ["bb84_class_probabilities", "bbm92_pattern_probabilities"]


def bb84_class_probabilities(
    params: LinkParams, eta_channel: float, attack: Attack | None = None
) -> NDArray[np.float64]:
    """Exact probability of every pulse class ``(k, a, b, outcome)`` of decoy BB84.

    Parameters
    ----------
    params
        Link parameters with a :class:`~quaykey.physics.params.DecoySource`.
    eta_channel
        Channel transmittance in [0, 1].
    attack
        Optional attack.

    Returns
    -------
    numpy.ndarray
        Shape ``(K, 2, 2, 6)``: intensity, Alice's basis (0 = X), Bob's basis, outcome
        (``OUTCOME_*`` of :mod:`quaykey.physics.detectors`). Sums to 1.

    Raises
    ------
    ValueError
        For a non-decoy source or a transmittance outside [0, 1].

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> p = bb84_class_probabilities(load_preset("gys", 50), 10 ** -1.05)
    >>> p.shape, round(float(p.sum()), 12)
    ((3, 2, 2, 6), 1.0)
    """
    source = params.source
    if not isinstance(source, DecoySource):
        raise ValueError("bb84_class_probabilities needs a DecoySource")
    if not (math.isfinite(eta_channel) and 0.0 <= eta_channel <= 1.0):
        raise ValueError(f"eta_channel must be in [0, 1], got {eta_channel!r}")
    qx = source.basis_probability_x
    q = (qx, 1.0 - qx)
    out = np.zeros((len(source.intensities), 2, 2, N_OUTCOMES))
    for k, pk in enumerate(source.probabilities):
        for match in (True, False):
            if attack is None:
                scen = honest_scenarios(params, k, eta_channel, match)
            else:
                scen = attack.scenarios(params, k, eta_channel, match)
            probs = np.zeros(N_OUTCOMES)
            for s in scen:
                probs += s.weight * outcome_probabilities(
                    s.photons, s.correct_routing, params.detector
                )
            for a in (0, 1):
                for b in (0, 1):
                    if (a == b) == match:
                        out[k, a, b] = pk * q[a] * q[b] * probs
    return out


def _bob_silence_routing(a: int, b: int, x: int, e_d: float) -> tuple[float, float]:
    """Probabilities that an absorbed Bob photon goes to detector 0 and 1, pair bit x."""
    if a == b:
        right = 1.0 - e_d
        return (right, 1.0 - right) if x == 0 else (1.0 - right, right)
    return (0.5, 0.5)


def bbm92_pattern_probabilities(params: LinkParams, eta_channel: float) -> NDArray[np.float64]:
    """Exact probability of each (Alice basis, Bob basis, firing pattern) of BBM92.

    Parameters
    ----------
    params
        Link parameters with an :class:`~quaykey.physics.params.SPDCSource`.
    eta_channel
        Transmittance of the whole channel in [0, 1]; each arm gets its square root.

    Returns
    -------
    numpy.ndarray
        Shape ``(2, 2, 16)``; the last index is a bit mask of the detectors that fired
        (bit 0: Alice's bit-0 detector, bit 1: Alice's bit-1, bit 2: Bob's bit-0, bit 3:
        Bob's bit-1). Sums to 1.

    Raises
    ------
    ValueError
        For a source that is not an SPDC source.

    Example
    -------
    >>> from quaykey.physics.params import SPDCSource
    >>> p = bbm92_pattern_probabilities(LinkParams(source=SPDCSource()), 0.1)
    >>> round(float(p.sum()), 12)
    1.0
    """
    source = params.source
    if not isinstance(source, SPDCSource):
        raise ValueError("bbm92_pattern_probabilities needs an SPDCSource")
    det = params.detector
    # source in the middle: each arm crosses half the loss (sqrt of the transmittance)
    eta_a = det.efficiency * math.sqrt(eta_channel)
    eta_b = det.efficiency * math.sqrt(eta_channel)
    p_dark = det.dark_count_probability
    qx = source.basis_probability_x
    q = (qx, 1.0 - qx)
    out = np.zeros((2, 2, 16))
    for a in (0, 1):
        for b in (0, 1):
            silence: dict[tuple[int, ...], float] = {}
            for size in range(5):
                for subset in combinations(range(4), size):
                    g = 0.0
                    for x in (0, 1):
                        alice_hit = eta_a if x in subset else 0.0
                        route = _bob_silence_routing(a, b, x, det.misalignment_error)
                        bob_hit = sum(eta_b * route[c - 2] for c in subset if c >= 2)
                        g += 0.5 * (1.0 - alice_hit) * (1.0 - bob_hit)
                    silence[subset] = (1.0 - p_dark) ** size * pair_number_pgf(
                        g, source.mean_pairs_per_pulse, source.statistics
                    )
            out[a, b] = q[a] * q[b] * fire_patterns(silence, 4)
    return out
