"""Channel transmittance over a block of pulses (constant for fibre, piecewise for free space).

A fibre channel has one transmittance. A free-space channel may vary in time
(``FreeSpaceChannel.loss_db_at``); the sampler then splits a block into segments of at most
``time_step_s`` seconds and evaluates the transmittance at each segment's midpoint
(piecewise-constant approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quaykey.physics.params import FibreChannel, FreeSpaceChannel

__all__ = ["ChannelSegment", "transmittance_segments"]


@dataclass(frozen=True)
class ChannelSegment:
    """A run of consecutive pulses sharing one channel transmittance.

    Attributes
    ----------
    first_pulse
        Index of the first pulse of the segment within the block.
    n_pulses
        Number of pulses in the segment.
    transmittance
        Channel power transmittance (detector efficiency not included).
    """

    first_pulse: int
    n_pulses: int
    transmittance: float


def transmittance_segments(
    channel: FibreChannel | FreeSpaceChannel,
    n_pulses: int,
    repetition_rate_hz: float,
    *,
    start_time_s: float = 0.0,
    time_step_s: float = 1.0,
) -> tuple[ChannelSegment, ...]:
    """Split a block of pulses into segments of constant channel transmittance.

    Parameters
    ----------
    channel
        The channel; a fibre or a free-space channel without ``loss_db_at`` gives one segment.
    n_pulses
        Pulses in the block, >= 0.
    repetition_rate_hz
        Pulse rate, > 0 (pulse ``i`` leaves at ``start_time_s + i / rate``).
    start_time_s
        Time of the first pulse.
    time_step_s
        Longest segment of a time-varying channel, > 0.

    Returns
    -------
    tuple of ChannelSegment
        Segments covering ``[0, n_pulses)`` in order.

    Raises
    ------
    ValueError
        For a negative ``n_pulses`` or a non-positive rate or time step.

    Example
    -------
    >>> seg = transmittance_segments(FibreChannel(length_km=50.0), 10, 1e9)
    >>> len(seg), round(seg[0].transmittance, 4)
    (1, 0.1)
    """
    if n_pulses < 0:
        raise ValueError(f"n_pulses must be >= 0, got {n_pulses!r}")
    if not (math.isfinite(repetition_rate_hz) and repetition_rate_hz > 0):
        raise ValueError(f"repetition_rate_hz must be > 0, got {repetition_rate_hz!r}")
    if not (math.isfinite(time_step_s) and time_step_s > 0):
        raise ValueError(f"time_step_s must be > 0, got {time_step_s!r}")
    if not math.isfinite(start_time_s):
        raise ValueError(f"start_time_s must be finite, got {start_time_s!r}")
    varying = isinstance(channel, FreeSpaceChannel) and channel.loss_db_at is not None
    if not varying:
        return (ChannelSegment(0, int(n_pulses), channel.transmittance(start_time_s)),)
    per_step = max(1, int(time_step_s * repetition_rate_hz))
    out = []
    first = 0
    while first < n_pulses:
        count = min(per_step, n_pulses - first)
        mid_s = start_time_s + (first + 0.5 * count) / repetition_rate_hz
        out.append(ChannelSegment(first, count, channel.transmittance(mid_s)))
        first += count
    if not out:
        out.append(ChannelSegment(0, 0, channel.transmittance(start_time_s)))
    return tuple(out)
