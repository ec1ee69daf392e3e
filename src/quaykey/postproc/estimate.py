"""Parameter estimation from the test basis Z.

In decoy-state BB84 as analysed by Lim et al. (2014) every basis-matched Z-basis bit is
disclosed: Bob sends his Z bits (``est-bob-z``), Alice sends hers (``est-alice-z``), and each
side counts, per intensity, the Z detections ``n_Z,k`` and errors ``m_Z,k``. The X-basis
bits are never disclosed; they form the raw key. The Z-basis QBER is the estimate handed
to the reconciler and checked against the abort threshold.

References
----------
Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), protocol steps 2-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.errors import SecurityAbortError
from quaykey.postproc.channel import Endpoint
from quaykey.postproc.sifting import SiftedBlock
from quaykey.postproc.wire import MessageKind

__all__ = [
    "ParameterEstimate",
    "alice_disclose",
    "bob_complete",
    "bob_disclose",
    "check_qber",
    "estimate_counts",
]


@dataclass(frozen=True)
class ParameterEstimate:
    """Public counts per intensity after the test-basis disclosure.

    Attributes
    ----------
    n_x, n_z
        Sifted detections per intensity in the key basis X and the test basis Z.
    m_z
        Z-basis bit errors per intensity.
    qber_z
        ``sum(m_z) / sum(n_z)`` (0 when there is no Z detection).
    """

    n_x: NDArray[np.int64]
    n_z: NDArray[np.int64]
    m_z: NDArray[np.int64]
    qber_z: float

    @property
    def qber_z_per_intensity(self) -> tuple[float, ...]:
        """Z-basis error rate of each intensity (0 where there was no detection)."""
        return tuple(
            float(m) / float(n) if n > 0 else 0.0 for m, n in zip(self.m_z, self.n_z, strict=True)
        )


def estimate_counts(
    own_test_bits: NDArray[np.uint8],
    peer_test_bits: NDArray[np.uint8],
    test_intensity: NDArray[np.uint8],
    key_intensity: NDArray[np.uint8],
    n_intensities: int,
) -> ParameterEstimate:
    """Count detections and errors per intensity.

    Raises
    ------
    ValueError
        If the two parties' test bits differ in length, or an intensity index is out of
        range.

    Example
    -------
    >>> e = estimate_counts(np.array([0, 1, 1], np.uint8), np.array([0, 0, 1], np.uint8),
    ...                     np.array([0, 0, 1], np.uint8), np.array([0, 1], np.uint8), 2)
    >>> e.m_z.tolist(), e.n_x.tolist(), round(e.qber_z, 3)
    ([1, 0], [1, 1], 0.333)
    """
    own = np.asarray(own_test_bits, dtype=np.uint8)
    peer = np.asarray(peer_test_bits, dtype=np.uint8)
    if own.size != peer.size:
        raise ValueError(
            f"the peer disclosed {peer.size} test-basis bits but {own.size} were sifted"
        )
    if (test_intensity.size and int(test_intensity.max()) >= n_intensities) or (
        key_intensity.size and int(key_intensity.max()) >= n_intensities
    ):
        raise ValueError("an intensity index is outside the protocol's intensities")
    errors = own != peer
    n_z = np.bincount(test_intensity, minlength=n_intensities).astype(np.int64)
    m_z = np.bincount(test_intensity[errors], minlength=n_intensities).astype(np.int64)
    n_x = np.bincount(key_intensity, minlength=n_intensities).astype(np.int64)
    total = int(n_z.sum())
    qber = float(m_z.sum()) / total if total else 0.0
    return ParameterEstimate(n_x=n_x, n_z=n_z, m_z=m_z, qber_z=qber)


def bob_disclose(endpoint: Endpoint, sifted: SiftedBlock) -> None:
    """Bob discloses his test-basis bits."""
    endpoint.send(MessageKind.EST_BOB_Z, sifted.test_bits)


def alice_disclose(endpoint: Endpoint, sifted: SiftedBlock) -> ParameterEstimate:
    """Alice reads Bob's test bits, discloses hers, and counts."""
    peer = np.asarray(endpoint.recv(MessageKind.EST_BOB_Z), dtype=np.uint8)
    endpoint.send(MessageKind.EST_ALICE_Z, sifted.test_bits)
    return estimate_counts(
        sifted.test_bits,
        peer,
        sifted.test_intensity,
        sifted.key_intensity,
        len(sifted.protocol.intensities),
    )


def bob_complete(endpoint: Endpoint, sifted: SiftedBlock) -> ParameterEstimate:
    """Bob reads Alice's test bits and counts."""
    peer = np.asarray(endpoint.recv(MessageKind.EST_ALICE_Z), dtype=np.uint8)
    return estimate_counts(
        sifted.test_bits,
        peer,
        sifted.test_intensity,
        sifted.key_intensity,
        len(sifted.protocol.intensities),
    )


def check_qber(qber: float, threshold: float, *, basis: str = "Z") -> None:
    """Raise :class:`~quaykey.errors.SecurityAbortError` when ``qber`` exceeds ``threshold``.

    Raises
    ------
    ValueError
        If ``qber`` or ``threshold`` is outside [0, 0.5].
    SecurityAbortError
        If ``qber > threshold`` (carrying ``qber_z=qber`` for the Z basis).

    Example
    -------
    >>> check_qber(0.02, 0.11)
    """
    if not 0.0 <= threshold <= 0.5:
        raise ValueError(f"qber_threshold must be in [0, 0.5], got {threshold!r}")
    if not 0.0 <= qber <= 1.0:
        raise ValueError(f"qber must be in [0, 1], got {qber!r}")
    if qber > threshold:
        raise SecurityAbortError(
            f"QBER in the {basis} basis is {qber:.2%}, above the abort threshold "
            f"{threshold:.2%}: possible eavesdropping; the block is discarded",
            qber_z=qber if basis == "Z" else None,
        )
