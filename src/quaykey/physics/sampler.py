"""Fast link sampler: Alice's and Bob's records from a QKD link, at a cost set by detections.

How it works (prepare-and-measure decoy BB84)
---------------------------------------------
Every pulse falls in exactly one *class* ``(intensity k, Alice's basis a, Bob's basis b,
outcome o)`` where ``o`` is one of the six gate outcomes of
:mod:`quaykey.physics.detectors` (photon click on the detector of Alice's bit or on the other
one, dark-only click on either, double click, no click). Pulses are independent, so the class
counts of a block are multinomial with the exact class probabilities of
:mod:`quaykey.physics.pulse_classes`. The sampler

1. draws the class counts (one multinomial per segment of constant channel transmittance);
2. draws the clicking slots as a sorted uniformly random subset of ``[0, n_pulses)`` whose
   size is the number of clicks (:func:`quaykey.physics._kernels.sorted_random_subset`,
   O(detections), no pulse is materialised) and assigns the click classes to them in a
   uniformly random order;
3. draws Alice's bit of each clicking slot (uniform) and Bob's detector(s) from the class;
4. applies per-detector dead time and afterpulsing in one pass over the clicks
   (:func:`quaykey.physics._kernels.detector_timeline`); an afterpulse that lands in a gate
   without a click takes that gate's (intensity, bases) from the exact distribution of a
   non-clicking pulse of its segment, and a uniform bit for Alice;
5. squashes double clicks to a random bit.

Steps 1-2 are :mod:`quaykey.physics.click_draws`; the BB84 records are built in
:mod:`quaykey.physics.bb84_records`, the BBM92 ones in :mod:`quaykey.physics.bbm92_records`.
Steps 1-2 are the same joint law as simulating every pulse: a multinomial over all classes
with the slots of each class a uniformly random, disjoint set of pulse indices.

BBM92 (``SPDCSource``)
----------------------
The pair source sits in the middle of the channel (as in Ma, Fung, Lo 2007 and the Micius
entanglement downlinks): each photon of a pair crosses half of the loss, transmittance
``sqrt(eta_channel)``. Each of ``N`` pairs (thermal or Poisson ``N``) carries a
fresh random bit ``x``; Alice's photon is absorbed with ``sqrt(eta_channel) * efficiency``
in the detector of ``x``; Bob's is absorbed with the same probability, in the detector of
``x`` (or the other one with the misalignment error) when the bases match and in a random
one otherwise. Classes are (a, b, which of the four detectors fired); each party's record
holds *its own* click slots, the intensity index is always 0, and ``SampleStats`` counts
coincidences (both parties clicked in the slot) as detections.

References
----------
Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (gain and QBER model); Lim et al., PRA 89, 022307
(2014) (afterpulse model); Ma, Fung, Lo, PRA 76, 012307 (2007) (SPDC model).
"""

from __future__ import annotations

import numpy as np

from quaykey.physics.attacks import Attack
from quaykey.physics.bb84_records import simulate_bb84
from quaykey.physics.bbm92_records import simulate_bbm92
from quaykey.physics.params import LinkParams, SPDCSource
from quaykey.physics.sample import LinkSample, SampleStats

# LinkSample and SampleStats (quaykey.physics.sample) are what simulate_link returns.
__all__ = ["LinkSample", "SampleStats", "simulate_link"]


def simulate_link(
    params: LinkParams,
    n_pulses: int,
    rng: np.random.Generator,
    *,
    attack: Attack | None = None,
    start_time_s: float = 0.0,
    time_step_s: float = 1.0,
) -> LinkSample:
    """Simulate one block of ``n_pulses`` pulses of a link; cost grows with detections.

    Parameters
    ----------
    params
        The link (decoy BB84 with a ``DecoySource``, BBM92 with an ``SPDCSource``).
    n_pulses
        Pulses (time slots) in the block, >= 0; 10**12 is fine when detections fit memory.
    rng
        Random generator; the same seed gives the same sample.
    attack
        Optional eavesdropper (:mod:`quaykey.physics.attacks`; BB84 only).
    start_time_s
        Time of the first pulse (matters for a time-varying free-space channel).
    time_step_s
        Longest stretch over which a time-varying channel is held constant.

    Returns
    -------
    LinkSample
        Alice's record (the slots where Bob clicked), Bob's record and the statistics.

    Raises
    ------
    ValueError
        For a negative or non-integer ``n_pulses`` (or one whose expected detections exceed
        :data:`quaykey.physics.click_draws.MAX_DETECTIONS`), an attack on a BBM92 link, or a
        bad ``time_step_s`` or ``start_time_s``.
    TypeError
        For ``params`` that is not a ``LinkParams`` or ``rng`` that is not a Generator.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> s = simulate_link(load_preset("gys", 50), 10**9, np.random.default_rng(1))
    >>> 1.8e-3 < s.stats.gain["signal"] < 2.0e-3
    True
    """
    n = _check_inputs(params, n_pulses, rng)
    if isinstance(params.source, SPDCSource):
        if attack is not None:
            raise ValueError("attack: attacks are modelled for decoy BB84 links only, not BBM92")
        return simulate_bbm92(params, n, rng, start_time_s, time_step_s)
    return simulate_bb84(params, n, rng, attack, start_time_s, time_step_s)


def _check_inputs(params: LinkParams, n_pulses: int, rng: np.random.Generator) -> int:
    if not isinstance(params, LinkParams):
        raise TypeError(f"params must be a LinkParams, got {type(params).__name__}")
    if isinstance(n_pulses, bool) or not isinstance(n_pulses, int | np.integer):
        raise ValueError(f"n_pulses must be an integer >= 0, got {n_pulses!r}")
    if n_pulses < 0:
        raise ValueError(f"n_pulses must be >= 0, got {n_pulses!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    return int(n_pulses)
