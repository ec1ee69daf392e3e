"""The public rules of one block that both parties apply, each to its own copy of public data.

Stages (:data:`STAGES`, each ending with an authentication checkpoint):

1. ``sifting``: Bob announces click slots and bases; Alice answers bases and intensities.
2. ``estimation``: both disclose their test-basis (Z) bits; counts per intensity; abort if
   the QBER exceeds the threshold or if no key would be left even without error
   correction (:func:`check_estimate`).
3. ``reconciliation``: Bob drives the reconciler; Alice answers from her own bits. Bob then
   announces the :class:`ReconciliationSummary` (leakage, frame bounds, failed frames and
   error counts).
4. ``verification``: a fresh public universal hash per frame; frames whose hashes differ are
   discarded.
5. ``amplification``: both compute the final length (:func:`final_key_length`) from the
   block's counts and actual leakage (minus the discarded bits); Alice sends the public
   Toeplitz seed; both hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import FiniteKeyBound
from quaykey.errors import SecurityAbortError, VerificationError
from quaykey.postproc.estimate import ParameterEstimate, check_qber
from quaykey.postproc.finite_key import Bbm92Bound, block_key_length
from quaykey.records import PublicProtocol

__all__ = [
    "RECONCILER_QBER_RANGE",
    "STAGES",
    "FinalLength",
    "ReconciliationSummary",
    "SecuritySettings",
    "charged_leak",
    "check_estimate",
    "check_frames",
    "final_key_length",
    "kept_bits",
]

STAGES = ("sifting", "estimation", "reconciliation", "verification", "amplification")
#: QBER handed to the reconciler is clipped to this range (Cascade needs 0 < Q < 0.5).
RECONCILER_QBER_RANGE = (0.005, 0.45)


@dataclass(frozen=True)
class SecuritySettings:
    """Public security settings of post-processing.

    Parameters
    ----------
    epsilon_sec
        Secrecy parameter of the final key, in (0, 1).
    epsilon_cor
        Correctness parameter (verification hash), in (0, 1).
    qber_threshold
        Abort when the test-basis QBER exceeds this value; in (0, 0.5].
    auth_mode
        ``"stage"`` (delayed authentication, one tag per direction per stage) or
        ``"message"`` (one tag per message).

    Raises
    ------
    ValueError
        Naming the parameter that is out of range.

    Example
    -------
    >>> SecuritySettings(qber_threshold=0.7)
    Traceback (most recent call last):
    ...
    ValueError: qber_threshold must be in (0, 0.5], got 0.7
    """

    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-15
    qber_threshold: float = 0.11
    auth_mode: Literal["stage", "message"] = "stage"

    def __post_init__(self) -> None:
        for name in ("epsilon_sec", "epsilon_cor"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if not (isinstance(self.qber_threshold, int | float) and 0.0 < self.qber_threshold <= 0.5):
            raise ValueError(f"qber_threshold must be in (0, 0.5], got {self.qber_threshold!r}")
        if self.auth_mode not in ("stage", "message"):
            raise ValueError(f"auth_mode must be 'stage' or 'message', got {self.auth_mode!r}")


@dataclass(frozen=True)
class ReconciliationSummary:
    """What Bob announces after reconciliation (public).

    Attributes
    ----------
    leaked_bits
        Bits the reconciler disclosed about Alice's key.
    frame_bounds
        ``(start, stop)`` of each frame, covering the key in order.
    failed
        Indices of the frames the reconciler itself failed.
    m_x
        Bit errors Bob corrected, per intensity (for the finite-key bound).

    Example
    -------
    >>> s = ReconciliationSummary(9, ((0, 4), (4, 6)), (1,), np.array([2, 0]))
    >>> ReconciliationSummary.decode(s.encode(), n_intensities=2, n_bits=6) == s
    True
    """

    leaked_bits: int
    frame_bounds: tuple[tuple[int, int], ...]
    failed: tuple[int, ...]
    m_x: NDArray[np.int64]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReconciliationSummary):
            return NotImplemented
        return bool(
            self.leaked_bits == other.leaked_bits
            and self.frame_bounds == other.frame_bounds
            and self.failed == other.failed
            and np.array_equal(self.m_x, other.m_x)
        )

    __hash__ = None  # type: ignore[assignment]

    def encode(self) -> NDArray[np.int64]:
        """Wire form: ``[leak, n_frames, *bounds, n_failed, *failed, *m_x]``."""
        flat = [b for pair in self.frame_bounds for b in pair]
        return np.array(
            [
                self.leaked_bits,
                len(self.frame_bounds),
                *flat,
                len(self.failed),
                *self.failed,
                *self.m_x.tolist(),
            ],
            dtype=np.int64,
        )

    @classmethod
    def decode(
        cls, arr: NDArray[np.int64], n_intensities: int, n_bits: int
    ) -> ReconciliationSummary:
        """Inverse of :meth:`encode`, checked against the receiver's own key length.

        Raises
        ------
        ValueError
            If the array is malformed or its frames do not cover ``n_bits`` bits in order.
        """
        a = [int(v) for v in arr]
        try:
            leaked, n_frames = a[0], a[1]
            flat = a[2 : 2 + 2 * n_frames]
            pos = 2 + 2 * n_frames
            n_failed = a[pos]
            failed = tuple(a[pos + 1 : pos + 1 + n_failed])
            m_x = np.array(a[pos + 1 + n_failed :], dtype=np.int64)
        except IndexError as exc:
            raise ValueError("malformed reconciliation summary") from exc
        bounds = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(n_frames))
        check_frames(bounds, failed, n_bits)
        if m_x.size != n_intensities or leaked < 0 or np.any(m_x < 0):
            raise ValueError("malformed reconciliation summary")
        return cls(leaked_bits=leaked, frame_bounds=bounds, failed=failed, m_x=m_x)


def check_frames(bounds: tuple[tuple[int, int], ...], failed: tuple[int, ...], n: int) -> None:
    """Raise ValueError unless ``bounds`` cover ``n`` bits in order and ``failed`` names frames.

    Example
    -------
    >>> check_frames(((0, 4), (5, 8)), (), 8)
    Traceback (most recent call last):
    ...
    ValueError: reconciliation frames must cover the key in order, without gaps
    """
    pos = 0
    for start, stop in bounds:
        if start != pos or stop <= start:
            raise ValueError("reconciliation frames must cover the key in order, without gaps")
        pos = stop
    if pos != n:
        raise ValueError(f"reconciliation frames cover {pos} bits of {n}")
    if any(not 0 <= f < len(bounds) for f in failed):
        raise ValueError("a failed-frame index is out of range")


def _key_length(
    estimate: ParameterEstimate,
    m_x: NDArray[np.int64],
    protocol: PublicProtocol,
    leak: float,
    settings: SecuritySettings,
) -> FiniteKeyBound | Bbm92Bound:
    return block_key_length(
        estimate,
        m_x,
        protocol,
        leak_ec_bits=leak,
        epsilon_sec=settings.epsilon_sec,
        epsilon_cor=settings.epsilon_cor,
    )


def charged_leak(ec_leak: int, verification_bits: int, epsilon_cor: float) -> float:
    """Leakage charged to the key length: reconciliation plus the verification tag bits
    beyond the ``log2(2/epsilon_cor)`` already in the finite-key bound.

    Example
    -------
    >>> round(charged_leak(1000, 60, 1e-15), 2)  # log2(2e15) = 50.83 tag bits are in the bound
    1009.17
    >>> charged_leak(1000, 40, 1e-15)
    1000.0
    """
    return float(ec_leak) + max(0.0, verification_bits - math.log2(2.0 / epsilon_cor))


def kept_bits(
    bits: NDArray[np.uint8], bounds: tuple[tuple[int, int], ...], kept: tuple[int, ...]
) -> NDArray[np.uint8]:
    """The bits of the kept frames, in order (empty when none is kept)."""
    if not kept:
        return np.zeros(0, dtype=np.uint8)
    return np.concatenate([bits[bounds[i][0] : bounds[i][1]] for i in kept])


def check_estimate(
    estimate: ParameterEstimate, protocol: PublicProtocol, settings: SecuritySettings
) -> None:
    """A party's abort decisions after the estimation checkpoint.

    Raises
    ------
    SecurityAbortError
        If the test-basis QBER exceeds the threshold, or if not even a leak-free block
        would give a positive finite-key length.
    """
    check_qber(estimate.qber_z, settings.qber_threshold)
    no_errors = np.zeros_like(estimate.n_x)
    bound = _key_length(estimate, no_errors, protocol, 0.0, settings)
    if not bound.positive:
        raise SecurityAbortError(
            "no positive key length: the finite-key bound of this block is "
            f"{bound.key_length_real:.0f} bits before error correction (phase-error bound "
            f"{bound.phi_x:.2%}, test-basis QBER {estimate.qber_z:.2%}); the block is discarded",
            qber_z=estimate.qber_z,
        )


@dataclass(frozen=True)
class FinalLength:
    """A party's own computation of the final key length (public).

    Attributes
    ----------
    bound
        Every intermediate of the finite-key bound of the whole block.
    leaked_bits
        Leakage charged to the key (:func:`charged_leak`).
    kept_bits
        Bits in the frames that passed verification.
    bits
        Final key length: the bound minus the discarded bits, at most ``kept_bits``.
    """

    bound: FiniteKeyBound | Bbm92Bound
    leaked_bits: float
    kept_bits: int
    bits: int


def final_key_length(
    estimate: ParameterEstimate,
    m_x: NDArray[np.int64],
    protocol: PublicProtocol,
    settings: SecuritySettings,
    *,
    ec_leaked_bits: int,
    verification_bits: int,
    frame_bounds: tuple[tuple[int, int], ...],
    kept_frames: tuple[int, ...],
    sifted_key_bits: int,
) -> FinalLength:
    """The final key length both parties compute independently before hashing.

    Raises
    ------
    VerificationError
        If no frame passed verification.
    SecurityAbortError
        If the length is not positive.
    """
    leak = charged_leak(ec_leaked_bits, verification_bits, settings.epsilon_cor)
    bound = _key_length(estimate, m_x, protocol, leak, settings)
    if not kept_frames:
        raise VerificationError("no reconciled frame passed verification; the block yields no key")
    kept_n = sum(frame_bounds[i][1] - frame_bounds[i][0] for i in kept_frames)
    discarded = sifted_key_bits - kept_n
    length = min(bound.key_length_bits - discarded, kept_n)
    if length <= 0:
        raise SecurityAbortError(
            "no positive key length: the finite-key bound is "
            f"{bound.key_length_real:.0f} bits with {leak:.0f} leaked bits and "
            f"{discarded} discarded bits; the block is discarded",
            qber_z=estimate.qber_z,
        )
    return FinalLength(bound=bound, leaked_bits=leak, kept_bits=kept_n, bits=length)
