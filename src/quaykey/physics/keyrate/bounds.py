"""Repeaterless bounds of the pure-loss channel: PLOB and TGW, in secret bits per channel use.

Both take the transmittance of the *channel only* (fibre or free space, without Bob's
detector efficiency): that is the quantity the repeaterless bounds are about, and every
key-rate model of :mod:`quaykey.physics.keyrate` stays below them.
"""

from __future__ import annotations

import math

from quaykey.physics.channels import check_transmittance

__all__ = ["plob_bound", "tgw_bound"]


def plob_bound(transmittance: float) -> float:
    """PLOB repeaterless bound ``-log2(1 - eta)`` in secret bits per channel use.

    Parameters
    ----------
    transmittance
        Channel transmittance ``eta`` in [0, 1] (``inf`` at 1).

    Returns
    -------
    float
        The secret-key capacity of the pure-loss channel.

    Raises
    ------
    ValueError
        If ``transmittance`` is outside [0, 1].

    Example
    -------
    >>> round(plob_bound(0.01), 6)
    0.0145

    References
    ----------
    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017) (secret-key capacity
    of the pure-loss channel).
    """
    t = check_transmittance(transmittance)
    return math.inf if t == 1.0 else -math.log2(1.0 - t)


def tgw_bound(transmittance: float) -> float:
    """TGW bound ``log2((1 + eta) / (1 - eta))`` in secret bits per channel use.

    Parameters
    ----------
    transmittance
        Channel transmittance ``eta`` in [0, 1] (``inf`` at 1).

    Returns
    -------
    float
        The squashed-entanglement bound of the pure-loss channel (about twice PLOB at
        low ``eta``).

    Raises
    ------
    ValueError
        If ``transmittance`` is outside [0, 1].

    Example
    -------
    >>> round(tgw_bound(0.01), 6)
    0.028855

    References
    ----------
    Takeoka, Guha, Wilde, Nat. Commun. 5, 5235 (2014) (squashed-entanglement bound of the
    pure-loss channel).
    """
    t = check_transmittance(transmittance)
    return math.inf if t == 1.0 else math.log2((1.0 + t) / (1.0 - t))
