"""Sifting: Bob announces his click slots and bases, Alice answers with hers.

Bob sends ``sift-slots`` (his click slots as gaps: the first slot, then the differences,
which fit in 32 bits on the wire) and ``sift-bases`` (his bases, bits).
Alice answers ``sift-reply``: one byte per announced slot, ``present << 7 | basis << 6 |
intensity`` (``present`` is whether her record holds the slot: always for prepare and
measure BB84, a coincidence for BBM92). Both keep the slots where the bases agree; those in
the key basis X form the raw key, those in the test basis Z are used for estimation.
With a basis bias ``q_x`` about ``q_x**2`` of the clicks sift into X and ``(1-q_x)**2``
into Z.

References
----------
Lo, Chau, Ardehali, "Efficient quantum key distribution scheme and a proof of its
unconditional security", J. Cryptology 18, 133 (2005) (biased basis choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc._kernels import sift_split
from quaykey.postproc.channel import Endpoint
from quaykey.postproc.wire import MessageKind
from quaykey.records import AliceRecord, BobRecord, PublicProtocol

__all__ = ["SiftedBlock", "alice_answer", "bob_announce", "bob_complete"]

_MAX_INTENSITIES = 64


@dataclass(frozen=True, eq=False)
class SiftedBlock:
    """One party's sifted data. Bits are secret (key basis) or soon disclosed (test basis).

    Attributes
    ----------
    protocol
        The public protocol settings.
    key_bits, key_intensity
        Bits and intensity index of the basis-matched slots in the key basis X (uint8).
    test_bits, test_intensity
        The same for the test basis Z.
    n_announced
        Clicks Bob announced.
    n_matched
        Slots kept (both bases, both parties present).
    """

    protocol: PublicProtocol
    key_bits: NDArray[np.uint8]
    key_intensity: NDArray[np.uint8]
    test_bits: NDArray[np.uint8]
    test_intensity: NDArray[np.uint8]
    n_announced: int
    n_matched: int

    def __repr__(self) -> str:
        return (
            f"SiftedBlock(key_bits={self.key_bits.size}, test_bits={self.test_bits.size}, "
            f"announced={self.n_announced})"
        )


def _split(
    protocol: PublicProtocol,
    bits: NDArray[np.uint8],
    bases: NDArray[np.uint8],
    intensity: NDArray[np.uint8],
    keep: NDArray[np.bool_],
    n_announced: int,
) -> SiftedBlock:
    x_bits, x_int, z_bits, z_int = sift_split(
        np.ascontiguousarray(bits, dtype=np.uint8),
        np.ascontiguousarray(bases, dtype=np.uint8),
        np.ascontiguousarray(intensity, dtype=np.uint8),
        np.ascontiguousarray(keep, dtype=np.bool_),
    )
    return SiftedBlock(
        protocol=protocol,
        key_bits=x_bits,
        key_intensity=x_int,
        test_bits=z_bits,
        test_intensity=z_int,
        n_announced=n_announced,
        n_matched=int(np.count_nonzero(keep)),
    )


def bob_announce(endpoint: Endpoint, record: BobRecord) -> None:
    """Bob's first message: his click slots and bases (he never sends his bits)."""
    slots = record.slots.astype(np.int64)
    endpoint.send(MessageKind.SIFT_SLOTS, np.diff(slots, prepend=np.int64(0)))
    endpoint.send(MessageKind.SIFT_BASES, record.bases.astype(np.uint8))


def alice_answer(endpoint: Endpoint, record: AliceRecord) -> SiftedBlock:
    """Alice reads Bob's announcement, answers with her bases and intensities, and sifts.

    Raises
    ------
    ValueError
        If the announcement is malformed (unsorted, duplicated or out-of-range slots, or
        bases not matching the slots), or, for BB84, names slots her record lacks.
    """
    gaps = np.asarray(endpoint.recv(MessageKind.SIFT_SLOTS), dtype=np.int64)
    if gaps.size and (gaps[0] < 0 or np.any(gaps[1:] <= 0)):
        raise ValueError(
            "Bob's announced slots must be sorted, unique and in [0, n_pulses); "
            "the announcement is malformed"
        )
    slots = np.cumsum(gaps)
    bob_bases = np.asarray(endpoint.recv(MessageKind.SIFT_BASES), dtype=np.uint8)
    if bob_bases.size != slots.size:
        raise ValueError(
            f"Bob announced {slots.size} slots but {bob_bases.size} bases; they must match"
        )
    # the gaps are checked positive above, so the slots are sorted and unique
    if slots.size and (slots[0] < 0 or slots[-1] >= record.n_pulses):
        raise ValueError(
            "Bob's announced slots must be sorted, unique and in [0, n_pulses); "
            "the announcement is malformed"
        )
    if len(record.protocol.intensities) > _MAX_INTENSITIES:
        raise ValueError(f"at most {_MAX_INTENSITIES} intensities are supported")
    if np.array_equal(record.slots, slots):  # the usual BB84 case: same materialised slots
        idx_c = np.arange(slots.size)
        present = np.ones(slots.size, dtype=bool)
    else:
        idx = np.searchsorted(record.slots, slots)
        idx_c = np.minimum(idx, max(record.slots.size - 1, 0))
        present = (idx < record.slots.size) & (
            record.slots[idx_c] == slots if record.slots.size else np.zeros(slots.size, bool)
        )
    if record.protocol.kind == "bb84-decoy" and not np.all(present):
        missing = int(slots.size - np.count_nonzero(present))
        raise ValueError(
            f"Alice's record has no entry for {missing} of Bob's click slots; the two records "
            "do not describe the same block"
        )
    if present.all() and idx_c.size == record.slots.size:
        bases = record.bases.astype(np.uint8)
        intensity = record.intensity.astype(np.uint8)
        bits = record.bits.astype(np.uint8)
    else:
        bases = np.zeros(slots.size, dtype=np.uint8)
        intensity = np.zeros(slots.size, dtype=np.uint8)
        bits = np.zeros(slots.size, dtype=np.uint8)
        bases[present] = record.bases[idx_c[present]]
        intensity[present] = record.intensity[idx_c[present]]
        bits[present] = record.bits[idx_c[present]]
    reply = (present.astype(np.uint8) << 7) | (bases << 6) | intensity
    endpoint.send(MessageKind.SIFT_REPLY, reply)
    keep = present & (bases == bob_bases)
    return _split(record.protocol, bits, bases, intensity, keep, int(slots.size))


def bob_complete(endpoint: Endpoint, record: BobRecord) -> SiftedBlock:
    """Bob reads Alice's answer and sifts his own bits.

    Raises
    ------
    ValueError
        If the answer does not hold one byte per announced slot or names an unknown
        intensity.
    """
    reply = np.asarray(endpoint.recv(MessageKind.SIFT_REPLY), dtype=np.uint8)
    if reply.size != record.slots.size:
        raise ValueError(
            f"Alice's sifting answer has {reply.size} entries for {record.slots.size} slots"
        )
    present = (reply >> 7).astype(bool)
    alice_bases = (reply >> 6) & 1
    intensity = (reply & 0x3F).astype(np.uint8)
    if intensity.size and int(intensity.max()) >= len(record.protocol.intensities):
        raise ValueError("Alice's sifting answer names an intensity the protocol lacks")
    keep = present & (alice_bases == record.bases)
    return _split(record.protocol, record.bits, record.bases, intensity, keep, int(reply.size))
