"""The two-photon link: an entangled-pair source in the middle, one detector station per arm.

A continuous-wave SPDC source emits pairs at ``pair_rate_hz``; each photon of a pair goes
down its own arm (transmittance ``eta_a`` and ``eta_b`` from the source to a click,
detectors included) to a station with passive 50:50 basis choice and two threshold
detectors. A *pair-generation attempt* is one coincidence window ``tau``: the stations
count a coincidence when both click within it.

Counts per window (closed form)
    Pairs in a window are Poisson with mean ``mu = pair_rate_hz * tau`` (a CW source seen
    through a window much longer than its coherence time is many-mode). Thinning the pairs
    gives three independent Poisson numbers: pairs with both photons detected (mean
    ``mu eta_a eta_b``), pairs with only the A photon (``mu eta_a (1 - eta_b)``) and only
    the B photon (``mu (1 - eta_a) eta_b``). Dark and background clicks add Poisson means
    ``d_a = noise_a * tau`` and ``d_b = noise_b * tau``. With ``x_a = mu eta_a (1 - eta_b)
    + d_a`` and ``x_b`` likewise:

    * true coincidence (at least one pair with both photons detected):
      ``P_t = 1 - exp(-mu eta_a eta_b)``;
    * coincidence: ``P_c = P_t + (1 - P_t) (1 - exp(-x_a)) (1 - exp(-x_b))``;
    * errors: a coincidence from exactly one detected pair and no other click errs with
      the intrinsic error ``e_d = (1 - V) / 2`` of the polarisation visibility ``V``;
      every other coincidence (accidental, several pairs, an extra uncorrelated click:
      a double click squashed to a random bit) errs with probability 1/2.

BBM92 sifting keeps the coincidences in which both stations chose the same basis (1/2,
passive choice) and distils key from both bases. Asymptotic key per window:
``R = P_c / 2 * (1 - f_e h(E) - h(E))`` (Ma, Fung, Lo 2007, Eq. 6 with ``q = 1/2``).

Finite key (:func:`finite_key_bits`)
    ``l = n [1 - h(E + theta)] - f_e n h(E) - 2 log2(1/eps)``, ``theta =
    sqrt(ln(1/eps) / n)``: the phase error of the ``n`` sifted bits is bounded by the
    observed bit error plus a Hoeffding deviation for the ``n/2`` bits of the other basis
    (``theta = sqrt(ln(1/eps) / (2 n/2))``), and ``2 log2(1/eps)`` pays for privacy
    amplification and the error-verification hash. The formula of Yin et al. (2020)'s
    Methods is not in the text available to us; this one reproduces the two figures of
    theirs it can be checked against: the total key of their 3,100 s and the QBER above
    which that much data gives no key ("below about 6.0 %", Extended Data Fig. 4), see
    ``docs/validation.md``.

Bounds
    Key per attempt never exceeds the coincidence probability, nor the repeater-chain
    capacity with one middle node, ``min(-log2(1 - eta_a), -log2(1 - eta_b))``
    (Pirandola, Commun. Phys. 2, 51 (2019); each arm's PLOB bound,
    :func:`quaykey.physics.keyrate.bounds.plob_bound`).

References
----------
Bennett, Brassard, Mermin, PRL 68, 557 (1992) (BBM92).
Ma, Fung, Lo, "Quantum key distribution with entangled photon sources", PRA 76, 012307
(2007), Eq. (6).
Hoeffding, "Probability inequalities for sums of bounded random variables", JASA 58, 13
(1963) (also valid for sampling without replacement).
Yin et al., "Entanglement-based secure quantum cryptography over 1,120 kilometres",
Nature 582, 501-505 (2020).
Pirandola, "End-to-end capacities of a quantum communication network", Commun. Phys. 2,
51 (2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from quaykey.physics.keyrate.bounds import plob_bound
from quaykey.records import AliceRecord, BobRecord, PublicProtocol
from quaykey.units import binary_entropy

__all__ = [
    "TwoPhotonCounts",
    "TwoPhotonLink",
    "asymptotic_key_per_window",
    "coincidence_records",
    "finite_key_bits",
    "repeater_chain_bound",
    "two_photon_counts",
]


@dataclass(frozen=True)
class TwoPhotonLink:
    """Source, detectors and post-processing settings of a two-photon (BBM92) link.

    Parameters
    ----------
    pair_rate_hz
        Pairs the source emits per second (into the two transmitters).
    coincidence_window_s
        Width of the coincidence window: one pair-generation attempt.
    detector_efficiency
        Efficiency of the ground detectors (same at both stations).
    noise_a_hz, noise_b_hz
        Dark plus background clicks per second at each station (all its detectors).
    visibility
        Polarisation visibility of the distributed pairs; intrinsic error ``(1 - V) / 2``.
    ec_inefficiency
        Error-correction inefficiency ``f_e`` (leakage over ``h(E)`` per bit).
    epsilon
        Failure probability of the finite key.
    source
        Where the figures come from.
    """

    pair_rate_hz: float = 5.9e6
    coincidence_window_s: float = 2.5e-9
    detector_efficiency: float = 0.5
    noise_a_hz: float = 1000.0
    noise_b_hz: float = 1000.0
    visibility: float = 0.97
    ec_inefficiency: float = 1.19
    epsilon: float = 1e-10
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("pair_rate_hz", "coincidence_window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("noise_a_hz", "noise_b_hz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 < self.detector_efficiency <= 1.0:
            raise ValueError(
                f"detector_efficiency must be in (0, 1], got {self.detector_efficiency!r}"
            )
        if not 0.0 <= self.visibility <= 1.0:
            raise ValueError(f"visibility must be in [0, 1], got {self.visibility!r}")
        if not (math.isfinite(self.ec_inefficiency) and self.ec_inefficiency >= 1.0):
            raise ValueError(f"ec_inefficiency must be >= 1, got {self.ec_inefficiency!r}")
        if not 0.0 < self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon!r}")

    @property
    def mean_pairs_per_window(self) -> float:
        """``mu``: pairs emitted per coincidence window."""
        return self.pair_rate_hz * self.coincidence_window_s

    @property
    def windows_per_second(self) -> float:
        """Pair-generation attempts per second."""
        return 1.0 / self.coincidence_window_s

    @property
    def intrinsic_error(self) -> float:
        """``e_d = (1 - V) / 2``."""
        return (1.0 - self.visibility) / 2.0


@dataclass(frozen=True)
class TwoPhotonCounts:
    """Per-window probabilities over a set of arm transmittances (arrays of one shape).

    Attributes
    ----------
    eta_a, eta_b
        Transmittance of each arm, source to click (detectors included).
    p_coincidence
        Probability of a coincidence in a window.
    p_true
        Probability of a coincidence from at least one pair detected at both ends.
    qber
        Error rate of the sifted coincidences.
    """

    eta_a: NDArray[np.float64]
    eta_b: NDArray[np.float64]
    p_coincidence: NDArray[np.float64]
    p_true: NDArray[np.float64]
    qber: NDArray[np.float64]

    @property
    def signal_to_noise(self) -> NDArray[np.float64]:
        """True over accidental coincidences (inf without accidentals)."""
        acc = self.p_coincidence - self.p_true
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(acc > 0, self.p_true / np.where(acc > 0, acc, 1.0), np.inf)


def _check_eta(name: str, eta: NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(eta)) or np.any(eta < 0) or np.any(eta > 1):
        raise ValueError(f"{name} must be transmittances in [0, 1]")


def two_photon_counts(link: TwoPhotonLink, eta_a: ArrayLike, eta_b: ArrayLike) -> TwoPhotonCounts:
    """Coincidence probability and QBER per window for arm transmittances ``eta_a``, ``eta_b``.

    Example
    -------
    >>> c = two_photon_counts(TwoPhotonLink(noise_a_hz=0, noise_b_hz=0), 1e-3, 1e-3)
    >>> mu = 5.9e6 * 2.5e-9
    >>> bool(abs(c.p_coincidence[0] / (mu * 1e-6) - 1) < 0.02), round(float(c.qber[0]), 4)
    (True, 0.022)
    """
    ea = np.atleast_1d(np.asarray(eta_a, dtype=np.float64))
    eb = np.atleast_1d(np.asarray(eta_b, dtype=np.float64))
    ea, eb = np.broadcast_arrays(ea, eb)
    _check_eta("eta_a", ea)
    _check_eta("eta_b", eb)
    mu = link.mean_pairs_per_window
    tau = link.coincidence_window_s
    both = mu * ea * eb
    x_a = mu * ea * (1.0 - eb) + link.noise_a_hz * tau
    x_b = mu * (1.0 - ea) * eb + link.noise_b_hz * tau
    p_true = -np.expm1(-both)
    p_c = p_true + (1.0 - p_true) * (-np.expm1(-x_a)) * (-np.expm1(-x_b))
    clean = both * np.exp(-both) * np.exp(-(x_a + x_b))  # exactly one pair, nothing else
    err = link.intrinsic_error * clean + 0.5 * (p_c - clean)
    qber = np.full_like(p_c, 0.5)
    np.divide(err, p_c, out=qber, where=p_c > 0)
    return TwoPhotonCounts(ea.copy(), eb.copy(), p_c, p_true, np.clip(qber, 0.0, 0.5))


def asymptotic_key_per_window(link: TwoPhotonLink, counts: TwoPhotonCounts) -> NDArray[np.float64]:
    """Secret bits per pair-generation attempt, ``P_c/2 (1 - f_e h(E) - h(E))`` (>= 0)."""
    h = np.asarray(binary_entropy(counts.qber), dtype=np.float64)
    rate = 0.5 * counts.p_coincidence * (1.0 - link.ec_inefficiency * h - h)
    return np.maximum(rate, 0.0)


def finite_key_bits(n_sifted: float, qber: float, ec_inefficiency: float, epsilon: float) -> float:
    """Finite key from ``n_sifted`` sifted bits at error rate ``qber`` (see the module doc).

    Returns 0 when no key can be extracted.

    Example
    -------
    >>> round(finite_key_bits(3410, 0.045, 1.19, 1e-10))
    395
    """
    if not (math.isfinite(n_sifted) and n_sifted >= 0):
        raise ValueError(f"n_sifted must be a finite number >= 0, got {n_sifted!r}")
    if not 0.0 <= qber <= 0.5:
        raise ValueError(f"qber must be in [0, 0.5], got {qber!r}")
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon!r}")
    if n_sifted < 2:
        return 0.0
    theta = math.sqrt(math.log(1.0 / epsilon) / n_sifted)
    phase = min(qber + theta, 0.5)
    length = (
        n_sifted * (1.0 - float(binary_entropy(phase)))
        - ec_inefficiency * n_sifted * float(binary_entropy(qber))
        - 2.0 * math.log2(1.0 / epsilon)
    )
    return max(length, 0.0)


def repeater_chain_bound(eta_a: ArrayLike, eta_b: ArrayLike) -> NDArray[np.float64]:
    """``min(-log2(1 - eta_a), -log2(1 - eta_b))``: a chain with one middle node.

    Pirandola (2019): the end-to-end capacity of a chain is the smallest PLOB bound of
    its links.

    Example
    -------
    >>> round(float(repeater_chain_bound(0.5, 0.75)[0]), 3)
    1.0
    """
    ea = np.atleast_1d(np.asarray(eta_a, dtype=np.float64))
    eb = np.atleast_1d(np.asarray(eta_b, dtype=np.float64))
    ea, eb = np.broadcast_arrays(ea, eb)
    return np.array(
        [min(plob_bound(float(a)), plob_bound(float(b))) for a, b in zip(ea, eb, strict=True)]
    )


def coincidence_records(
    link: TwoPhotonLink,
    coincidences: float,
    qber: float,
    duration_s: float,
    rng: np.random.Generator,
) -> tuple[AliceRecord, BobRecord]:
    """The two stations' records of a stretch of data, drawn at the coincidence level.

    The number of coincidences is Poisson with mean ``coincidences``; each falls in a random
    window of the stretch. Each station picks its basis at random (passive 50:50 choice)
    and records its bit; where the bases match the two bits differ with probability
    ``qber``, where they do not they are independent. Each record holds its own station's
    coincidence slots (singles without a partner never sift, so they are left out); the
    records go to :func:`quaykey.postproc.driver.run_block` like a sampler's.

    Raises
    ------
    ValueError
        For negative counts, a QBER outside [0, 0.5] or a stretch shorter than a window.
    """
    if not (math.isfinite(coincidences) and coincidences >= 0):
        raise ValueError(f"coincidences must be a finite number >= 0, got {coincidences!r}")
    if not 0.0 <= qber <= 0.5:
        raise ValueError(f"qber must be in [0, 0.5], got {qber!r}")
    n_windows = int(duration_s / link.coincidence_window_s)
    if n_windows < 1:
        raise ValueError(f"duration_s must hold at least one window, got {duration_s!r}")
    slots = np.unique(rng.integers(0, n_windows, int(rng.poisson(coincidences)), dtype=np.int64))
    n = slots.size
    bases_a = rng.integers(0, 2, n, dtype=np.uint8)
    bases_b = rng.integers(0, 2, n, dtype=np.uint8)
    bits_a = rng.integers(0, 2, n, dtype=np.uint8)
    flips = (rng.random(n) < qber).astype(np.uint8)
    bits_b = np.where(bases_a == bases_b, bits_a ^ flips, rng.integers(0, 2, n, dtype=np.uint8))
    protocol = PublicProtocol(
        kind="bbm92",
        intensities=(link.mean_pairs_per_window,),
        intensity_names=("pair",),
        intensity_probabilities=(1.0,),
        basis_probability_x=0.5,
        repetition_rate_hz=link.windows_per_second,
    )
    alice = AliceRecord(
        protocol=protocol,
        n_pulses=n_windows,
        pulses_per_intensity=np.array([n_windows], dtype=np.int64),
        slots=slots,
        bits=bits_a,
        bases=bases_a,
        intensity=np.zeros(n, dtype=np.uint8),
    )
    bob = BobRecord(
        protocol=protocol, n_pulses=n_windows, slots=slots.copy(), bases=bases_b,
        bits=bits_b.astype(np.uint8),
    )  # fmt: skip
    return alice, bob
