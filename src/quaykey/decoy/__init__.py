"""Decoy-state estimation: finite-key (Lim et al. 2014) and asymptotic (Ma et al. 2005) bounds.

Pure mathematics on counts, gains and error rates. Both the analytic key-rate models
(:mod:`quaykey.physics.keyrate`, fed with *expected* counts) and post-processing
(fed with *observed* counts) use these functions, so this foundation module imports
neither layer.

Conventions follow Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014): the key basis
is X, the test basis Z, and there are three intensities ``mu1 > mu2 + mu3``,
``mu2 > mu3 >= 0`` (signal, decoy, vacuum or weak vacuum).

Two small deviations from the paper's formulas, both conservative or limits of them:

* lower bounds (``s_x0``, ``s_x1``, ``s_z0``, ``s_z1``) are clipped at 0 and the upper
  bound ``v_z1`` at 0 (every count is non-negative);
* the phase-error bound ``phi_x`` is capped at 1/2 (``h`` is largest there), and set to 1/2
  when no single-photon events can be certified (``s_x1 = 0`` or ``s_z1 = 0``).
"""

from __future__ import annotations

from quaykey.decoy.lim2014 import (
    DecoyCounts,
    FiniteKeyBound,
    lim2014_gamma,
    lim2014_key_length,
    three_intensity_bounds,
)
from quaykey.decoy.ma2005 import SinglePhotonBounds, gllp_key_rate, vacuum_weak_bounds

__all__ = [
    "DecoyCounts",
    "FiniteKeyBound",
    "SinglePhotonBounds",
    "gllp_key_rate",
    "lim2014_gamma",
    "lim2014_key_length",
    "three_intensity_bounds",
    "vacuum_weak_bounds",
]
