"""Fast link sampler: Alice's and Bob's records from a QKD link, at a cost set by detections.

How it works (prepare-and-measure decoy BB84)
---------------------------------------------
Every pulse falls in exactly one *class* ``(intensity k, Alice's basis a, Bob's basis b,
outcome o)`` where ``o`` is one of the six gate outcomes of
:mod:`quaykey.physics.detectors` (photon click on the detector of Alice's bit or on the other
one, dark-only click on either, double click, no click). Pulses are independent, so the class
counts of a block are multinomial with the exact class probabilities of
:mod:`quaykey.physics.pulse_classes`. The sampler

1. draws the class counts (one multinomial per segment of constant channel transmittance);
2. draws the clicking slots as a sorted uniformly random subset of ``[0, n_pulses)`` whose
   size is the number of clicks (:func:`quaykey.physics._kernels.sorted_random_subset`,
   O(detections), no pulse is materialised) and assigns the click classes to them in a
   uniformly random order;
3. draws Alice's bit of each clicking slot (uniform) and Bob's detector(s) from the class;
4. applies per-detector dead time and afterpulsing in one pass over the clicks
   (:func:`quaykey.physics._kernels.detector_timeline`); an afterpulse that lands in a gate
   without a click takes that gate's (intensity, bases) from the exact distribution of a
   non-clicking pulse of its segment, and a uniform bit for Alice;
5. squashes double clicks to a random bit.

Steps 1-2 are the same joint law as simulating every pulse: a multinomial over all classes
with the slots of each class a uniformly random, disjoint set of pulse indices.

BBM92 (``SPDCSource``)
----------------------
The pair source sits in the middle of the channel (as in Ma, Fung, Lo 2007 and the Micius
entanglement downlinks): each photon of a pair crosses half of the loss, transmittance
``sqrt(eta_channel)``. Each of ``N`` pairs (thermal or Poisson ``N``) carries a
fresh random bit ``x``; Alice's photon is absorbed with ``sqrt(eta_channel) * efficiency``
in the detector of ``x``; Bob's is absorbed with the same probability, in the detector of
``x`` (or the other one with the misalignment error) when the bases match and in a random
one otherwise. Classes are (a, b, which of the four detectors fired); each party's record
holds *its own* click slots, the intensity index is always 0, and ``SampleStats`` counts
coincidences (both parties clicked in the slot) as detections.

References
----------
Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (gain and QBER model); Lim et al., PRA 89, 022307
(2014) (afterpulse model); Ma, Fung, Lo, PRA 76, 012307 (2007) (SPDC model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.physics._kernels import (
    detector_timeline,
    fill_bb84_events,
    sorted_random_subset,
    tally_bb84,
)
from quaykey.physics.attacks import Attack
from quaykey.physics.channels import ChannelSegment, transmittance_segments
from quaykey.physics.detectors import (
    N_OUTCOMES,
    OUTCOME_DARK_CORRECT,
    OUTCOME_DARK_WRONG,
    OUTCOME_DOUBLE,
    OUTCOME_NONE,
    OUTCOME_PHOTON_CORRECT,
    OUTCOME_PHOTON_WRONG,
    dead_time_gates,
)
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource
from quaykey.physics.pulse_classes import bb84_class_probabilities, bbm92_pattern_probabilities
from quaykey.physics.sample import LinkSample, SampleStats
from quaykey.records import AliceRecord, BobRecord

# LinkSample and SampleStats (quaykey.physics.sample) are what simulate_link returns.
__all__ = ["LinkSample", "SampleStats", "simulate_link"]

# fill_bb84_events hard-codes this numbering of the outcomes
assert (
    OUTCOME_PHOTON_CORRECT,
    OUTCOME_PHOTON_WRONG,
    OUTCOME_DARK_CORRECT,
    OUTCOME_DARK_WRONG,
    OUTCOME_DOUBLE,
) == (0, 1, 2, 3, 4)

Arrays = tuple[NDArray[Any], ...]


# about 12 bytes of records per detection: 10**9 detections is already 12 GB
MAX_DETECTIONS = 10**9


def _check_expected_detections(expected: float) -> None:
    if expected > MAX_DETECTIONS:
        raise ValueError(
            f"n_pulses gives about {expected:.3g} expected detections, more than "
            f"{MAX_DETECTIONS:.0e} fit in memory; simulate the link in shorter blocks"
        )


def _check_inputs(params: LinkParams, n_pulses: int, rng: np.random.Generator) -> int:
    if not isinstance(params, LinkParams):
        raise TypeError(f"params must be a LinkParams, got {type(params).__name__}")
    if isinstance(n_pulses, bool) or not isinstance(n_pulses, int | np.integer):
        raise ValueError(f"n_pulses must be an integer >= 0, got {n_pulses!r}")
    if n_pulses < 0:
        raise ValueError(f"n_pulses must be >= 0, got {n_pulses!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    return int(n_pulses)


def _multinomial(rng: np.random.Generator, n: int, probs: NDArray[np.float64]) -> NDArray[np.int64]:
    p = np.clip(probs, 0.0, None)
    p = p / p.sum()
    return rng.multinomial(n, p).astype(np.int64)


def _segment_events(
    rng: np.random.Generator,
    seg: ChannelSegment,
    cell_probs: NDArray[np.float64],
    quiet: NDArray[np.bool_],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Counts per cell and the sorted (absolute) click slots of one segment."""
    counts = _multinomial(rng, seg.n_pulses, cell_probs)
    n_clicks = int(counts[~quiet].sum())
    slots = sorted_random_subset(rng, seg.n_pulses, n_clicks)
    if seg.first_pulse:
        slots += seg.first_pulse
    return counts, slots


def _join(parts: list[tuple[NDArray[Any], ...]]) -> tuple[NDArray[Any], ...]:
    """Concatenate per-segment arrays (no copy for a single segment)."""
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def _conditional_quiet_cells(
    rng: np.random.Generator,
    slots: NDArray[np.int64],
    segments: tuple[ChannelSegment, ...],
    quiet_probs: list[NDArray[np.float64]],
) -> NDArray[np.int64]:
    """Draw a no-click cell for each slot from its segment's no-click distribution."""
    out = np.empty(slots.size, dtype=np.int64)
    starts = np.array([s.first_pulse for s in segments], dtype=np.int64)
    seg_of = np.searchsorted(starts, slots, side="right") - 1
    for j, probs in enumerate(quiet_probs):
        idx = np.flatnonzero(seg_of == j)
        if idx.size:
            p = probs / probs.sum()
            out[idx] = rng.choice(p.size, size=idx.size, p=p)
    return out


def _draw_clicks(
    rng: np.random.Generator,
    segments: tuple[ChannelSegment, ...],
    seg_probs: list[NDArray[np.float64]],
    quiet: NDArray[np.bool_],
    tables: list[NDArray[np.uint8]],
    n_fields: int,
) -> tuple[NDArray[np.int64], Arrays, list[NDArray[np.float64]]]:
    """Class counts and clicking slots of every segment, each click filled from its class.

    Returns the class counts of the block, the joined ``(slots, *fields)`` of the clicks
    (the first ``n_fields`` outputs of ``fill_bb84_events``) and, per segment, the
    probabilities of the no-click cells (for afterpulses landing in a silent gate).
    """
    _check_expected_detections(
        sum(
            seg.n_pulses * float(p[~quiet].sum())
            for seg, p in zip(segments, seg_probs, strict=True)
        )
    )
    all_counts = np.zeros(quiet.size, dtype=np.int64)
    parts: list[Arrays] = []
    quiet_probs = []
    for seg, probs in zip(segments, seg_probs, strict=True):
        counts, seg_slots = _segment_events(rng, seg, probs, quiet)
        all_counts += counts
        filled = fill_bb84_events(rng, np.where(quiet, 0, counts), *tables)
        parts.append((seg_slots, *filled[:n_fields]))
        quiet_probs.append(probs[quiet])
    return all_counts, _join(parts), quiet_probs


def simulate_link(
    params: LinkParams,
    n_pulses: int,
    rng: np.random.Generator,
    *,
    attack: Attack | None = None,
    start_time_s: float = 0.0,
    time_step_s: float = 1.0,
) -> LinkSample:
    """Simulate one block of ``n_pulses`` pulses of a link; cost grows with detections.

    Parameters
    ----------
    params
        The link (decoy BB84 with a ``DecoySource``, BBM92 with an ``SPDCSource``).
    n_pulses
        Pulses (time slots) in the block, >= 0; 10**12 is fine when detections fit memory.
    rng
        Random generator; the same seed gives the same sample.
    attack
        Optional eavesdropper (:mod:`quaykey.physics.attacks`; BB84 only).
    start_time_s
        Time of the first pulse (matters for a time-varying free-space channel).
    time_step_s
        Longest stretch over which a time-varying channel is held constant.

    Returns
    -------
    LinkSample
        Alice's record (the slots where Bob clicked), Bob's record and the statistics.

    Raises
    ------
    ValueError
        For a negative or non-integer ``n_pulses`` (or one whose expected detections exceed
        ``MAX_DETECTIONS``), an attack on a BBM92 link, or a bad ``time_step_s`` or
        ``start_time_s``.
    TypeError
        For ``params`` that is not a ``LinkParams`` or ``rng`` that is not a Generator.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> s = simulate_link(load_preset("gys", 50), 10**9, np.random.default_rng(1))
    >>> 1.8e-3 < s.stats.gain["signal"] < 2.0e-3
    True
    """
    n = _check_inputs(params, n_pulses, rng)
    if isinstance(params.source, SPDCSource):
        if attack is not None:
            raise ValueError("attack: attacks are modelled for decoy BB84 links only, not BBM92")
        return _simulate_bbm92(params, n, rng, start_time_s, time_step_s)
    return _simulate_bb84(params, n, rng, attack, start_time_s, time_step_s)


def _simulate_bb84(
    params: LinkParams,
    n: int,
    rng: np.random.Generator,
    attack: Attack | None,
    start_time_s: float,
    time_step_s: float,
) -> LinkSample:
    source = params.source
    assert isinstance(source, DecoySource)
    rate = source.repetition_rate_hz
    segments = transmittance_segments(
        params.channel, n, rate, start_time_s=start_time_s, time_step_s=time_step_s
    )
    shape = (len(source.intensities), 2, 2, N_OUTCOMES)
    cells = tuple(x.ravel() for x in np.indices(shape))
    quiet = cells[3] == OUTCOME_NONE
    tables = [x.astype(np.uint8) for x in cells]
    seg_probs = [
        bb84_class_probabilities(params, seg.transmittance, attack).ravel() for seg in segments
    ]
    all_counts, events, quiet_probs = _draw_clicks(rng, segments, seg_probs, quiet, tables, 6)
    dead = dead_time_gates(params.detector, rate)
    p_ap = params.detector.afterpulse_probability
    if dead > 0 or p_ap > 0.0:
        lonely_cells = (cells, quiet, segments, quiet_probs)
        events = _bb84_detector_effects(rng, events, lonely_cells, n, dead, p_ap)
    pulses_per_k = all_counts.reshape(shape).sum(axis=(1, 2, 3))
    return _bb84_sample(source, n, pulses_per_k, events, segments, attack)


def _bb84_detector_effects(
    rng: np.random.Generator,
    events: Arrays,
    lonely_cells: tuple[
        tuple[NDArray[Any], ...],
        NDArray[np.bool_],
        tuple[ChannelSegment, ...],
        list[NDArray[np.float64]],
    ],
    n: int,
    dead: int,
    p_ap: float,
) -> Arrays:
    """Dead time and afterpulses applied to Bob's clicks (one pass over them).

    An afterpulse in a gate without a click takes that gate's (intensity, bases) from the
    exact distribution of a non-clicking pulse of its segment (``lonely_cells``: the cell
    tables, the no-click mask, the segments and their no-click probabilities) and a uniform
    bit for Alice; double clicks are recomputed and squashed to a random bit.
    """
    slots, intensity, a_basis, b_basis, alice_bit, bob_bit, flags = events
    (cell_k, cell_a, cell_b, _), quiet, segments, quiet_probs = lonely_cells
    double = (flags & 1).astype(bool)
    fire1 = np.where(double, 1, bob_bit).astype(np.uint8)
    fire0 = np.where(double, 1, 1 - bob_bit).astype(np.uint8)
    slots, f0, f1, src, ap = detector_timeline(rng, slots, fire0, fire1, n, dead, p_ap)
    from_input = src >= 0
    srcs = src[from_input]
    n_ev = slots.size
    new_k = np.empty(n_ev, np.uint8)
    new_a = np.empty(n_ev, np.uint8)
    new_b = np.empty(n_ev, np.uint8)
    new_bit = np.empty(n_ev, np.uint8)
    new_flags = np.zeros(n_ev, np.uint8)
    new_k[from_input] = intensity[srcs]
    new_a[from_input] = a_basis[srcs]
    new_b[from_input] = b_basis[srcs]
    new_bit[from_input] = alice_bit[srcs]
    new_flags[from_input] = flags[srcs] & 2  # dark-only truth; double is recomputed
    lonely = ~from_input
    n_lonely = int(lonely.sum())
    if n_lonely:
        qcells = np.flatnonzero(quiet)[
            _conditional_quiet_cells(rng, slots[lonely], segments, quiet_probs)
        ]
        new_k[lonely] = cell_k[qcells]
        new_a[lonely] = cell_a[qcells]
        new_b[lonely] = cell_b[qcells]
        new_bit[lonely] = rng.integers(0, 2, size=n_lonely, dtype=np.uint8)
    new_flags[ap.astype(bool)] = 4  # every click of the gate is an afterpulse
    # dead time may have removed one side of a double click, an afterpulse may add one
    double = (f0 & f1).astype(bool)
    new_flags |= double.astype(np.uint8)
    new_flags[double] &= np.uint8(0b101)  # "dark-only" counts single clicks only
    bob_bit = f1.copy()
    n_double = int(double.sum())
    if n_double:
        bob_bit[double] = rng.integers(0, 2, size=n_double, dtype=np.uint8)
    return slots, new_k, new_a, new_b, new_bit, bob_bit, new_flags


def _bb84_sample(
    source: DecoySource,
    n: int,
    pulses_per_k: NDArray[np.int64],
    events: Arrays,
    segments: tuple[ChannelSegment, ...],
    attack: Attack | None,
) -> LinkSample:
    """Alice's and Bob's records and the statistics of a BB84 block's final clicks."""
    slots, intensity, a_basis, b_basis, alice_bit, bob_bit, flags = events
    protocol = source.protocol()
    alice = AliceRecord(
        protocol=protocol,
        n_pulses=n,
        pulses_per_intensity=pulses_per_k.astype(np.int64),
        slots=slots,
        bits=alice_bit,
        bases=a_basis,
        intensity=intensity,
    )
    slots.flags.writeable = False  # public slot list, shared read-only by both records
    bob = BobRecord(
        protocol=protocol,
        n_pulses=n,
        slots=slots,
        bases=b_basis,
        bits=bob_bit,
        double_clicks=int(np.count_nonzero(flags & 1)),
    )
    table = tally_bb84(intensity, a_basis, b_basis, alice_bit, bob_bit, flags, len(source.names))

    def per_k(arr: NDArray[np.int64]) -> dict[str, int]:
        return {name: int(v) for name, v in zip(source.names, arr, strict=True)}

    stats = SampleStats(
        n_pulses=n,
        duration_s=n / source.repetition_rate_hz,
        intensity_names=tuple(source.names),
        pulses=per_k(pulses_per_k),
        detections=per_k(table[:, 0]),
        sifted_x=per_k(table[:, 1]),
        errors_x=per_k(table[:, 2]),
        sifted_z=per_k(table[:, 3]),
        errors_z=per_k(table[:, 4]),
        double_clicks=per_k(table[:, 5]),
        dark_only_detections=per_k(table[:, 6]),
        afterpulse_only_detections=per_k(table[:, 7]),
        mean_transmittance=_mean_eta(segments),
        attack=None if attack is None else attack.spec,
        alice_clicks=0,
        bob_clicks=int(slots.size),
    )
    return LinkSample(alice=alice, bob=bob, stats=stats, bob_flags=flags)


def _mean_eta(segments: tuple[ChannelSegment, ...]) -> float:
    total = sum(s.n_pulses for s in segments)
    if total == 0:
        return segments[0].transmittance if segments else 0.0
    return float(sum(s.n_pulses * s.transmittance for s in segments) / total)


def _simulate_bbm92(
    params: LinkParams,
    n: int,
    rng: np.random.Generator,
    start_time_s: float,
    time_step_s: float,
) -> LinkSample:
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
    _, union_events, quiet_probs = _draw_clicks(rng, segments, seg_probs, quiet, tables, 3)
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
                    _conditional_quiet_cells(rng, slots[rest], pairs.segments, pairs.quiet_probs)
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
        mean_transmittance=_mean_eta(segments),
        attack=None,
        alice_clicks=int(a_slots.size),
        bob_clicks=int(b_slots.size),
    )
    return LinkSample(alice=alice, bob=bob, stats=stats, bob_flags=b_flags, alice_flags=a_flags)
