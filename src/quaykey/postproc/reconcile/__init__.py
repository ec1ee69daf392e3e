"""Information reconciliation: the two-party interface and the registry of reconcilers.

:data:`RECONCILERS` maps a name to a :class:`Reconciler`: how to build its two parties
(``AliceFactory(frame) -> AliceReconciler``, ``BobFactory(frame, qber, seed) ->
BobReconciler``, see :mod:`.base`) and the leakage it was *measured* to reach, which is what
the network's statistical fidelity charges for error correction. Implementations are
imported on first use, so that their numba kernels compile only when they are needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.postproc.reconcile.base import AliceReconciler, Ask, BobReconciler, ReconcileResult

__all__ = [
    "RECONCILERS",
    "AliceFactory",
    "AliceReconciler",
    "Ask",
    "BobFactory",
    "BobReconciler",
    "ReconcileResult",
    "Reconciler",
    "get_reconciler",
]

AliceFactory = Callable[[NDArray[np.uint8]], AliceReconciler]
BobFactory = Callable[[NDArray[np.uint8], float, int], BobReconciler]


@dataclass(frozen=True)
class Reconciler:
    """One reconciler: its two parties and the efficiency it was measured to reach.

    Attributes
    ----------
    name
        Registry name (``--reconciler`` on the command line).
    load
        Returns ``(AliceFactory, BobFactory)``; imports the implementation on first call.
    frame_bits
        Length of its frames (each frame gets its own verification tag).
    qber, efficiency
        Measured efficiency ``f = leaked / (n h(Q))`` at each QBER (interpolated linearly,
        held constant outside the measured range).
    source
        Where the efficiency figures were measured.
    """

    name: str
    load: Callable[[], tuple[AliceFactory, BobFactory]]
    frame_bits: int
    qber: tuple[float, ...]
    efficiency: tuple[float, ...]
    source: str

    def efficiency_at(self, qber: float) -> float:
        """Reconciliation efficiency ``f`` at ``qber``.

        Examples
        --------
        >>> RECONCILERS["cascade"].efficiency_at(0.001)
        1.0457
        """
        return float(np.interp(qber, self.qber, self.efficiency))


def _load_cascade() -> tuple[AliceFactory, BobFactory]:
    from quaykey.postproc.reconcile.cascade import CascadeAlice, CascadeBob

    return CascadeAlice, CascadeBob


def _load_ldpc() -> tuple[AliceFactory, BobFactory]:
    from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob

    return LdpcAlice, LdpcBob


#: The ``ldpc-lanes`` profile: the many-frames decoder, and a blind schedule whose first
#: attempt starts where a fair share of frames converge (``f_start=None``: by QBER, see
#: :func:`~quaykey.postproc.reconcile.ldpc.start_efficiency`), gives up hopeless
#: attempts early, and asks each frame's reveals as soon as its attempt fails
#: (``schedule="frames"``: same leak, no lanes idle until a round ends; docs/benchmarks.md,
#: LDPC).
LDPC_LANES_OPTIONS: dict[str, Any] = {
    "f_start": None,
    "f_step": 0.02,
    "stall": 6,
    "max_iter": 60,
    "schedule": "frames",
}


def _load_ldpc_lanes() -> tuple[AliceFactory, BobFactory]:
    from functools import partial

    from quaykey.postproc.reconcile.ldpc import LdpcAlice, LdpcBob

    bob = partial(LdpcBob, decoder="sum-product-lanes", **LDPC_LANES_OPTIONS)
    return LdpcAlice, bob


#: Every reconciler, by name. The efficiencies are the ones measured by
#: ``benchmarks/cascade.py`` and ``benchmarks/ldpc.py`` (frames of ``frame_bits`` on a binary
#: symmetric channel at exactly Q); update them when a reconciler's benchmark changes.
RECONCILERS: dict[str, Reconciler] = {
    "cascade": Reconciler(
        name="cascade",
        load=_load_cascade,
        frame_bits=2**14,
        qber=(0.01, 0.02, 0.03, 0.05, 0.08),
        efficiency=(1.0457, 1.0426, 1.0414, 1.0444, 1.0590),
        source="docs/benchmarks.md (Cascade) (opt.(8), 3072 frames of 2^14 bits per Q)",
    ),
    "ldpc": Reconciler(
        name="ldpc",
        load=_load_ldpc,
        frame_bits=2**16,
        qber=(0.02, 0.03, 0.04, 0.05, 0.06, 0.08),
        efficiency=(1.121, 1.117, 1.104, 1.079, 1.068, 1.073),
        source="docs/benchmarks.md (LDPC) (12 frames of 2^16 bits per Q)",
    ),
    "ldpc-lanes": Reconciler(
        name="ldpc-lanes",
        load=_load_ldpc_lanes,
        frame_bits=2**16,
        qber=(0.02, 0.03, 0.04, 0.05, 0.06, 0.08),
        efficiency=(1.130, 1.122, 1.112, 1.079, 1.075, 1.073),
        source=(
            "docs/benchmarks.md (LDPC, blind rounds frame by frame, FER over 3,072 frames) "
            "(3,072 frames of 2^16 bits per Q, LDPC_LANES_OPTIONS)"
        ),
    ),
}


def get_reconciler(name: str) -> tuple[AliceFactory, BobFactory]:
    """The (Alice, Bob) factories of a reconciler by name.

    Parameters
    ----------
    name
        ``"cascade"``, ``"ldpc"`` or ``"ldpc-lanes"``.

    Returns
    -------
    tuple
        ``(AliceFactory, BobFactory)``.

    Raises
    ------
    ValueError
        For an unknown name.

    Examples
    --------
    >>> get_reconciler("turbo")
    Traceback (most recent call last):
    ...
    ValueError: unknown reconciler 'turbo'; choose one of: cascade, ldpc, ldpc-lanes
    """
    if not isinstance(name, str) or name not in RECONCILERS:
        raise ValueError(
            f"unknown reconciler {name!r}; choose one of: {', '.join(sorted(RECONCILERS))}"
        )
    return RECONCILERS[name].load()
