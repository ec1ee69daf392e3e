"""Synthetic Alice/Bob records for post-processing tests (no physics import).

A plain pulse-by-pulse model: intensity choice, click probability ``1 - exp(-eta mu) +
2 p_dark``, misalignment error on photon clicks, random bits on dark clicks, random bits when
the bases differ, and an optional intercept-resend attack on a fraction of the pulses (an
intercepted photon click in matching bases is wrong with probability 1/4).
"""

from __future__ import annotations

import numpy as np

from quaykey.records import AliceRecord, BobRecord, PublicProtocol


def make_protocol(
    kind: str = "bb84-decoy",
    intensities: tuple[float, ...] = (0.6, 0.2, 0.0),
    probabilities: tuple[float, ...] = (0.5, 0.3, 0.2),
    basis_probability_x: float = 0.5,
) -> PublicProtocol:
    names = ("signal", "decoy", "vacuum")[: len(intensities)] if kind == "bb84-decoy" else ("pair",)
    return PublicProtocol(
        kind=kind,  # type: ignore[arg-type]
        intensities=intensities,
        intensity_names=names,
        intensity_probabilities=probabilities,
        basis_probability_x=basis_probability_x,
        repetition_rate_hz=1e9,
    )


def make_records(
    n_pulses: int,
    rng: np.random.Generator,
    *,
    protocol: PublicProtocol | None = None,
    eta: float = 0.3,
    p_dark: float = 1e-6,
    e_mis: float = 0.01,
    eve_fraction: float = 0.0,
) -> tuple[AliceRecord, BobRecord]:
    proto = protocol if protocol is not None else make_protocol()
    mu = np.asarray(proto.intensities)
    p_photon = 1.0 - np.exp(-eta * mu)
    p_click = p_photon + 2 * p_dark
    per_intensity = rng.multinomial(n_pulses, np.asarray(proto.intensity_probabilities))
    clicks = rng.binomial(per_intensity, p_click)
    slots = np.sort(rng.choice(n_pulses, size=int(clicks.sum()), replace=False)).astype(np.int64)
    ks = rng.permutation(np.repeat(np.arange(mu.size), clicks)).astype(np.uint8)
    m = slots.size
    q = proto.basis_probability_x
    a_bits = rng.integers(0, 2, m, dtype=np.uint8)
    a_bases = (rng.random(m) >= q).astype(np.uint8)
    b_bases = (rng.random(m) >= q).astype(np.uint8)
    photon = rng.random(m) < (p_photon[ks] / p_click[ks])
    err_p = np.where(photon, e_mis, 0.5)
    eve = rng.random(m) < eve_fraction
    err_p = np.where(photon & eve, 0.25 + 0.5 * e_mis, err_p)
    flip = (rng.random(m) < err_p).astype(np.uint8)
    b_bits = np.where(a_bases == b_bases, a_bits ^ flip, rng.integers(0, 2, m)).astype(np.uint8)
    alice = AliceRecord(
        protocol=proto,
        n_pulses=n_pulses,
        pulses_per_intensity=per_intensity.astype(np.int64),
        slots=slots,
        bits=a_bits,
        bases=a_bases,
        intensity=ks,
    )
    bob = BobRecord(
        protocol=proto, n_pulses=n_pulses, slots=slots.copy(), bases=b_bases, bits=b_bits
    )
    return alice, bob
