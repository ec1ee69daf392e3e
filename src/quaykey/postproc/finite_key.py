"""Finite-key length of one block, from the block's own counts and its actual leakage.

Decoy BB84 uses :func:`quaykey.decoy.lim2014_key_length` (Lim et al. 2014, Eq. 1) with the
counts per intensity observed in the block and the bits actually disclosed by error
correction and verification.

BBM92 (entanglement based, no decoy states) uses the finite-key bound of Tomamichel, Lim,
Gisin and Renner (2012) with the same epsilon values:

    ``l = floor(n (1 - h(Q + mu)) - leak_EC - log2(2 / (eps_sec**2 eps_cor)))``,
    ``mu = sqrt((n + k) / (n k) * (k + 1) / k * ln(2 / eps_sec))``,

where ``n`` is the number of key-basis (X) bits, ``k`` the number of disclosed test-basis
(Z) bits and ``Q`` their observed error rate; ``Q + mu`` bounds the phase-error rate of
the key bits except with probability ``eps_sec`` (a Serfling-type sampling bound).

References
----------
Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (1)-(5).
Tomamichel, Lim, Gisin, Renner, "Tight finite-key analysis for quantum cryptography",
Nat. Commun. 3, 634 (2012), Eq. (2) and the definition of mu.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quaykey.decoy import DecoyCounts, FiniteKeyBound, lim2014_key_length
from quaykey.postproc.estimate import ParameterEstimate
from quaykey.records import PublicProtocol
from quaykey.units import binary_entropy

__all__ = ["Bbm92Bound", "bb84_key_length", "bbm92_key_length", "block_key_length"]


@dataclass(frozen=True)
class Bbm92Bound:
    """Intermediates of the BBM92 finite-key length (Tomamichel et al. 2012).

    Attributes
    ----------
    n_x, n_z
        Key-basis bits and disclosed test-basis bits.
    qber_z
        Observed test-basis error rate.
    mu
        Statistical correction of the phase-error estimate.
    phi_x
        Phase-error bound ``min(qber_z + mu, 1/2)``.
    leak_ec_bits, key_length_real, key_length_bits, positive
        As in :class:`quaykey.decoy.FiniteKeyBound`.
    """

    n_x: float
    n_z: float
    qber_z: float
    mu: float
    phi_x: float
    leak_ec_bits: float
    key_length_real: float
    key_length_bits: int
    positive: bool


def bbm92_key_length(
    n_x: int,
    n_z: int,
    m_z: int,
    *,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> Bbm92Bound:
    """Finite-key length of a BBM92 block (Tomamichel et al. 2012, Eq. 2).

    Parameters
    ----------
    n_x
        Key-basis (X) bits in the block.
    n_z, m_z
        Disclosed test-basis bits and the errors among them.
    leak_ec_bits
        Bits disclosed by error correction and verification.
    epsilon_sec, epsilon_cor
        Secrecy and correctness parameters in (0, 1).

    Returns
    -------
    Bbm92Bound
        The bound; ``key_length_bits`` is 0 when no key can be extracted.

    Raises
    ------
    ValueError
        For negative counts, ``m_z > n_z``, a negative leakage or an epsilon outside (0, 1).

    Example
    -------
    >>> b = bbm92_key_length(10**6, 10**5, 2000, leak_ec_bits=1.7e5, epsilon_sec=1e-10,
    ...                      epsilon_cor=1e-15)
    >>> b.positive, round(b.mu, 4)
    (True, 0.0162)

    References
    ----------
    Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012).
    """
    if n_x < 0 or n_z < 0 or m_z < 0 or m_z > n_z:
        raise ValueError(
            f"need n_x, n_z >= 0 and 0 <= m_z <= n_z, got n_x={n_x}, n_z={n_z}, m_z={m_z}"
        )
    if not (math.isfinite(leak_ec_bits) and leak_ec_bits >= 0):
        raise ValueError(f"leak_ec_bits must be a finite number >= 0, got {leak_ec_bits!r}")
    for name, eps in (("epsilon_sec", epsilon_sec), ("epsilon_cor", epsilon_cor)):
        if not 0.0 < eps < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {eps!r}")
    qber = m_z / n_z if n_z else 0.5
    if n_x == 0 or n_z == 0:
        mu = 0.5
    else:
        mu = math.sqrt((n_x + n_z) / (n_x * n_z) * (n_z + 1) / n_z * math.log(2.0 / epsilon_sec))
    phi = min(qber + mu, 0.5)
    length = (
        n_x * (1.0 - float(binary_entropy(phi)))
        - leak_ec_bits
        - math.log2(2.0 / (epsilon_sec**2 * epsilon_cor))
    )
    bits = math.floor(length) if length >= 1.0 else 0
    return Bbm92Bound(
        n_x=float(n_x),
        n_z=float(n_z),
        qber_z=qber,
        mu=mu,
        phi_x=phi,
        leak_ec_bits=float(leak_ec_bits),
        key_length_real=float(length),
        key_length_bits=int(bits),
        positive=bits > 0,
    )


def bb84_key_length(
    estimate: ParameterEstimate,
    m_x: np.ndarray,
    protocol: PublicProtocol,
    *,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> FiniteKeyBound:
    """Lim et al. (2014) key length of a decoy-BB84 block from its observed counts.

    Raises
    ------
    ValueError
        If the protocol does not have exactly three intensities in the order the bound needs.
    """
    if len(protocol.intensities) != 3:
        raise ValueError(
            "the Lim et al. 2014 finite-key bound needs exactly three intensities "
            f"(signal, decoy, vacuum); the protocol has {len(protocol.intensities)}"
        )
    counts = DecoyCounts(
        n_x=estimate.n_x.astype(np.float64),
        n_z=estimate.n_z.astype(np.float64),
        m_x=np.asarray(m_x, dtype=np.float64),
        m_z=estimate.m_z.astype(np.float64),
    )
    return lim2014_key_length(
        counts,
        protocol.intensities,
        protocol.intensity_probabilities,
        leak_ec_bits=leak_ec_bits,
        epsilon_sec=epsilon_sec,
        epsilon_cor=epsilon_cor,
    )


def block_key_length(
    estimate: ParameterEstimate,
    m_x: np.ndarray,
    protocol: PublicProtocol,
    *,
    leak_ec_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> FiniteKeyBound | Bbm92Bound:
    """Key length of a block under its protocol's bound (Lim 2014 or Tomamichel 2012)."""
    if protocol.kind == "bb84-decoy":
        return bb84_key_length(
            estimate,
            m_x,
            protocol,
            leak_ec_bits=leak_ec_bits,
            epsilon_sec=epsilon_sec,
            epsilon_cor=epsilon_cor,
        )
    if protocol.kind == "bbm92":
        return bbm92_key_length(
            int(estimate.n_x.sum()),
            int(estimate.n_z.sum()),
            int(estimate.m_z.sum()),
            leak_ec_bits=leak_ec_bits,
            epsilon_sec=epsilon_sec,
            epsilon_cor=epsilon_cor,
        )
    raise ValueError(f"unknown protocol kind {protocol.kind!r}; expected 'bb84-decoy' or 'bbm92'")
