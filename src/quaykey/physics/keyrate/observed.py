"""Key rates estimated from *observed* counts: gains, QBERs and sifted counts of a sample.

* :func:`observed_vacuum_weak_rate`: the vacuum + weak decoy GLLP rate per signal pulse
  from observed gains and QBERs keyed by intensity name (the ``vacuum-weak`` model's
  formula, :func:`quaykey.physics.keyrate.rates.vacuum_weak_gllp_rate`, on measured
  numbers);
* :func:`asymptotic_key_rate_estimate`: the same per pulse sent, from a
  :class:`~quaykey.physics.sampler.LinkSample` (no finite-size correction);
* :func:`estimate_secret_key_rate`: the finite-key length of Lim et al. (2014) on a
  sample's sifted counts (BB84), or the asymptotic BBM92 rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from quaykey.decoy import DecoyCounts, lim2014_key_length
from quaykey.physics.keyrate.gains import decoy_source
from quaykey.physics.keyrate.rates import vacuum_weak_gllp_rate
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource
from quaykey.units import binary_entropy

if TYPE_CHECKING:
    from quaykey.physics.sampler import LinkSample

__all__ = [
    "asymptotic_key_rate_estimate",
    "estimate_secret_key_rate",
    "observed_vacuum_weak_rate",
]


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
    >>> from quaykey.physics.keyrate import expected_gains_and_qbers
    >>> from quaykey.physics.params import load_preset
    >>> p = load_preset("gys", distance_km=50)
    >>> exp = expected_gains_and_qbers(p)
    >>> r = observed_vacuum_weak_rate(p, {k: v[0] for k, v in exp.items()},
    ...                               {k: v[1] for k, v in exp.items()})
    >>> 1e-4 < r < 3e-4
    True
    """
    source = decoy_source(params)
    if len(source.intensities) != 3 or source.intensities[2] != 0.0:
        raise ValueError(
            "intensities: the vacuum-weak estimate needs (signal, weak decoy, vacuum = 0), "
            f"got {source.intensities}"
        )
    names = source.names
    missing = [n for n in names if n not in gains or n not in qbers]
    if missing:
        raise ValueError(f"gains and qbers need every intensity; missing {missing}")
    rate = vacuum_weak_gllp_rate(
        params,
        (gains[names[0]], gains[names[1]]),
        (qbers[names[0]], qbers[names[1]]),
        mu=source.intensities[0],
        nu=source.intensities[1],
        y0=gains[names[2]],
    )
    return max(rate, 0.0)


def asymptotic_key_rate_estimate(sample: LinkSample, params: LinkParams) -> float | None:
    """GLLP rate per pulse from the observed gains and QBERs, no finite-size correction.

    Vacuum + weak decoy bounds of Ma et al. (2005) (:func:`quaykey.decoy.vacuum_weak_bounds`)
    with the signal (first intensity) and the weak decoy (second); ``Y0`` is the observed
    gain of the lowest intensity (an upper bound on ``Y0`` for a weak vacuum, which only
    lowers ``Y1^L``). Sifting factor ``q_x^2 + q_z^2``. Statistical fluctuations are
    ignored, so on small samples this is *not* a secure bound; use
    :func:`estimate_secret_key_rate` for that. Negative rates are clipped to 0.

    Parameters
    ----------
    sample
        A BB84 sample.
    params
        Its parameters.

    Returns
    -------
    float or None
        Bits per pulse, or ``None`` without at least two non-vacuum intensities, or for
        BBM92.

    Example
    -------
    >>> import numpy as np
    >>> from quaykey.physics.params import load_preset
    >>> from quaykey.physics.sampler import simulate_link
    >>> p = load_preset("gys", 50)
    >>> r = asymptotic_key_rate_estimate(simulate_link(p, 10**9, np.random.default_rng(2)), p)
    >>> 1e-4 < r < 3e-4
    True

    References
    ----------
    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (1), (34), (37).
    """
    source = params.source
    if not isinstance(source, DecoySource) or len(source.intensities) < 3:
        return None
    st = sample.stats
    names = st.intensity_names
    mu, nu = source.intensities[0], source.intensities[1]
    if not 0.0 < nu < mu:
        return None
    gains = st.gain
    qbers = st.qber
    if any(math.isnan(gains[n]) for n in names) or any(math.isnan(qbers[n]) for n in names[:2]):
        return 0.0
    rate = vacuum_weak_gllp_rate(
        params,
        (gains[names[0]], gains[names[1]]),
        (qbers[names[0]], qbers[names[1]]),
        mu=mu,
        nu=nu,
        y0=gains[names[-1]],
    )
    return max(rate * source.probabilities[0], 0.0)


def estimate_secret_key_rate(sample: LinkSample, params: LinkParams) -> float | None:
    """Secret-key rate per pulse estimated from a sample's *observed* counts.

    Decoy BB84 with three intensities ``mu1 > mu2 + mu3``: the finite-key bound of Lim et
    al. (2014) (:func:`quaykey.decoy.lim2014_key_length`) on the sifted X-basis counts per
    intensity (key from the X basis, Z basis for testing), with error-correction leakage
    ``f h(E_X) n_X``, divided by ``n_pulses``. BBM92: the asymptotic rate
    ``q Q (1 - f h(E) - h(E))`` with ``q = q_x^2 + q_z^2`` (Ma, Fung, Lo 2007, Eq. 6; no
    finite-size correction). Negative values are clipped to 0.

    Parameters
    ----------
    sample
        A sample from :func:`simulate_link` with these ``params``.
    params
        The link parameters (intensities, probabilities, security settings).

    Returns
    -------
    float or None
        Bits per pulse, or ``None`` when the source's intensities are not a decoy
        configuration the bound can use.

    Example
    -------
    >>> import numpy as np
    >>> from quaykey.physics.params import load_preset
    >>> from quaykey.physics.sampler import simulate_link
    >>> p = load_preset("lim2014", 50).with_overrides({"source.basis_probability_x": 0.5})
    >>> r = estimate_secret_key_rate(simulate_link(p, 10**9, np.random.default_rng(2)), p)
    >>> 1e-5 < r < 1e-4
    True

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eq. (1); Ma, Fung, Lo,
    PRA 76, 012307 (2007).
    """
    st = sample.stats
    if st.n_pulses == 0:
        return 0.0
    f = params.security.error_correction_efficiency
    names = st.intensity_names
    if isinstance(params.source, SPDCSource):
        name = names[0]
        sifted = st.sifted_x[name] + st.sifted_z[name]
        if sifted == 0:
            return 0.0
        e = (st.errors_x[name] + st.errors_z[name]) / sifted
        rate = sifted / st.n_pulses * (1.0 - (1.0 + f) * float(binary_entropy(e)))
        return max(rate, 0.0)
    source = params.source
    mu = source.intensities
    if len(mu) != 3 or not (mu[0] > mu[1] + mu[2] and mu[1] > mu[2] >= 0.0):
        return None
    if min(source.probabilities) <= 0.0:
        return None
    n_x = [st.sifted_x[k] for k in names]
    m_x = [st.errors_x[k] for k in names]
    counts = DecoyCounts(
        n_x=np.array(n_x, dtype=np.float64),
        n_z=np.array([st.sifted_z[k] for k in names], dtype=np.float64),
        m_x=np.array(m_x, dtype=np.float64),
        m_z=np.array([st.errors_z[k] for k in names], dtype=np.float64),
    )
    total_x = float(sum(n_x))
    e_x = sum(m_x) / total_x if total_x else 0.5
    bound = lim2014_key_length(
        counts,
        mu,
        source.probabilities,
        leak_ec_bits=f * float(binary_entropy(e_x)) * total_x,
        epsilon_sec=params.security.epsilon_sec,
        epsilon_cor=params.security.epsilon_cor,
    )
    return bound.key_length_bits / st.n_pulses
