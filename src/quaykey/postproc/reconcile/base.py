"""The two-party interface every reconciler implements.

Reconciliation runs as two separate objects. Bob's side drives the protocol: it calls
``ask(kind, payload)`` to send a request to Alice over the authenticated classical channel
and receives her reply. Alice's side only answers requests from her own frame. Neither side
ever sees the other's bits except through these messages.

``payload`` and replies are 1-D numpy arrays (uint8 bits, or int64 indices/parameters); the
channel counts their bits. The reconciler itself reports the exact number of bits about
Alice's key that her replies disclosed (``leaked_bits``): parity or syndrome bits, and any
revealed punctured bits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["AliceReconciler", "Ask", "BobReconciler", "ReconcileResult"]

#: Bob's way of talking to Alice: ``reply = ask(kind, payload)``.
Ask = Callable[[str, NDArray[np.int64] | NDArray[np.uint8]], NDArray[np.int64] | NDArray[np.uint8]]


@dataclass(frozen=True, eq=False)
class ReconcileResult:
    """What Bob holds after reconciliation.

    Attributes
    ----------
    corrected
        Bob's corrected bits (same length as his input), uint8.
    leaked_bits
        Bits of information about Alice's key disclosed by her replies.
    round_trips
        Number of ``ask`` calls (request/reply pairs).
    frame_bounds
        ``(start, stop)`` of each frame, in order, covering the input exactly; the pipeline
        verifies and keeps or discards each frame separately.
    failed_frames
        Indices of frames the reconciler itself knows it failed (e.g. LDPC decoder did not
        converge); the pipeline discards them.
    """

    corrected: NDArray[np.uint8]
    leaked_bits: int
    round_trips: int
    frame_bounds: tuple[tuple[int, int], ...]
    failed_frames: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ReconcileResult(bits={self.corrected.size}, leaked_bits={self.leaked_bits}, "
            f"round_trips={self.round_trips}, frames={len(self.frame_bounds)}, "
            f"failed_frames={len(self.failed_frames)})"
        )


class AliceReconciler(Protocol):
    """Alice's side: answers Bob's requests from her own frame only."""

    def respond(
        self, kind: str, payload: NDArray[np.int64] | NDArray[np.uint8]
    ) -> NDArray[np.int64] | NDArray[np.uint8]:
        """Answer one request; raise ValueError for a malformed or unknown request."""
        ...


class BobReconciler(Protocol):
    """Bob's side: drives the protocol and corrects his own frame."""

    def run(self, ask: Ask) -> ReconcileResult:
        """Reconcile his bits with Alice's through ``ask``."""
        ...
