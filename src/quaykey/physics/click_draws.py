"""Drawing a block's clicks from its class probabilities (steps 1-2 of the link sampler).

Per segment of constant channel transmittance: the class counts (one multinomial), the
clicking slots (a sorted uniformly random subset of the segment's pulses, O(detections))
and each click's fields from its class, in a uniformly random order
(:func:`quaykey.physics._kernels.fill_bb84_events`). Also the no-click cell of a gate where
only an afterpulse lands, and the pulse-weighted mean transmittance of a block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.physics._kernels import fill_bb84_events, sorted_random_subset
from quaykey.physics.channels import ChannelSegment
from quaykey.physics.detectors import (
    OUTCOME_DARK_CORRECT,
    OUTCOME_DARK_WRONG,
    OUTCOME_DOUBLE,
    OUTCOME_PHOTON_CORRECT,
    OUTCOME_PHOTON_WRONG,
)

__all__ = [
    "MAX_DETECTIONS",
    "Arrays",
    "check_expected_detections",
    "conditional_quiet_cells",
    "draw_clicks",
    "mean_transmittance",
]

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


def check_expected_detections(expected: float) -> None:
    if expected > MAX_DETECTIONS:
        raise ValueError(
            f"n_pulses gives about {expected:.3g} expected detections, more than "
            f"{MAX_DETECTIONS:.0e} fit in memory; simulate the link in shorter blocks"
        )


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


def conditional_quiet_cells(
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


def draw_clicks(
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
    check_expected_detections(
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


def mean_transmittance(segments: tuple[ChannelSegment, ...]) -> float:
    """Pulse-weighted mean channel transmittance of a block's segments."""
    total = sum(s.n_pulses for s in segments)
    if total == 0:
        return segments[0].transmittance if segments else 0.0
    return float(sum(s.n_pulses * s.transmittance for s in segments) / total)
