"""Decoy-BB84 records of one block: draw the clicks, apply dead time and afterpulses, and
build Alice's and Bob's records and the statistics (steps 1-5 of the link sampler for a
:class:`~quaykey.physics.params.DecoySource`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.physics._kernels import detector_timeline, tally_bb84
from quaykey.physics.attacks import Attack
from quaykey.physics.channels import ChannelSegment, transmittance_segments
from quaykey.physics.click_draws import (
    Arrays,
    conditional_quiet_cells,
    draw_clicks,
    mean_transmittance,
)
from quaykey.physics.detectors import N_OUTCOMES, OUTCOME_NONE, dead_time_gates
from quaykey.physics.params import DecoySource, LinkParams
from quaykey.physics.pulse_classes import bb84_class_probabilities
from quaykey.physics.sample import LinkSample, SampleStats
from quaykey.records import AliceRecord, BobRecord

__all__ = ["simulate_bb84"]


def simulate_bb84(
    params: LinkParams,
    n: int,
    rng: np.random.Generator,
    attack: Attack | None,
    start_time_s: float,
    time_step_s: float,
) -> LinkSample:
    """One block of a decoy-BB84 link (see :func:`quaykey.physics.sampler.simulate_link`)."""
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
    all_counts, events, quiet_probs = draw_clicks(rng, segments, seg_probs, quiet, tables, 6)
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
            conditional_quiet_cells(rng, slots[lonely], segments, quiet_probs)
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
        mean_transmittance=mean_transmittance(segments),
        attack=None if attack is None else attack.spec,
        alice_clicks=0,
        bob_clicks=int(slots.size),
    )
    return LinkSample(alice=alice, bob=bob, stats=stats, bob_flags=flags)
