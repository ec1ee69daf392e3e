"""The statistical implementation of the link-block seam: counts, finite-key length, no bits.

A block's expected counts come from the physics layer (:mod:`quaykey.physics.counts`); the
block draws observed counts around them and takes the Lim et al. (2014) finite-key length
of those counts, charging error correction what the configured reconciler was measured to
leak (:data:`quaykey.postproc.reconcile.RECONCILERS`) plus the verification tags, as the
exact pipeline does.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from quaykey.decoy import DecoyCounts, lim2014_key_length
from quaykey.network.links.block import (
    AbortKind,
    Attack,
    BlockOutcome,
    BlockWindow,
    Fidelity,
    LossProfile,
    n_pulses_in,
)
from quaykey.physics.counts import (
    channel_loss_db,
    counts_over_loss_profile,
    decoy_source,
    expected_counts,
    plob_bound_bps,
    sample_counts,
)
from quaykey.physics.params import LinkParams
from quaykey.postproc.reconcile import RECONCILERS
from quaykey.postproc.verify import tag_bits_for
from quaykey.units import binary_entropy

__all__ = [
    "LinkModel",
    "StatisticalBlock",
    "block_counts",
    "block_key_bits",
    "error_correction_leak_bits",
    "link_model",
]


def error_correction_leak_bits(
    n_bits: float,
    qber: float,
    reconciler: str = "cascade",
    epsilon_cor: float = 1e-15,
) -> float:
    """Leakage charged to a block's key length when ``reconciler`` corrects ``n_bits``.

    The reconciler's disclosed bits ``f(Q) h(Q) n`` with its measured efficiency ``f``
    (:data:`RECONCILERS`), plus the verification tags, ``t`` bits for each of the
    ``ceil(n / frame_bits)`` frames (:func:`quaykey.postproc.verify.tag_bits_for`), less
    the ``log2(2/epsilon_cor)`` already in the finite-key bound.

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
    """Finite-key length (Lim et al. 2014) of one block's counts, and its key-basis QBER.

    With ``reconciler=None`` error correction leaks the nominal ``f h(E_X) n_X`` of
    ``params.security.error_correction_efficiency`` (the physics key-rate convention).
    With ``params.security.key_from_both_bases`` the sifted bits of each basis are a key:
    the X-basis key with its phase error bounded from the Z-basis decoy statistics plus
    the same with the bases swapped, each at ``epsilon_sec`` (symmetric BB84 as Liao et
    al. 2017 ran it); the QBER returned is still the X basis's.

    Example
    -------
    >>> from dataclasses import replace
    >>> from quaykey.physics.params import load_preset
    >>> p = load_preset("backbone", distance_km=40)
    >>> bits, qber = block_key_bits(p, expected_counts(p, 6.25e8 * 600))
    >>> bits > 10**7, round(qber, 3)
    (True, 0.015)
    >>> one = load_preset("micius-2017", loss_db=32.0)
    >>> c = expected_counts(one, 3e10)
    >>> two_bases, _ = block_key_bits(one, c)
    >>> key_basis, _ = block_key_bits(
    ...     replace(one, security=replace(one.security, key_from_both_bases=False)), c)
    >>> two_bases == 2 * key_basis  # 50:50 basis choice: the two bases are alike
    True

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eq. (1); Liao et al.,
    Nature 549, 43 (2017) (key from both bases).
    """
    bits = _one_basis_key_bits(params, counts, reconciler)
    if params.security.key_from_both_bases:
        swapped = DecoyCounts(n_x=counts.n_z, n_z=counts.n_x, m_x=counts.m_z, m_z=counts.m_x)
        bits += _one_basis_key_bits(params, swapped, reconciler)
    return bits, float(counts.qber_x)


def _one_basis_key_bits(params: LinkParams, counts: DecoyCounts, reconciler: str | None) -> int:
    """Lim et al. (2014) length of the X-basis key, Z the test basis."""
    src = decoy_source(params)
    qber = float(counts.qber_x)
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
    return int(bound.key_length_bits)


def block_counts(
    params: LinkParams,
    duration_s: float,
    loss: LossProfile | None = None,
    attack: Attack | None = None,
) -> DecoyCounts:
    """Expected counts of a window: the channel's own loss, or a loss profile over it."""
    if loss is not None:
        return counts_over_loss_profile(params, loss.loss_db, loss.step_s, attack)
    return _steady_counts(params, duration_s, attack)


@functools.lru_cache(maxsize=4096)
def _steady_counts(params: LinkParams, duration_s: float, attack: Attack | None) -> DecoyCounts:
    # A fibre link's expected counts depend only on its (frozen) parameters, the block
    # length and the attack: computed once per link and block length, not once per block.
    return expected_counts(params, params.source.repetition_rate_hz * duration_s, None, attack)


def _qber_z(counts: DecoyCounts) -> float:
    z = float(counts.n_z.sum())
    return float(counts.m_z.sum()) / z if z > 0 else 0.0


@dataclass(frozen=True)
class LinkModel:
    """What the model expects of a link over one block (no sampling): the planning figures.

    Attributes
    ----------
    key_rate_bps
        Finite-key secret key rate at the expected counts of one block.
    qber, qber_z
        Expected key-basis and test-basis QBER.
    plob_bound_bps
        PLOB bound of the channel at the pulse rate.
    loss_db
        Channel loss.
    sifted_bits
        Expected sifted detections per block.
    block_duration_s
        The block length the figures are for.
    """

    key_rate_bps: float
    qber: float
    qber_z: float
    plob_bound_bps: float
    loss_db: float
    sifted_bits: float
    block_duration_s: float

    def to_dict(self) -> dict[str, float]:
        """Report keys as the network report and ``network plan`` print them."""
        return {
            "analytic_key_rate_bps": self.key_rate_bps,
            "analytic_qber": self.qber,
            "plob_bound_bps": self.plob_bound_bps,
            "loss_db": self.loss_db,
        }


def link_model(
    params: LinkParams,
    block_duration_s: float,
    reconciler: str = "cascade",
    attack: Attack | None = None,
) -> LinkModel:
    """Expected key rate, QBERs and PLOB bound of a fibre link in blocks of ``block_duration_s``.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> m = link_model(load_preset("backbone", distance_km=60), 60.0)
    >>> 1e3 < m.key_rate_bps < 1e5, round(m.loss_db, 1)
    (True, 17.0)
    """
    if not block_duration_s > 0:
        raise ValueError(f"block_duration_s must be > 0, got {block_duration_s!r}")
    counts = block_counts(params, block_duration_s, attack=attack)
    bits, qber = block_key_bits(params, counts, reconciler)
    return LinkModel(
        key_rate_bps=max(bits, 0) / block_duration_s,
        qber=qber,
        qber_z=_qber_z(counts),
        plob_bound_bps=plob_bound_bps(params),
        loss_db=channel_loss_db(params),
        sifted_bits=float(counts.n_x.sum() + counts.n_z.sum()),
        block_duration_s=float(block_duration_s),
    )


@dataclass
class StatisticalBlock:
    """Blocks as counts: draws around the expected counts, Lim 2014 length, no bits.

    Parameters
    ----------
    reconciler
        Whose measured leakage to charge (a key of ``RECONCILERS``).
    qber_threshold
        Blocks whose test-basis QBER exceeds this abort.
    draw
        Draw observed counts around the expected ones (Poisson / binomial); ``False``
        takes the expected counts themselves, for deterministic figures (a satellite
        pass's key against the published values, planning).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> out = StatisticalBlock().run(load_preset("backbone", distance_km=40),
    ...     BlockWindow(0.0, 600.0), np.random.default_rng(1))
    >>> out.aborted, out.key_bits > 10**7, out.keys is None
    (False, True, True)
    """

    reconciler: str = "cascade"
    qber_threshold: float = 0.11
    draw: bool = True
    fidelity: Fidelity = "statistical"

    def run(
        self,
        params: LinkParams,
        window: BlockWindow,
        rng: np.random.Generator,
        *,
        name: str = "",
        loss: LossProfile | None = None,
        attack: Attack | None = None,
    ) -> BlockOutcome:
        """One block (see :class:`~quaykey.network.links.block.LinkBlock`)."""
        duration = loss.duration_s if loss is not None else window.duration_s
        counts = block_counts(params, duration, loss, attack)
        if self.draw:
            counts = sample_counts(counts, rng)
        sifted = float(counts.n_x.sum() + counts.n_z.sum())
        qber_z = _qber_z(counts)

        def outcome(bits: int, qber: float, kind: AbortKind = "", reason: str = "") -> BlockOutcome:
            return BlockOutcome(
                link=name, end_s=window.end_s, duration_s=window.duration_s,
                n_pulses=n_pulses_in(params, duration), key_bits=bits, qber=qber, qber_z=qber_z,
                sifted_bits=sifted, test_bits=float(counts.n_z.sum()), abort_kind=kind,
                reason=reason,
            )  # fmt: skip

        if float(counts.n_x.sum()) == 0 or float(counts.n_z.sum()) == 0:
            return outcome(0, 0.0, "no-detections", "no sifted detections in one basis or both")
        bits, qber = block_key_bits(params, counts, self.reconciler)
        if qber_z > self.qber_threshold:
            reason = f"test-basis QBER {qber_z:.2%} above the abort threshold "
            return outcome(0, qber, "qber", reason + f"{self.qber_threshold:.2%}")
        if bits <= 0:
            return outcome(0, qber, "no-key", "no positive finite-key length for these counts")
        return outcome(int(bits), qber)
