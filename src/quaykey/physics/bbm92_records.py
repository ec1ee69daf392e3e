"""BBM92 records of one block: draw the pair slots' firing patterns, then each party's
own dead time and afterpulses, its record, and the coincidence statistics (the link sampler
for an :class:`~quaykey.physics.params.SPDCSource`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.physics._kernels import detector_timeline
from quaykey.physics.channels import ChannelSegment, transmittance_segments
from quaykey.physics.click_draws import (
    Arrays,
    conditional_quiet_cells,
    draw_clicks,
    mean_transmittance,
)
from quaykey.physics.detectors import OUTCOME_NONE, dead_time_gates
from quaykey.physics.params import LinkParams, SPDCSource
from quaykey.physics.pulse_classes import bbm92_pattern_probabilities
from quaykey.physics.sample import LinkSample, SampleStats
from quaykey.records import AliceRecord, BobRecord

__all__ = ["simulate_bbm92"]


def simulate_bbm92(
    params: LinkParams,
    n: int,
    rng: np.random.Generator,
    start_time_s: float,
    time_step_s: float,
) -> LinkSample:
    """One block of a BBM92 link (see :func:`quaykey.physics.sampler.simulate_link`)."""
    source = params.source
    assert isinstance(source, SPDCSource)
    rate = source.repetition_rate_hz
    segments = transmittance_segments(
        params.channel, n, rate, start_time_s=start_time_s, time_step_s=time_step_s
    )
    shape = (2, 2, 16)
    cell_a, cell_b, cell_m = (x.ravel() for x in np.indices(shape))
    quiet = cell_m == 0
    tables = [x.astype(np.uint8) for x in (cell_m, cell_a, cell_b)]
    tables.append(np.full(cell_m.size, OUTCOME_NONE, dtype=np.uint8))
    seg_probs = [bbm92_pattern_probabilities(params, s.transmittance).ravel() for s in segments]
    _, union_events, quiet_probs = draw_clicks(rng, segments, seg_probs, quiet, tables, 3)
    pairs = _PairClicks(
        union_events,
        n,
        dead_time_gates(params.detector, rate),
        params.detector.afterpulse_probability,
        (cell_a, cell_b, np.flatnonzero(quiet)),
        segments,
        quiet_probs,
    )
    alice_side = _bbm92_party(rng, pairs, 0, use_a=True)
    bob_side = _bbm92_party(rng, pairs, 2, use_a=False)
    return _bbm92_sample(source, n, alice_side, bob_side, segments)


class _PairClicks:
    """The union of both parties' clicks of a BBM92 block, and what afterpulses need."""

    def __init__(
        self,
        union_events: Arrays,
        n: int,
        dead: int,
        p_ap: float,
        cells: tuple[NDArray[Any], NDArray[Any], NDArray[np.int64]],
        segments: tuple[ChannelSegment, ...],
        quiet_probs: list[NDArray[np.float64]],
    ) -> None:
        self.union, self.mask, self.union_a, self.union_b = union_events
        self.n, self.dead, self.p_ap = n, dead, p_ap
        self.cell_a, self.cell_b, self.qcell_index = cells
        self.segments, self.quiet_probs = segments, quiet_probs


Party = tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]


def _bbm92_party(rng: np.random.Generator, pairs: _PairClicks, shift: int, *, use_a: bool) -> Party:
    """One party's slots, bases, bits and truth flags: its two detectors (bits ``shift``
    and ``shift + 1`` of the firing pattern), then its own dead time and afterpulses."""
    own_basis = pairs.union_a if use_a else pairs.union_b
    union = pairs.union
    f0 = ((pairs.mask >> shift) & 1).astype(np.uint8)
    f1 = ((pairs.mask >> (shift + 1)) & 1).astype(np.uint8)
    mine = (f0 | f1).astype(bool)
    slots, f0, f1, basis = union[mine], f0[mine], f1[mine], own_basis[mine]
    ap = np.zeros(slots.size, np.uint8)
    if pairs.dead > 0 or pairs.p_ap > 0.0:
        slots, f0, f1, src, ap = detector_timeline(
            rng, slots, f0, f1, pairs.n, pairs.dead, pairs.p_ap
        )
        new_basis = np.empty(slots.size, np.uint8)
        ok = src >= 0
        new_basis[ok] = basis[src[ok]]
        lonely = np.flatnonzero(~ok)
        if lonely.size:
            pos = np.searchsorted(union, slots[lonely])
            pos_c = np.minimum(pos, max(union.size - 1, 0))
            in_union = (union.size > 0) & (union[pos_c] == slots[lonely])
            new_basis[lonely[in_union]] = own_basis[pos_c[in_union]]
            rest = lonely[~in_union]
            if rest.size:
                cells = pairs.qcell_index[
                    conditional_quiet_cells(rng, slots[rest], pairs.segments, pairs.quiet_probs)
                ]
                new_basis[rest] = (pairs.cell_a if use_a else pairs.cell_b)[cells]
        basis = new_basis
    double = (f0 & f1).astype(bool)
    bits = f1.copy()
    nd = int(double.sum())
    if nd:
        bits[double] = rng.integers(0, 2, size=nd, dtype=np.uint8)
    flags: NDArray[np.uint8] = double.astype(np.uint8) | (ap << 2).astype(np.uint8)
    return slots, basis, bits, flags


def _bbm92_sample(
    source: SPDCSource,
    n: int,
    alice_side: Party,
    bob_side: Party,
    segments: tuple[ChannelSegment, ...],
) -> LinkSample:
    """Both parties' records and the coincidence statistics of a BBM92 block."""
    a_slots, a_bases, a_bits, a_flags = alice_side
    b_slots, b_bases, b_bits, b_flags = bob_side
    protocol = source.protocol()
    b_double = (b_flags & 1).astype(bool)
    alice = AliceRecord(
        protocol=protocol,
        n_pulses=n,
        pulses_per_intensity=np.array([n], dtype=np.int64),
        slots=a_slots,
        bits=a_bits,
        bases=a_bases,
        intensity=np.zeros(a_slots.size, dtype=np.uint8),
    )
    bob = BobRecord(
        protocol=protocol,
        n_pulses=n,
        slots=b_slots,
        bases=b_bases,
        bits=b_bits,
        double_clicks=int(b_double.sum()),
    )
    _, ia, ib = np.intersect1d(a_slots, b_slots, assume_unique=True, return_indices=True)
    match = a_bases[ia] == b_bases[ib]
    err = a_bits[ia] != b_bits[ib]
    sx = match & (a_bases[ia] == 0)
    sz = match & (a_bases[ia] == 1)
    name = protocol.intensity_names[0]
    stats = SampleStats(
        n_pulses=n,
        duration_s=n / source.repetition_rate_hz,
        intensity_names=(name,),
        pulses={name: n},
        detections={name: int(ia.size)},
        sifted_x={name: int(sx.sum())},
        errors_x={name: int((sx & err).sum())},
        sifted_z={name: int(sz.sum())},
        errors_z={name: int((sz & err).sum())},
        double_clicks={name: int(b_double[ib].sum())},
        dark_only_detections={name: 0},
        afterpulse_only_detections={name: int(((b_flags[ib] >> 2) & 1).sum())},
        mean_transmittance=mean_transmittance(segments),
        attack=None,
        alice_clicks=int(a_slots.size),
        bob_clicks=int(b_slots.size),
    )
    return LinkSample(alice=alice, bob=bob, stats=stats, bob_flags=b_flags, alice_flags=a_flags)
