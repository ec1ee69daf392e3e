"""What each side of a QKD link knows after the quantum phase.

These records are the hand-off between :mod:`quaykey.physics` (which produces them) and
:mod:`quaykey.postproc` (which consumes them); both layers import this foundation module and
never each other.

Alice's record and Bob's record are separate objects. Each holds only what that party
knows: Alice her bits, bases and intensity choices; Bob his bases and his measured bits.
The simulator materialises only the time slots in which something can matter (for
prepare-and-measure BB84, the slots in which Bob registered a click; for BBM92, the slots
in which that party clicked). A slot index is a pulse number in ``[0, n_pulses)``; Bob
still has to *announce* his slots to Alice over the classical channel before she can use
them.

Basis encoding: ``0`` is the key basis X, ``1`` the test basis Z (the naming of
Lim et al., PRA 89, 022307, 2014).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["AliceRecord", "BobRecord", "PublicProtocol"]

BASIS_X = 0
BASIS_Z = 1


@dataclass(frozen=True)
class PublicProtocol:
    """Protocol settings both parties agreed in advance (public, not secret).

    Parameters
    ----------
    kind
        ``"bb84-decoy"`` (prepare and measure with decoy intensities) or ``"bbm92"``
        (entanglement based; ``intensities`` then holds the mean pair number).
    intensities
        Mean photon numbers, in decreasing order (signal first).
    intensity_names
        A name per intensity, e.g. ``("signal", "decoy", "vacuum")``.
    intensity_probabilities
        Probability with which Alice chooses each intensity; sums to 1.
    basis_probability_x
        Probability that either party chooses the key basis X (efficient BB84 bias).
    repetition_rate_hz
        Pulse (or pair-generation) rate of the source.
    """

    kind: Literal["bb84-decoy", "bbm92"]
    intensities: tuple[float, ...]
    intensity_names: tuple[str, ...]
    intensity_probabilities: tuple[float, ...]
    basis_probability_x: float
    repetition_rate_hz: float


@dataclass(frozen=True, eq=False)
class AliceRecord:
    """Alice's private record of the slots that can matter.

    Attributes
    ----------
    protocol
        The public protocol settings.
    n_pulses
        Pulses Alice sent in this block.
    pulses_per_intensity
        How many pulses of each intensity she sent (she knows her own choices).
    slots
        Sorted, unique pulse indices of the materialised slots (int64).
    bits, bases, intensity
        Her bit value, basis and intensity index in each slot (uint8).
    """

    protocol: PublicProtocol
    n_pulses: int
    pulses_per_intensity: NDArray[np.int64]
    slots: NDArray[np.int64]
    bits: NDArray[np.uint8]
    bases: NDArray[np.uint8]
    intensity: NDArray[np.uint8]

    def __repr__(self) -> str:  # never print key material
        return f"AliceRecord(n_pulses={self.n_pulses}, slots={self.slots.size})"


@dataclass(frozen=True, eq=False)
class BobRecord:
    """Bob's private record: the slots in which he clicked, his basis and his bit.

    Attributes
    ----------
    protocol
        The public protocol settings.
    n_pulses
        Pulses in this block (time slots Bob watched).
    slots
        Sorted, unique pulse indices in which he registered a click (int64).
    bases, bits
        His measurement basis and measured bit per click (double clicks already squashed
        to a random bit) (uint8).
    double_clicks
        How many of his clicks were double clicks (public diagnostics).
    """

    protocol: PublicProtocol
    n_pulses: int
    slots: NDArray[np.int64]
    bases: NDArray[np.uint8]
    bits: NDArray[np.uint8]
    double_clicks: int = field(default=0)

    def __repr__(self) -> str:
        return f"BobRecord(n_pulses={self.n_pulses}, clicks={self.slots.size})"
