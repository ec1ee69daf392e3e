"""Information reconciliation: the two-party interface and a registry of reconcilers.

``get_reconciler(name)`` returns ``(AliceFactory, BobFactory)``:
``AliceFactory(frame_bits) -> AliceReconciler`` and
``BobFactory(frame_bits, qber, seed) -> BobReconciler`` (see :mod:`.base`).
Implementations are imported lazily so that a missing optional one does not break the
others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
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
    "get_reconciler",
]

AliceFactory = Callable[[NDArray[np.uint8]], AliceReconciler]
BobFactory = Callable[[NDArray[np.uint8], float, int], BobReconciler]

#: name -> (module, Alice class, Bob class)
RECONCILERS: dict[str, tuple[str, str, str]] = {
    "cascade": ("quaykey.postproc.reconcile.cascade", "CascadeAlice", "CascadeBob"),
    "ldpc": ("quaykey.postproc.reconcile.ldpc", "LdpcAlice", "LdpcBob"),
}


def get_reconciler(name: str) -> tuple[AliceFactory, BobFactory]:
    """The (Alice, Bob) factories of a reconciler by name.

    Parameters
    ----------
    name
        ``"cascade"`` or ``"ldpc"``.

    Returns
    -------
    tuple
        ``(AliceFactory, BobFactory)``.

    Raises
    ------
    ValueError
        For an unknown name, or a known one whose module is not available.

    Example
    -------
    >>> get_reconciler("turbo")
    Traceback (most recent call last):
    ...
    ValueError: unknown reconciler 'turbo'; choose one of: cascade, ldpc
    """
    if not isinstance(name, str) or name not in RECONCILERS:
        raise ValueError(
            f"unknown reconciler {name!r}; choose one of: {', '.join(sorted(RECONCILERS))}"
        )
    module_name, alice_cls, bob_cls = RECONCILERS[name]
    try:
        module: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"reconciler {name!r} is not available: {exc}") from exc
    return getattr(module, alice_cls), getattr(module, bob_cls)
