"""Channel loss and transmittance (constant for fibre, piecewise in time for free space).

The one place where a channel's loss is computed: :func:`fibre_loss_db`
(``attenuation_db_per_km * length_km + fixed_loss_db``), :func:`channel_loss_db` for any
channel, and the loss figures of a deployed trunk fibre as named constants
(:data:`TRUNK_ATTENUATION_DB_PER_KM`, :data:`TRUNK_FIXED_LOSS_DB`).

A fibre channel has one transmittance. A free-space channel may vary in time
(``FreeSpaceChannel.loss_db_at``); the sampler then splits a block into segments of at most
``time_step_s`` seconds and evaluates the transmittance at each segment's midpoint
(piecewise-constant approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parameter module may import this one: no import cycle at run time
    from quaykey.physics.params import FibreChannel, FreeSpaceChannel

__all__ = [
    "TRUNK_ATTENUATION_DB_PER_KM",
    "TRUNK_FIXED_LOSS_DB",
    "ChannelSegment",
    "channel_loss_db",
    "check_transmittance",
    "fibre_loss_db",
    "transmittance_segments",
]

# Deployed trunk fibre (a hop of the Beijing-Shanghai backbone): attenuation including
# splices, and the fixed loss of connectors and patch panels at the two ends.
TRUNK_ATTENUATION_DB_PER_KM = 0.25
TRUNK_FIXED_LOSS_DB = 2.0


def fibre_loss_db(
    length_km: float, attenuation_db_per_km: float, fixed_loss_db: float = 0.0
) -> float:
    """Loss of a fibre in dB: ``attenuation_db_per_km * length_km + fixed_loss_db``.

    Parameters
    ----------
    length_km
        Fibre length.
    attenuation_db_per_km
        Attenuation of the fibre (splices included).
    fixed_loss_db
        Length-independent loss (connectors, patch panels, insertion loss).

    Returns
    -------
    float
        Total loss in dB.

    Example
    -------
    >>> fibre_loss_db(70.0, TRUNK_ATTENUATION_DB_PER_KM, TRUNK_FIXED_LOSS_DB)
    19.5
    """
    return attenuation_db_per_km * length_km + fixed_loss_db


def channel_loss_db(channel: FibreChannel | FreeSpaceChannel, time_s: float | None = None) -> float:
    """Loss of a channel in dB.

    Parameters
    ----------
    channel
        A fibre (:func:`fibre_loss_db` of its length, attenuation and fixed loss) or a
        free-space channel (its ``loss_db``, or ``loss_db_at(time_s)`` when it varies in
        time and ``time_s`` is given).
    time_s
        Time at which a time-varying free-space channel is evaluated; ``None`` for its
        static ``loss_db``.

    Returns
    -------
    float
        Loss in dB.

    Example
    -------
    >>> from quaykey.physics.params import FibreChannel
    >>> channel_loss_db(FibreChannel(length_km=50.0, attenuation_db_per_km=0.2))
    10.0
    """
    from quaykey.physics.params import FibreChannel  # at call time: params may import us

    if isinstance(channel, FibreChannel):
        return float(
            fibre_loss_db(channel.length_km, channel.attenuation_db_per_km, channel.fixed_loss_db)
        )
    if channel.loss_db_at is not None and time_s is not None:
        return float(channel.loss_db_at(time_s))
    return float(channel.loss_db)


def check_transmittance(transmittance: float) -> float:
    """``transmittance`` as a float, checked to lie in [0, 1].

    Raises
    ------
    ValueError
        If it is outside [0, 1] or not finite.

    Example
    -------
    >>> check_transmittance(0.5)
    0.5
    """
    t = float(transmittance)
    if not (math.isfinite(t) and 0.0 <= t <= 1.0):
        raise ValueError(f"transmittance must be in [0, 1], got {transmittance!r}")
    return t


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
    >>> from quaykey.physics.params import FibreChannel
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
    varying = getattr(channel, "loss_db_at", None) is not None
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
