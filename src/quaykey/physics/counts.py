"""Expected and sampled detection counts of a decoy-BB84 block, per intensity and basis.

The statistical twin of :func:`quaykey.physics.sampler.simulate_link`: where the sampler
draws every click, these functions give the counts' expectations
(:func:`expected_counts`, :func:`counts_over_loss_profile` for a loss that varies over the
block) and draw observed counts around them (:func:`sample_counts`). The detection model is
:func:`quaykey.physics.keyrate.click_probabilities`, the one the sampler draws from; this
module keeps no copy of its formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import DecoyCounts
from quaykey.physics.keyrate import click_probabilities, plob_bound
from quaykey.physics.params import DecoySource, LinkParams
from quaykey.units import db_to_transmittance

__all__ = [
    "StatisticalAttack",
    "channel_loss_db",
    "counts_over_loss_profile",
    "decoy_source",
    "expected_counts",
    "plob_bound_bps",
    "sample_counts",
]


class StatisticalAttack(Protocol):
    """What the expected-count model needs from an attack (see :mod:`quaykey.physics.attacks`)."""

    def expected_error_probability(
        self, error_probability: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Per-intensity error probability of a detection under the attack."""
        ...


def decoy_source(params: LinkParams) -> DecoySource:
    """The link's three-intensity decoy source (ValueError naming the link otherwise).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> len(decoy_source(load_preset("backbone", distance_km=10)).intensities)
    3
    """
    if not isinstance(params.source, DecoySource) or len(params.source.intensities) != 3:
        raise ValueError(
            f"link {params.name!r}: the counts model needs a three-intensity decoy source"
        )
    return params.source


def channel_loss_db(params: LinkParams, loss_db: float | None = None) -> float:
    """``loss_db`` if given, else the channel's own loss (fibre length x attenuation + fixed).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> channel_loss_db(load_preset("backbone", distance_km=40))
    12.0
    """
    if loss_db is not None:
        return float(loss_db)
    return float(getattr(params.channel, "loss_db", 0.0))


def expected_counts(
    params: LinkParams,
    n_pulses: float,
    loss_db: float | None = None,
    attack: StatisticalAttack | None = None,
) -> DecoyCounts:
    """Expected sifted detections and errors per intensity and basis for ``n_pulses``.

    :func:`quaykey.physics.keyrate.click_probabilities` gives the gain ``Q_k`` and the
    error probability ``E_k Q_k`` of intensity ``mu_k`` when the bases match, at
    ``eta = 10**(-loss/10) * eta_det`` (two threshold detectors, dark counts,
    misalignment, double clicks squashed to a random bit, next-gate afterpulses whose
    background comes from the intensity mix sent, with basis-match probability
    ``p_x^2 + (1 - p_x)^2``). Detections in basis X are ``N p_k p_x^2 Q_k``, in Z
    ``N p_k (1 - p_x)^2 Q_k``, errors the same with ``E_k Q_k``. An attack changes the
    error probability through its ``expected_error_probability`` method.

    Parameters
    ----------
    params
        Link parameters (three-intensity decoy source).
    n_pulses
        Pulses sent (may be a real number: expected counts).
    loss_db
        Channel loss; defaults to the channel's own loss.
    attack
        Optional attack with an ``expected_error_probability`` method.

    Returns
    -------
    DecoyCounts
        Expected (real-valued) counts.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> c = expected_counts(load_preset("backbone", distance_km=50), 1e9)
    >>> round(float(c.qber_x), 4)
    0.0158

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (channel and detector model); Lim, Curty,
    Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV (decoy counts per basis).
    """
    if not n_pulses >= 0:
        raise ValueError(f"n_pulses must be >= 0, got {n_pulses!r}")
    src = decoy_source(params)
    eta = db_to_transmittance(channel_loss_db(params, loss_db)) * params.detector.efficiency
    p = np.asarray(src.probabilities, dtype=np.float64)
    px = src.basis_probability_x
    gain, err = click_probabilities(
        eta,
        src.intensities,
        params.detector,
        probabilities=p,
        basis_match_probability=px * px + (1.0 - px) ** 2,
    )
    e_k = np.zeros_like(gain)
    np.divide(err, gain, out=e_k, where=gain > 0)
    if attack is not None:
        e_k = np.asarray(attack.expected_error_probability(e_k), dtype=np.float64)
    n_x = n_pulses * p * px * px * gain
    n_z = n_pulses * p * (1.0 - px) ** 2 * gain
    return DecoyCounts(n_x=n_x, n_z=n_z, m_x=n_x * e_k, m_z=n_z * e_k)


def counts_over_loss_profile(
    params: LinkParams,
    loss_db_profile: Sequence[float] | NDArray[np.float64],
    step_s: float,
    attack: StatisticalAttack | None = None,
) -> DecoyCounts:
    """Expected counts of a block whose loss is sampled every ``step_s`` (trapezoid rule).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> p = load_preset("micius-2017", loss_db=30.0)
    >>> c = counts_over_loss_profile(p, [30.0, 30.0, 30.0], 1.0)
    >>> bool(abs(c.n_x.sum() / expected_counts(p, 2e8).n_x.sum() - 1) < 1e-12)
    True
    """
    loss = np.asarray(loss_db_profile, dtype=np.float64)
    if loss.size < 2 or not step_s > 0:
        raise ValueError("loss_db_profile needs two or more samples and step_s > 0")
    per_slice = params.source.repetition_rate_hz * step_s
    tot = [np.zeros(3) for _ in range(4)]
    last = loss.size - 1
    for i, ldb in enumerate(loss):
        w = 0.5 if i in (0, last) else 1.0
        c = expected_counts(params, per_slice * w, loss_db=float(ldb), attack=attack)
        for acc, arr in zip(tot, (c.n_x, c.n_z, c.m_x, c.m_z), strict=True):
            acc += arr
    return DecoyCounts(n_x=tot[0], n_z=tot[1], m_x=tot[2], m_z=tot[3])


def sample_counts(expected: DecoyCounts, rng: np.random.Generator) -> DecoyCounts:
    """Draw observed counts around expected ones (Poisson detections, binomial errors).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> e = expected_counts(load_preset("backbone", distance_km=50), 1e9)
    >>> o = sample_counts(e, np.random.default_rng(1))
    >>> bool(abs(o.n_x.sum() / e.n_x.sum() - 1) < 0.01)
    True
    """
    n_x = rng.poisson(expected.n_x)
    n_z = rng.poisson(expected.n_z)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = np.where(expected.n_x > 0, expected.m_x / np.maximum(expected.n_x, 1e-300), 0.0)
        ez = np.where(expected.n_z > 0, expected.m_z / np.maximum(expected.n_z, 1e-300), 0.0)
    m_x = rng.binomial(n_x, np.clip(ex, 0.0, 1.0))
    m_z = rng.binomial(n_z, np.clip(ez, 0.0, 1.0))
    return DecoyCounts(
        n_x=n_x.astype(np.float64),
        n_z=n_z.astype(np.float64),
        m_x=m_x.astype(np.float64),
        m_z=m_z.astype(np.float64),
    )


def plob_bound_bps(params: LinkParams, loss_db: float | None = None) -> float:
    """The PLOB bound ``-log2(1 - eta)`` bits per pulse times the pulse rate (bit/s).

    ``eta`` is the channel transmittance (detector efficiency excluded, which only makes
    the bound looser).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> round(plob_bound_bps(load_preset("backbone", distance_km=40)) / 1e6, 1)
    58.8

    References
    ----------
    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017), Eq. (4).
    """
    eta = db_to_transmittance(channel_loss_db(params, loss_db))
    if eta >= 1.0:
        return math.inf
    return float(plob_bound(eta)) * params.source.repetition_rate_hz
