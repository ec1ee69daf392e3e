"""Slow, obviously-correct per-pulse (per-photon) twin of ``quaykey.physics.sampler``.

Every pulse is materialised: Alice's intensity, basis and bit; the photon number; each
photon's fate (channel, Eve, detector efficiency, which detector); each detector's dark
count; then a plain Python loop in time order applies dead time and afterpulses. Nothing
here uses class probabilities, so agreement with the fast sampler (tests/unit/physics/
test_sampler_reference.py) tests the fast sampler's probabilities *and* its slot drawing.

Also the twins of the numba kernels in ``quaykey.physics._kernels``:
``sorted_random_subset_reference``, ``detector_timeline_reference``,
``fill_bb84_events_reference`` and ``tally_bb84_reference``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource

__all__ = [
    "PulseEvents",
    "detector_timeline_reference",
    "fill_bb84_events_reference",
    "simulate_bb84_per_pulse",
    "simulate_bbm92_per_pulse",
    "sorted_random_subset_reference",
    "tally_bb84_reference",
]


@dataclass
class PulseEvents:
    """Clicks of one party (Bob for BB84) with the truth of each clicking pulse."""

    pulses_per_intensity: NDArray[np.int64]
    slots: NDArray[np.int64]
    k: NDArray[np.int64]
    a: NDArray[np.int64]
    b: NDArray[np.int64]
    alice_bit: NDArray[np.int64]
    bob_bit: NDArray[np.int64]
    double: NDArray[np.bool_]
    dark_only: NDArray[np.bool_]
    afterpulse_only: NDArray[np.bool_]


def sorted_random_subset_reference(rng: np.random.Generator, n: int, d: int) -> NDArray[np.int64]:
    """Twin of ``sorted_random_subset``: numpy's sampling without replacement, sorted."""
    return np.sort(rng.choice(n, size=d, replace=False)).astype(np.int64)


def fill_bb84_events_reference(
    rng: np.random.Generator,
    counts: NDArray[np.int64],
    cell_k: NDArray[np.uint8],
    cell_a: NDArray[np.uint8],
    cell_b: NDArray[np.uint8],
    cell_outcome: NDArray[np.uint8],
) -> tuple[NDArray[np.uint8], ...]:
    """Twin of ``fill_bb84_events``: repeat the labels, shuffle, look up, draw bits."""
    labels = np.repeat(np.arange(counts.size), counts)
    rng.shuffle(labels)
    o = cell_outcome[labels]
    alice = rng.integers(0, 2, labels.size).astype(np.uint8)
    bob = alice.copy()
    wrong = (o == 1) | (o == 3)
    bob[wrong] = 1 - alice[wrong]
    double = o == 4
    bob[double] = rng.integers(0, 2, int(double.sum()))
    flags = double.astype(np.uint8) | (((o == 2) | (o == 3)).astype(np.uint8) << 1)
    return cell_k[labels], cell_a[labels], cell_b[labels], alice, bob, flags


def tally_bb84_reference(k, a, b, alice_bit, bob_bit, flags, n_k):  # type: ignore[no-untyped-def]
    """Twin of ``tally_bb84``: one Python loop over the clicks."""
    out = np.zeros((n_k, 8), dtype=np.int64)
    for i in range(len(k)):
        row = out[int(k[i])]
        row[0] += 1
        if a[i] == b[i]:
            col = 1 if a[i] == 0 else 3
            row[col] += 1
            row[col + 1] += int(alice_bit[i] != bob_bit[i])
        row[5] += int(flags[i]) & 1
        row[6] += (int(flags[i]) >> 1) & 1
        row[7] += (int(flags[i]) >> 2) & 1
    return out


def detector_timeline_reference(
    rng: np.random.Generator,
    fire: NDArray[np.bool_],
    dead_gates: int,
    afterpulse_probability: float,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Dead time and afterpulses over *every* gate, one gate at a time.

    Parameters
    ----------
    fire
        Shape ``(n_gates, 2)``: whether each detector would fire without these effects.

    Returns
    -------
    slots, fired (shape (m, 2)), afterpulse_only
        Gates with a click, which detectors clicked, whether only afterpulses clicked.
    """
    n = fire.shape[0]
    if dead_gates == 0 and afterpulse_probability == 0.0:
        slots = np.flatnonzero(fire.any(axis=1))
        return slots, fire[slots], np.zeros(slots.size, dtype=bool)
    dead_until = [-1, -1]
    pending = [-1, -1]
    slots, fired_out, ap_out = [], [], []
    fire_rows = fire.tolist()
    for s in range(n):
        clicked = [False, False]
        ap = [False, False]
        for c in (0, 1):
            hit = bool(fire_rows[s][c])
            if pending[c] == s:
                ap[c] = not hit
                hit = True
                pending[c] = -1
            if hit and s > dead_until[c]:
                clicked[c] = True
        for c in (0, 1):
            if clicked[c]:
                dead_until[c] = s + dead_gates
                fires_ap = not ap[c] and rng.random() < afterpulse_probability
                if fires_ap and s + dead_gates + 1 < n:
                    pending[c] = s + dead_gates + 1
        if clicked[0] or clicked[1]:
            slots.append(s)
            fired_out.append(clicked)
            ap_out.append(all(ap[c] for c in (0, 1) if clicked[c]))
    return (
        np.array(slots, dtype=np.int64),
        np.array(fired_out, dtype=bool).reshape(-1, 2),
        np.array(ap_out, dtype=bool),
    )


def _route(
    rng: np.random.Generator,
    owner: NDArray[np.int64],
    state_basis: NDArray[np.int64],
    state_bit: NDArray[np.int64],
    meas_basis: NDArray[np.int64],
    e_d: float,
) -> NDArray[np.int64]:
    """Detector index hit by each photon: its bit when bases match (flipped with e_d)."""
    same = state_basis[owner] == meas_basis[owner]
    flip = rng.random(owner.size) < e_d
    matched = np.where(flip, 1 - state_bit[owner], state_bit[owner])
    return np.where(same, matched, rng.integers(0, 2, owner.size))


def simulate_bb84_per_pulse(
    params: LinkParams,
    n_pulses: int,
    rng: np.random.Generator,
    attack: InterceptResend | PhotonNumberSplitting | None = None,
) -> PulseEvents:
    """Simulate every pulse and photon of decoy BB84 (constant channel)."""
    src = params.source
    assert isinstance(src, DecoySource)
    det = params.detector
    n = n_pulses
    mu = np.array(src.intensities)
    k = rng.choice(mu.size, size=n, p=np.array(src.probabilities))
    a = (rng.random(n) >= src.basis_probability_x).astype(np.int64)  # 0 = X with q_x
    b = (rng.random(n) >= src.basis_probability_x).astype(np.int64)
    bit = rng.integers(0, 2, n)
    photons = rng.poisson(mu[k])
    eta_ch = params.channel.transmittance(0.0)
    state_basis, state_bit = a.copy(), bit.copy()
    attacked = np.zeros(n, dtype=bool)
    if attack is not None:
        attacked = rng.random(n) < attack.fraction
    if isinstance(attack, InterceptResend):
        e_basis = rng.integers(0, 2, n)
        e_bit = np.where(e_basis == a, bit, rng.integers(0, 2, n))
        hit = attacked & (photons > 0)
        state_basis = np.where(hit, e_basis, a)
        state_bit = np.where(hit, e_bit, bit)
        arriving = rng.binomial(photons, eta_ch)
    elif isinstance(attack, PhotonNumberSplitting):
        st = attack.strategy(params, eta_ch)
        fwd1 = rng.random(n) < st.single_forward_probability
        fwdm = rng.random(n) < st.multi_forward_probability
        eve = np.where(photons == 1, fwd1.astype(np.int64), np.where(fwdm, photons - 1, 0))
        eve = np.where(photons == 0, 0, eve)
        arriving = np.where(attacked, eve, rng.binomial(photons, eta_ch))
    else:
        arriving = rng.binomial(photons, eta_ch)
    # photon by photon: detector efficiency, then which detector
    owner = np.repeat(np.arange(n), arriving)
    absorbed = rng.random(owner.size) < det.efficiency
    owner = owner[absorbed]
    which = _route(rng, owner, state_basis, state_bit, b, det.misalignment_error)
    hits = np.zeros((n, 2), dtype=np.int64)
    np.add.at(hits, (owner, which), 1)
    dark = rng.random((n, 2)) < det.dark_count_probability
    fire = (hits > 0) | dark
    dead = int(np.floor(det.dead_time_s * src.repetition_rate_hz + 1e-9))
    slots, fired, ap_only = detector_timeline_reference(rng, fire, dead, det.afterpulse_probability)
    double = fired[:, 0] & fired[:, 1]
    bob_bit = np.where(fired[:, 1], 1, 0)
    bob_bit[double] = rng.integers(0, 2, int(double.sum()))
    no_photon = hits[slots].sum(axis=1) == 0
    return PulseEvents(
        pulses_per_intensity=np.bincount(k, minlength=mu.size),
        slots=slots,
        k=k[slots],
        a=a[slots],
        b=b[slots],
        alice_bit=bit[slots],
        bob_bit=bob_bit,
        double=double,
        dark_only=no_photon & ~ap_only & ~double,  # dark-only *single* clicks
        afterpulse_only=ap_only,
    )


def simulate_bbm92_per_pulse(
    params: LinkParams, n_pulses: int, rng: np.random.Generator
) -> tuple[PulseEvents, PulseEvents]:
    """Simulate every pulse and pair of BBM92 (source in the middle). Returns (Alice, Bob) clicks.

    In the returned events, ``alice_bit``/``bob_bit`` hold the party's own measured bit in
    both (the other party's is meaningless there); ``a``/``b`` the two bases.
    """
    src = params.source
    assert isinstance(src, SPDCSource)
    det = params.detector
    n = n_pulses
    if src.statistics == "thermal":
        pairs = rng.geometric(1.0 / (1.0 + src.mean_pairs_per_pulse), n) - 1
    else:
        pairs = rng.poisson(src.mean_pairs_per_pulse, n)
    a = (rng.random(n) >= src.basis_probability_x).astype(np.int64)
    b = (rng.random(n) >= src.basis_probability_x).astype(np.int64)
    owner = np.repeat(np.arange(n), pairs)
    x = rng.integers(0, 2, owner.size)  # each pair's bit in Alice's basis
    eta_ch = params.channel.transmittance(0.0)
    fires = []
    for side in ("alice", "bob"):
        if side == "alice":
            ok = rng.random(owner.size) < det.efficiency * np.sqrt(eta_ch)
            which = x[ok]
        else:
            ok = rng.random(owner.size) < det.efficiency * np.sqrt(eta_ch)
            own = owner[ok]
            same = a[own] == b[own]
            flip = rng.random(own.size) < det.misalignment_error
            which = np.where(same, np.where(flip, 1 - x[ok], x[ok]), rng.integers(0, 2, own.size))
        hits = np.zeros((n, 2), dtype=np.int64)
        np.add.at(hits, (owner[ok], which), 1)
        fires.append((hits > 0) | (rng.random((n, 2)) < det.dark_count_probability))
    dead = int(np.floor(det.dead_time_s * src.repetition_rate_hz + 1e-9))
    out = []
    for fire in fires:
        slots, fired, ap_only = detector_timeline_reference(
            rng, fire, dead, det.afterpulse_probability
        )
        double = fired[:, 0] & fired[:, 1]
        bits = np.where(fired[:, 1], 1, 0)
        bits[double] = rng.integers(0, 2, int(double.sum()))
        out.append(
            PulseEvents(
                pulses_per_intensity=np.array([n]),
                slots=slots,
                k=np.zeros(slots.size, dtype=np.int64),
                a=a[slots],
                b=b[slots],
                alice_bit=bits,
                bob_bit=bits,
                double=double,
                dark_only=np.zeros(slots.size, dtype=bool),
                afterpulse_only=ap_only,
            )
        )
    return out[0], out[1]
