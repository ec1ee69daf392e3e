"""What one post-processed block yields: :class:`BlockResult`, the two keys and its public account.

Key material is held in :class:`KeyBits`, whose bits never appear in ``repr``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from quaykey.decoy import FiniteKeyBound
from quaykey.postproc.finite_key import Bbm92Bound

__all__ = ["BlockResult", "KeyBits"]


@dataclass(frozen=True, eq=False)
class KeyBits:
    """Final key material of one party. Its bits never appear in ``repr``.

    Example
    -------
    >>> k = KeyBits(np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=np.uint8))
    >>> k, k.n_bits, k.to_bytes().hex()
    (KeyBits(n_bits=9), 9, 'b180')
    """

    bits: NDArray[np.uint8]

    def __repr__(self) -> str:
        return f"KeyBits(n_bits={self.n_bits})"

    @property
    def n_bits(self) -> int:
        """Key length in bits."""
        return int(self.bits.size)

    def to_bytes(self) -> bytes:
        """The bits packed big-endian (the last byte zero-padded)."""
        return np.packbits(self.bits).tobytes()

    def matches(self, other: KeyBits) -> bool:
        """Constant-time comparison of two keys (for tests and audits)."""
        return self.n_bits == other.n_bits and hmac.compare_digest(
            self.to_bytes(), other.to_bytes()
        )


@dataclass(frozen=True, eq=False)
class BlockResult:
    """One post-processed block: both parties' final keys (computed separately) and the
    public account of the block (every other field; no key material).

    Attributes
    ----------
    alice_key, bob_key
        The two final keys, after the bits that replenished the authentication pools.
    protocol, reconciler
        Protocol kind and reconciler name.
    n_pulses, clicks
        Pulses in the block and clicks Bob announced.
    sifted_bits, sifted_key_bits, test_bits
        Basis-matched slots in total, in the key basis X and in the test basis Z.
    qber_z, qber_x
        Error rate disclosed in the test basis, and the one corrected in the key basis.
    qber_z_per_intensity
        Test-basis error rate per intensity.
    ec_leaked_bits, verification_bits, leaked_bits
        Bits disclosed by reconciliation, by verification tags, and the leakage charged to
        the key length (reconciliation plus verification beyond the
        ``log2(2/epsilon_cor)`` already in the bound).
    reconciliation_efficiency
        ``ec_leaked_bits / (n h(qber_x))`` over the reconciled bits (None when qber_x = 0).
    frames, frames_discarded, bits_discarded
        Reconciliation frames, frames dropped (failed or mismatched), their bits.
    key_length_bound_bits
        The finite-key length of the whole block.
    final_key_bits
        Bits output by privacy amplification (bound minus discarded bits).
    output_key_bits, auth_bits_replenished
        Final bits handed to the caller, and those put back into the authentication pools.
    epsilon_sec, epsilon_cor
        Security parameters used.
    round_trips, messages, payload_bits
        Channel usage (``messages`` and ``payload_bits`` per sender).
    auth_bits_used
        Authentication key bits each party spent on this block.
    stage_seconds
        Wall time per stage, plus ``authentication`` for the checkpoints.
    finite_key
        Every intermediate of the finite-key bound.
    """

    alice_key: KeyBits
    bob_key: KeyBits
    protocol: str
    reconciler: str
    n_pulses: int
    clicks: int
    sifted_bits: int
    sifted_key_bits: int
    test_bits: int
    qber_z: float
    qber_x: float
    qber_z_per_intensity: tuple[float, ...]
    ec_leaked_bits: int
    verification_bits: int
    leaked_bits: float
    reconciliation_efficiency: float | None
    frames: int
    frames_discarded: int
    bits_discarded: int
    key_length_bound_bits: int
    final_key_bits: int
    output_key_bits: int
    auth_bits_replenished: int
    epsilon_sec: float
    epsilon_cor: float
    round_trips: int
    messages: dict[str, int]
    payload_bits: dict[str, int]
    auth_bits_used: int
    stage_seconds: dict[str, float]
    finite_key: FiniteKeyBound | Bbm92Bound = field(repr=False)

    def without_keys(self) -> BlockResult:
        """The public account alone: a copy whose two keys are empty.

        For a caller that keeps the account after handing the keys on (a network outcome,
        a run summary): nothing it keeps holds key material.
        """
        empty = KeyBits(np.zeros(0, dtype=np.uint8))
        return replace(self, alice_key=empty, bob_key=empty)

    @property
    def report(self) -> BlockResult:
        """:meth:`without_keys`, under the name of the former separate report object
        (callers written as ``result.report.<field>`` keep working)."""
        return self.without_keys()
