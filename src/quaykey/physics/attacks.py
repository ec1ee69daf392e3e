"""Eavesdropping attacks, expressed as changed photon statistics at Bob's detectors.

An attack tells the sampler, for a pulse of intensity ``k`` whose preparation basis does
(or does not) match Bob's measurement basis, a short list of :class:`ArrivalScenario`:
a probability weight, the distribution of the number of photons that reach Bob's
detectors, and the probability that an absorbed photon lands in the detector of *Alice's*
bit. The fast sampler mixes the exact click probabilities of these scenarios, so an attack
costs nothing per pulse; the per-pulse reference sampler in ``tests/reference`` plays the
same attacks photon by photon.

Models
------
Intercept-resend (``intercept-resend:F``)
    Each pulse is attacked independently with probability ``F``. Eve, at Alice's output,
    measures the photon number without disturbing it (QND) and the polarisation in a
    random basis (X or Z, 1/2 each) with perfect detectors; she learns Alice's bit when her
    basis matches Alice's and gets a uniformly random bit otherwise. She resends the same
    number of photons prepared in her basis and bit into the real channel (vacuum stays
    vacuum), so Bob's gain is unchanged. In matching Alice-Bob bases the QBER of
    photon-caused clicks is ``1/4 + e_d / 2`` (1/2 of the time Eve's basis is wrong and
    Bob's bit is random; otherwise only misalignment errs).
Photon-number splitting (``pns:F``)
    Each pulse is attacked with probability ``F`` (Brassard, Lütkenhaus, Mor, Sanders,
    PRL 85, 1330 (2000); Lütkenhaus, PRA 61, 052304 (2000)). Eve measures the photon
    number ``n`` (QND). From ``n >= 2`` she keeps one photon and forwards ``n - 1`` to Bob
    over a lossless channel (with probability ``s_m``); a single photon she forwards over
    the lossless channel with probability ``s_1`` and blocks otherwise. She cannot see the
    intensity, so she picks ``s_1`` (and, only if blocking every single photon still gives
    too many clicks, ``s_m``) so that Bob's expected gain *averaged over the intensities*
    equals the no-attack gain: she blocks single photons as far as she can. At short
    distances, where even ``s_1 = s_m = 1`` gives fewer clicks than the honest channel,
    both are 1 and the gain drops (the attack is then visible in the gain itself). The
    polarisation is untouched, so the QBER stays at the misalignment level while the
    decoy intensities' gains deviate from the channel model — decoy-state estimation
    catches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.params import DecoySource, LinkParams
from quaykey.physics.sources import PhotonDistribution, poisson_pmf

__all__ = [
    "ArrivalScenario",
    "Attack",
    "InterceptResend",
    "PhotonNumberSplitting",
    "PnsStrategy",
    "honest_scenarios",
    "parse_attack",
]


@dataclass(frozen=True)
class ArrivalScenario:
    """One way a pulse can reach Bob, with its probability.

    Attributes
    ----------
    weight
        Probability of this scenario (the weights of a list sum to 1).
    photons
        Distribution of photons reaching Bob's detectors (before detector efficiency).
    correct_routing
        Probability that an absorbed photon goes to the detector of Alice's bit.
    """

    weight: float
    photons: PhotonDistribution
    correct_routing: float


class Attack(Protocol):
    """What the sampler needs from an attack."""

    @property
    def spec(self) -> str:
        """The attack as a ``name:fraction`` string (what :func:`parse_attack` reads)."""
        ...

    def scenarios(
        self, params: LinkParams, intensity_index: int, eta_channel: float, bases_match: bool
    ) -> tuple[ArrivalScenario, ...]:
        """Arrival scenarios of a pulse of this intensity and basis relation."""
        ...


def _routing(bases_match: bool, misalignment_error: float) -> float:
    return 1.0 - misalignment_error if bases_match else 0.5


def _mean_photons(params: LinkParams, intensity_index: int) -> float:
    source = params.source
    if not isinstance(source, DecoySource):
        raise ValueError("attacks are modelled for prepare-and-measure (DecoySource) links only")
    return source.intensities[intensity_index]


def honest_scenarios(
    params: LinkParams, intensity_index: int, eta_channel: float, bases_match: bool
) -> tuple[ArrivalScenario, ...]:
    """The single scenario without an eavesdropper: Poisson(mu eta_channel) photons.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> s = honest_scenarios(load_preset("gys", 50), 0, 0.1, True)
    >>> s[0].photons.poisson_mean, round(s[0].correct_routing, 3)
    (0.048, 0.967)
    """
    mu = _mean_photons(params, intensity_index)
    return (
        ArrivalScenario(
            1.0,
            PhotonDistribution(poisson_mean=mu * eta_channel),
            _routing(bases_match, params.detector.misalignment_error),
        ),
    )


def _check_fraction(fraction: float) -> float:
    if not (isinstance(fraction, int | float) and math.isfinite(fraction)):
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    return float(fraction)


@dataclass(frozen=True)
class InterceptResend:
    """Intercept-resend on a random fraction of pulses (model in the module docstring).

    Parameters
    ----------
    fraction
        Probability that a pulse is attacked, in [0, 1].

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1].

    Example
    -------
    >>> InterceptResend(0.3).spec
    'intercept-resend:0.3'

    References
    ----------
    Bennett, Brassard, Proc. IEEE ICCSSP (1984); Gisin, Ribordy, Tittel, Zbinden,
    Rev. Mod. Phys. 74, 145 (2002), Sec. VI.A (QBER 25 % on full interception).
    """

    fraction: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", _check_fraction(self.fraction))

    @property
    def spec(self) -> str:
        return f"intercept-resend:{self.fraction:g}"

    def expected_error_probability(
        self, error_probability: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Error probability of a detection with ``fraction`` of pulses intercepted.

        The statistical model's view of this attack (:mod:`quaykey.physics.counts`): a
        resent pulse whose basis Eve guessed wrong (1/2) gives Bob a random bit in the
        matching basis (1/2 wrong), so ``fraction / 4`` is added to every intensity's
        error probability, capped at 1/2. It leaves the gain unchanged, as the sampled
        model does.

        Example
        -------
        >>> InterceptResend(0.4).expected_error_probability(np.array([0.01, 0.02, 0.3]))
        array([0.11, 0.12, 0.4 ])
        """
        e = np.asarray(error_probability, dtype=np.float64)
        return np.clip(e + 0.25 * self.fraction, 0.0, 0.5)

    def scenarios(
        self, params: LinkParams, intensity_index: int, eta_channel: float, bases_match: bool
    ) -> tuple[ArrivalScenario, ...]:
        mu = _mean_photons(params, intensity_index)
        e_d = params.detector.misalignment_error
        photons = PhotonDistribution(poisson_mean=mu * eta_channel)
        f = self.fraction
        out = [ArrivalScenario(1.0 - f, photons, _routing(bases_match, e_d))]
        # Eve's basis equals Alice's (1/2): the state is Alice's.
        out.append(ArrivalScenario(f * 0.5, photons, _routing(bases_match, e_d)))
        # Eve's basis differs from Alice's (1/2): her bit is random w.r.t. Alice's.
        if bases_match:
            # Bob measures in Alice's basis, conjugate to Eve's: random detector.
            out.append(ArrivalScenario(f * 0.5, photons, 0.5))
        else:
            # Bob measures in Eve's basis: her bit (misaligned with e_d), random vs Alice's.
            out.append(ArrivalScenario(f * 0.25, photons, 1.0 - e_d))
            out.append(ArrivalScenario(f * 0.25, photons, e_d))
        return tuple(s for s in out if s.weight > 0.0)


@dataclass(frozen=True)
class PnsStrategy:
    """Eve's forwarding probabilities in a photon-number-splitting attack.

    Attributes
    ----------
    single_forward_probability
        ``s_1``: probability a single-photon pulse is forwarded (losslessly).
    multi_forward_probability
        ``s_m``: probability that ``n - 1`` photons of a multi-photon pulse are forwarded.
    gain_matched
        Whether Bob's expected average gain equals the honest one (False at short
        distance, where Eve cannot forward enough).
    """

    single_forward_probability: float
    multi_forward_probability: float
    gain_matched: bool


def _photon_number_mixture(params: LinkParams) -> np.ndarray:
    source = params.source
    if not isinstance(source, DecoySource):
        raise ValueError("attacks are modelled for prepare-and-measure (DecoySource) links only")
    n_max = int(max(source.intensities) + 12 * math.sqrt(max(source.intensities)) + 40)
    mix = np.zeros(n_max + 1)
    for mu, p in zip(source.intensities, source.probabilities, strict=True):
        mix += p * poisson_pmf(mu, n_max)
    return mix


@dataclass(frozen=True)
class PhotonNumberSplitting:
    """Photon-number splitting on a random fraction of pulses (model in the module docstring).

    Parameters
    ----------
    fraction
        Probability that a pulse is attacked, in [0, 1].

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1].

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> s = PhotonNumberSplitting(1.0).strategy(load_preset("gys", 100), 10 ** -2.1)
    >>> s.single_forward_probability, round(s.multi_forward_probability, 3), s.gain_matched
    (0.0, 0.039, True)

    References
    ----------
    Brassard, Lütkenhaus, Mor, Sanders, "Limitations on practical quantum cryptography",
    PRL 85, 1330 (2000); Lütkenhaus, PRA 61, 052304 (2000).
    """

    fraction: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", _check_fraction(self.fraction))

    @property
    def spec(self) -> str:
        return f"pns:{self.fraction:g}"

    def expected_error_probability(
        self, error_probability: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Not modelled statistically: the attack changes the decoy gains, not the QBER.

        Raises
        ------
        ValueError
            Always; sample such a link bit by bit (exact fidelity) instead.
        """
        raise ValueError(
            "the pns attack changes the decoy gains, which the counts model does not follow; "
            "simulate it bit by bit (exact fidelity)"
        )

    def strategy(self, params: LinkParams, eta_channel: float) -> PnsStrategy:
        """Solve Eve's forwarding probabilities so that Bob's average gain is unchanged.

        Bob's no-click probability (darks aside, which the attack leaves alone) is
        ``sum_n P(n) E[(1 - eta_d)^m]``; the honest value is
        ``sum_k p_k exp(-mu_k eta_channel eta_d)``. Both are linear in ``s_1`` and ``s_m``.
        """
        source = params.source
        assert isinstance(source, DecoySource)
        eta_d = params.detector.efficiency
        mix = _photon_number_mixture(params)
        n = np.arange(mix.size)
        target_silent = sum(
            p * math.exp(-mu * eta_channel * eta_d)
            for mu, p in zip(source.intensities, source.probabilities, strict=True)
        )
        p0, p1 = float(mix[0]), float(mix[1])
        multi = mix[2:]
        multi_silent = float(np.sum(multi * (1.0 - eta_d) ** (n[2:] - 1)))
        multi_total = float(multi.sum())
        # s_m = 1: silent = p0 + p1 (1 - s1 eta_d) + multi_silent
        s1 = (p0 + p1 + multi_silent - target_silent) / (p1 * eta_d) if p1 > 0 else 0.0
        if s1 > 1.0:
            return PnsStrategy(1.0, 1.0, False)
        if s1 >= 0.0:
            return PnsStrategy(s1, 1.0, True)
        # block every single photon and some multi-photon pulses as well
        multi_click = multi_total - multi_silent
        sm = (1.0 - target_silent) / multi_click if multi_click > 0 else 0.0
        return PnsStrategy(0.0, min(max(sm, 0.0), 1.0), True)

    def scenarios(
        self, params: LinkParams, intensity_index: int, eta_channel: float, bases_match: bool
    ) -> tuple[ArrivalScenario, ...]:
        mu = _mean_photons(params, intensity_index)
        routing = _routing(bases_match, params.detector.misalignment_error)
        honest = PhotonDistribution(poisson_mean=mu * eta_channel)
        st = self.strategy(params, eta_channel)
        pn = poisson_pmf(mu)
        arrive = np.zeros(pn.size)
        s1, sm = st.single_forward_probability, st.multi_forward_probability
        arrive[0] += pn[0] + (1.0 - s1) * pn[1] + (1.0 - sm) * pn[2:].sum()
        arrive[1] += s1 * pn[1]
        arrive[1 : pn.size - 1] += sm * pn[2:]
        arrive /= arrive.sum()  # fold in the truncated Poisson tail (< 1e-18)
        attacked = PhotonDistribution(pmf=tuple(float(x) for x in arrive))
        out = (
            ArrivalScenario(1.0 - self.fraction, honest, routing),
            ArrivalScenario(self.fraction, attacked, routing),
        )
        return tuple(s for s in out if s.weight > 0.0)


_ATTACKS = {"intercept-resend": InterceptResend, "pns": PhotonNumberSplitting}


def parse_attack(spec: str) -> InterceptResend | PhotonNumberSplitting:
    """Read an attack from ``name:fraction``, e.g. ``intercept-resend:0.3`` or ``pns:1.0``.

    Parameters
    ----------
    spec
        ``intercept-resend`` or ``pns``, optionally followed by ``:fraction`` (default 1).

    Returns
    -------
    InterceptResend or PhotonNumberSplitting

    Raises
    ------
    ValueError
        Naming ``--eve`` for an unknown attack name or a fraction that is not a number in
        [0, 1].

    Example
    -------
    >>> parse_attack("intercept-resend:0.3")
    InterceptResend(fraction=0.3)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("--eve needs an attack such as intercept-resend:0.3 or pns:1.0")
    name, _, frac = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in _ATTACKS:
        raise ValueError(
            f"--eve: unknown attack {name!r}; choose one of: {', '.join(sorted(_ATTACKS))} "
            "(e.g. intercept-resend:0.3)"
        )
    if not frac.strip():
        fraction = 1.0
    else:
        try:
            fraction = float(frac)
        except ValueError:
            raise ValueError(
                f"--eve: fraction {frac!r} is not a number; use e.g. {name}:0.5"
            ) from None
    if not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0):
        raise ValueError(f"--eve: fraction must be in [0, 1], got {frac!r}")
    if name == "pns":
        return PhotonNumberSplitting(fraction)
    return InterceptResend(fraction)
