"""Link processes: where physics (counts or bits) and post-processing (keys) meet.

A :class:`LinkProcess` runs one QKD link in blocks inside the discrete-event engine and
deposits each block's key into the key pools at both ends. Two fidelities:

``statistical``
    No bits. Each block draws its detection and error counts per intensity and basis
    (Poisson / binomial around the expected counts of :func:`expected_counts`) and takes
    the Lim et al. (2014) finite-key length of those counts
    (:func:`quaykey.decoy.lim2014_key_length`). The pools receive bit *counts*.
``exact``
    Real bits: :func:`quaykey.physics.sampler.simulate_link` produces Alice's and Bob's
    records, :func:`quaykey.postproc.pipeline.run_block` turns them into two keys; Alice's
    key goes to the pool at end ``a``, Bob's to the pool at end ``b``. Needs those modules.

The link-rate model is behind :func:`expected_counts` and :func:`analytic_key_rate_bps`
so that a physics key-rate module can replace it in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from quaykey.decoy import DecoyCounts, lim2014_key_length
from quaykey.errors import SecurityAbortError
from quaykey.physics.keyrate import click_probabilities, plob_bound
from quaykey.physics.params import DecoySource, LinkParams
from quaykey.postproc.reconcile import RECONCILERS
from quaykey.units import binary_entropy, db_to_transmittance

__all__ = [
    "Attack",
    "BlockOutcome",
    "Fidelity",
    "LinkRunner",
    "analytic_key_rate_bps",
    "analytic_link_summary",
    "block_key_bits",
    "error_correction_leak_bits",
    "exact_free_space_block",
    "expected_counts",
    "parse_attack",
    "plob_bound_bps",
    "sample_counts",
]

Fidelity = Literal["statistical", "exact"]


@dataclass(frozen=True)
class Attack:
    """An eavesdropping attack on a link, as the statistical model sees it.

    Parameters
    ----------
    kind
        Only ``"intercept-resend"`` is modelled statistically.
    fraction
        Fraction of pulses Eve intercepts, measures in a random basis and resends;
        it adds ``fraction / 4`` to the error rate of the detections it touches.
    spec
        The original text (``"intercept-resend:0.3"``), passed to the physics attack
        parser in exact fidelity.
    """

    kind: str
    fraction: float
    spec: str = ""

    def __post_init__(self) -> None:
        if self.kind != "intercept-resend":
            raise ValueError(f"unknown attack {self.kind!r}; use intercept-resend:FRACTION")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"attack fraction must be in [0, 1], got {self.fraction!r}")


def parse_attack(spec: str) -> Attack:
    """Parse ``"intercept-resend:0.3"`` into an :class:`Attack`.

    Example
    -------
    >>> parse_attack("intercept-resend:0.3").fraction
    0.3
    """
    kind, _, value = spec.partition(":")
    try:
        fraction = float(value) if value else 1.0
    except ValueError:
        raise ValueError(
            f"attack {spec!r}: fraction must be a number, e.g. intercept-resend:0.3"
        ) from None
    return Attack(kind=kind.strip(), fraction=fraction, spec=spec)


def _decoy_source(params: LinkParams) -> DecoySource:
    if not isinstance(params.source, DecoySource) or len(params.source.intensities) != 3:
        raise ValueError(
            f"link {params.name!r}: the network link model needs a three-intensity decoy source"
        )
    return params.source


def _channel_loss_db(params: LinkParams, loss_db: float | None) -> float:
    if loss_db is not None:
        return float(loss_db)
    return float(getattr(params.channel, "loss_db", 0.0))


def expected_counts(
    params: LinkParams,
    n_pulses: float,
    loss_db: float | None = None,
    attack: Attack | None = None,
) -> DecoyCounts:
    """Expected sifted detections and errors per intensity and basis for ``n_pulses``.

    The per-pulse detection model is the physics layer's, not a copy:
    :func:`quaykey.physics.keyrate.click_probabilities` gives the gain ``Q_k`` and the
    error probability ``E_k Q_k`` of intensity ``mu_k`` when the bases match, at
    ``eta = 10**(-loss/10) * eta_det``, for two threshold detectors with dark counts,
    misalignment, double clicks squashed to a random bit and next-gate afterpulses whose
    background comes from the intensity mix actually sent
    (:func:`quaykey.physics.keyrate.afterpulse_background`, with the basis-match
    probability ``p_x^2 + (1 - p_x)^2``) -- the model that
    :func:`quaykey.physics.sampler.simulate_link` samples. Detections in basis X are
    ``N p_k p_x^2 Q_k``, in Z ``N p_k (1 - p_x)^2 Q_k``, errors the same with ``E_k Q_k``.
    An intercept-resend attack on a fraction ``f`` of pulses adds ``f/4`` to each
    detection's error probability (a network-level stand-in for
    :mod:`quaykey.physics.attacks`).

    Parameters
    ----------
    params
        Link parameters (three-intensity decoy source).
    n_pulses
        Pulses sent (may be a real number: expected counts).
    loss_db
        Channel loss; defaults to the channel's own loss (fibre length x attenuation).
    attack
        Optional intercept-resend attack.

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
    src = _decoy_source(params)
    eta = db_to_transmittance(_channel_loss_db(params, loss_db)) * params.detector.efficiency
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
    if attack is not None and attack.fraction > 0:
        e_k = np.clip(e_k + attack.fraction * 0.25, 0.0, 0.5)
    n_x = n_pulses * p * px * px * gain
    n_z = n_pulses * p * (1.0 - px) ** 2 * gain
    return DecoyCounts(n_x=n_x, n_z=n_z, m_x=n_x * e_k, m_z=n_z * e_k)


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


def error_correction_leak_bits(
    n_bits: float,
    qber: float,
    reconciler: str = "cascade",
    epsilon_cor: float = 1e-15,
) -> float:
    """Leakage charged to a block's key length when ``reconciler`` corrects ``n_bits``.

    The same charge as the post-processing pipeline
    (:func:`quaykey.postproc.pipeline.run_block`): the reconciler's disclosed bits
    ``f(Q) h(Q) n`` with its measured efficiency ``f`` (:data:`RECONCILERS`), plus
    the verification tags, ``t`` bits for each of the ``ceil(n / frame_bits)`` frames
    (:func:`quaykey.postproc.verify.tag_bits_for`), less the ``log2(2/epsilon_cor)``
    already in the finite-key bound.

    Parameters
    ----------
    n_bits
        Key-basis bits reconciled (may be an expected, real-valued count).
    qber
        Their error rate.
    reconciler
        A key of :data:`RECONCILERS`.
    epsilon_cor
        Correctness parameter (sets the tag length).

    Returns
    -------
    float
        Bits to subtract from the key length.

    Raises
    ------
    ValueError
        For an unknown reconciler or a negative ``n_bits``.

    Example
    -------
    >>> leak = error_correction_leak_bits(4e5, 0.015)
    >>> from quaykey.units import binary_entropy
    >>> round(leak / (4e5 * float(binary_entropy(0.015))), 3)  # f plus ~0.03 of tags
    1.074

    References
    ----------
    Martinez-Mateo, Pacher, Peev, Ciurana, Martin, Quantum Inf. Comput. 15, 453 (2015)
    (Cascade efficiency); Lim et al., PRA 89, 022307 (2014), Eq. (1) (``leak_EC``).
    """
    from quaykey.postproc.verify import tag_bits_for

    if reconciler not in RECONCILERS:
        raise ValueError(f"unknown reconciler {reconciler!r}; use one of {sorted(RECONCILERS)}")
    if not n_bits >= 0:
        raise ValueError(f"n_bits must be >= 0, got {n_bits!r}")
    if n_bits == 0:
        return 0.0
    model = RECONCILERS[reconciler]
    ec = model.efficiency_at(qber) * float(binary_entropy(qber)) * n_bits
    frames = math.ceil(n_bits / model.frame_bits)
    tags = frames * tag_bits_for(epsilon_cor, frames)
    return ec + max(0.0, tags - math.log2(2.0 / epsilon_cor))


def block_key_bits(
    params: LinkParams, counts: DecoyCounts, reconciler: str | None = "cascade"
) -> tuple[int, float]:
    """Finite-key length (Lim et al. 2014) of one block and its key-basis QBER.

    Error correction leaks what ``reconciler`` was measured to leak
    (:func:`error_correction_leak_bits`); with ``reconciler=None`` it leaks the nominal
    ``f h(E_X) n_X`` of ``params.security.error_correction_efficiency`` (the physics
    layer's key-rate convention, no verification tags).

    Returns
    -------
    (key_bits, qber_x)

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eq. (1).
    """
    src = _decoy_source(params)
    qber = counts.qber_x
    n_x = float(counts.n_x.sum())
    if reconciler is None:
        leak = params.security.error_correction_efficiency * float(binary_entropy(qber)) * n_x
    else:
        leak = error_correction_leak_bits(n_x, qber, reconciler, params.security.epsilon_cor)
    bound = lim2014_key_length(
        counts,
        src.intensities,
        src.probabilities,
        leak_ec_bits=leak,
        epsilon_sec=params.security.epsilon_sec,
        epsilon_cor=params.security.epsilon_cor,
    )
    return bound.key_length_bits, qber


def analytic_key_rate_bps(
    params: LinkParams,
    block_duration_s: float,
    loss_db: float | None = None,
    attack: Attack | None = None,
) -> float:
    """Finite-key secret key rate (bit/s) at the *expected* counts of one block.

    This is the one call that a physics key-rate module can replace.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> r = analytic_key_rate_bps(load_preset("backbone", distance_km=60), 60.0)
    >>> 1e3 < r < 1e5
    True
    """
    if block_duration_s <= 0:
        raise ValueError(f"block_duration_s must be > 0, got {block_duration_s!r}")
    n = params.source.repetition_rate_hz * block_duration_s
    bits, _ = block_key_bits(params, expected_counts(params, n, loss_db, attack))
    return bits / block_duration_s


def plob_bound_bps(params: LinkParams, loss_db: float | None = None) -> float:
    """The PLOB bound ``-log2(1 - eta)`` bits per pulse times the pulse rate (bit/s).

    ``eta`` is the channel transmittance (detector efficiency excluded, which only
    makes the bound looser).

    References
    ----------
    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017), Eq. (4).
    """
    eta = db_to_transmittance(_channel_loss_db(params, loss_db))
    if eta >= 1.0:
        return math.inf
    return float(plob_bound(eta)) * params.source.repetition_rate_hz


# --------------------------------------------------------------------------- link blocks


@dataclass(frozen=True)
class BlockOutcome:
    """Public account of one block of one link (no key material).

    Attributes
    ----------
    link
        Link name.
    end_s
        Simulation time at which the block finished.
    duration_s
        Block duration.
    key_bits
        Key bits added to each end's pool (0 when aborted).
    qber
        Key-basis error rate observed.
    sifted_bits
        Sifted detections (both bases).
    aborted
        Whether the block was discarded (no positive key, QBER too high, attack detected).
    reason
        Why it was aborted ("" otherwise).
    """

    link: str
    end_s: float
    duration_s: float
    key_bits: int
    qber: float
    sifted_bits: float
    aborted: bool = False
    reason: str = ""


@dataclass
class LinkRunner:
    """Runs blocks of one fibre link in one fidelity and deposits the keys.

    Parameters
    ----------
    name
        Link name (pools are looked up under it).
    params
        The link's physics parameters.
    fidelity
        ``statistical`` or ``exact``.
    block_duration_s
        Simulated time per block.
    rng
        Randomness for the counts (statistical) or the sampler (exact).
    reconciler
        Reconciler name for the exact pipeline.
    auth_preshared_bits
        Size of the pre-shared authentication key of the exact pipeline.
    qber_threshold
        Blocks whose key-basis QBER exceeds this abort (both fidelities).
    """

    name: str
    params: LinkParams
    fidelity: Fidelity = "statistical"
    block_duration_s: float = 600.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    reconciler: str = "cascade"
    auth_preshared_bits: int = 200_000
    qber_threshold: float = 0.11
    _auth: tuple[Any, Any] | None = field(default=None, repr=False)
    _blocks: int = 0

    def __post_init__(self) -> None:
        if self.fidelity not in ("statistical", "exact"):
            raise ValueError(f"fidelity must be 'statistical' or 'exact', got {self.fidelity!r}")
        if self.block_duration_s <= 0:
            raise ValueError("block_duration_s must be > 0")

    @property
    def n_pulses(self) -> int:
        """Pulses per block."""
        return round(self.params.source.repetition_rate_hz * self.block_duration_s)

    def run_block(self, end_s: float, attack: Attack | None = None) -> tuple[BlockOutcome, Any]:
        """Run one block; returns the outcome and the keys (``None`` or ``(alice, bob)``).

        Statistical fidelity returns ``None`` for the keys; exact returns two bit arrays,
        produced separately by the two parties of the post-processing pipeline.
        """
        self._blocks += 1
        if self.fidelity == "statistical":
            counts = sample_counts(
                expected_counts(self.params, self.n_pulses, attack=attack), self.rng
            )
            bits, qber = block_key_bits(self.params, counts, self.reconciler)
            sifted = float(counts.n_x.sum() + counts.n_z.sum())
            z_total = float(counts.n_z.sum())
            qber_z = float(counts.m_z.sum()) / z_total if z_total else 0.0
            if qber_z > self.qber_threshold:
                return BlockOutcome(
                    self.name, end_s, self.block_duration_s, 0, qber, sifted, True, "qber"
                ), None
            if bits <= 0:
                return BlockOutcome(
                    self.name, end_s, self.block_duration_s, 0, qber, sifted, True, "no key"
                ), None
            return BlockOutcome(self.name, end_s, self.block_duration_s, bits, qber, sifted), None
        return self._exact_block(end_s, attack)

    def _exact_block(self, end_s: float, attack: Attack | None) -> tuple[BlockOutcome, Any]:
        from quaykey.physics.attacks import parse_attack as physics_attack
        from quaykey.physics.sampler import simulate_link
        from quaykey.postproc.channel import AuthKeyPool
        from quaykey.postproc.pipeline import SecuritySettings, run_block

        if self._auth is None:
            seed = int(self.rng.integers(0, 2**31))
            self._auth = AuthKeyPool.pre_shared(self.auth_preshared_bits, seed=seed)
        phys = (
            physics_attack(attack.spec or f"intercept-resend:{attack.fraction}") if attack else None
        )
        sample = simulate_link(self.params, self.n_pulses, self.rng, attack=phys)
        st = sample.stats
        sifted = float(sum(st.sifted_x.values()) + sum(st.sifted_z.values()))
        sx = sum(st.sifted_x.values())
        qber = float(sum(st.errors_x.values())) / sx if sx else 0.0
        settings = SecuritySettings(
            epsilon_sec=self.params.security.epsilon_sec,
            epsilon_cor=self.params.security.epsilon_cor,
            qber_threshold=self.qber_threshold,
        )
        try:
            res = run_block(
                sample.alice,
                sample.bob,
                auth_alice=self._auth[0],
                auth_bob=self._auth[1],
                reconciler=self.reconciler,
                security=settings,
                seed=int(self.rng.integers(0, 2**31)),
            )
        except SecurityAbortError as exc:
            return BlockOutcome(
                self.name, end_s, self.block_duration_s, 0, qber, sifted, True, exc.reason[:80]
            ), None
        alice_bits = res.alice_key.bits
        bob_bits = res.bob_key.bits
        return BlockOutcome(
            self.name, end_s, self.block_duration_s, int(alice_bits.size), qber, sifted
        ), (alice_bits, bob_bits)


def exact_free_space_block(
    params: LinkParams,
    loss_db_profile: Sequence[float],
    step_s: float,
    rng: np.random.Generator,
    auth: tuple[Any, Any],
    name: str = "free-space",
    end_s: float = 0.0,
    reconciler: str = "cascade",
    qber_threshold: float = 0.11,
) -> tuple[BlockOutcome, Any]:
    """One block over a time-varying free-space channel (a satellite pass), with real bits.

    The loss is interpolated linearly between the samples of ``loss_db_profile`` (one every
    ``step_s`` seconds from the start of the block); the sampler holds it constant over
    ``step_s`` stretches, and the post-processing pipeline turns the two records into two
    keys, as for a fibre block.

    Parameters
    ----------
    params
        Link parameters with a free-space channel (the ``micius`` preset).
    loss_db_profile, step_s
        Loss samples and their spacing.
    rng
        Randomness for the sampler and the public seed of post-processing.
    auth
        The two parties' authentication pools (``quaykey.postproc.channel.AuthKeyPool``).

    Returns
    -------
    (BlockOutcome, keys)
        ``keys`` is ``(alice_bits, bob_bits)`` or ``None`` when the block aborted.
    """
    from quaykey.physics.params import FreeSpaceChannel
    from quaykey.physics.sampler import simulate_link
    from quaykey.postproc.pipeline import SecuritySettings, run_block

    if not isinstance(params.channel, FreeSpaceChannel):
        raise ValueError("exact_free_space_block needs a free-space channel")
    if len(loss_db_profile) < 2 or step_s <= 0:
        raise ValueError("loss_db_profile needs two or more samples and step_s > 0")
    ts = np.arange(len(loss_db_profile), dtype=np.float64) * step_s
    loss = np.asarray(loss_db_profile, dtype=np.float64)

    def loss_at(t: float) -> float:
        return float(np.interp(t, ts, loss))

    duration = float(ts[-1])
    p = replace(params, channel=replace(params.channel, loss_db_at=loss_at))
    n = round(params.source.repetition_rate_hz * duration)
    sample = simulate_link(p, n, rng, time_step_s=step_s)
    st = sample.stats
    sifted = float(sum(st.sifted_x.values()) + sum(st.sifted_z.values()))
    sx = sum(st.sifted_x.values())
    qber = float(sum(st.errors_x.values())) / sx if sx else 0.0
    settings = SecuritySettings(
        epsilon_sec=params.security.epsilon_sec,
        epsilon_cor=params.security.epsilon_cor,
        qber_threshold=qber_threshold,
    )
    try:
        res = run_block(
            sample.alice,
            sample.bob,
            auth_alice=auth[0],
            auth_bob=auth[1],
            reconciler=reconciler,
            security=settings,
            seed=int(rng.integers(0, 2**31)),
        )
    except SecurityAbortError as exc:
        return BlockOutcome(name, end_s, duration, 0, qber, sifted, True, exc.reason[:80]), None
    a, b = res.alice_key.bits, res.bob_key.bits
    return BlockOutcome(name, end_s, duration, int(a.size), qber, sifted), (a, b)


def analytic_link_summary(params: LinkParams, block_duration_s: float) -> dict[str, float]:
    """Model key rate, QBER and PLOB bound of a fibre link (for reports and checks)."""
    counts = expected_counts(params, params.source.repetition_rate_hz * block_duration_s)
    bits, qber = block_key_bits(params, counts)
    return {
        "analytic_key_rate_bps": bits / block_duration_s,
        "analytic_qber": qber,
        "plob_bound_bps": plob_bound_bps(params),
        "loss_db": _channel_loss_db(params, None),
    }
