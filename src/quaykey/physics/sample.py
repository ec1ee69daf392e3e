"""What the link sampler returns: each party's record and the block's statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from quaykey.records import AliceRecord, BobRecord

__all__ = ["LinkSample", "SampleStats"]


@dataclass(frozen=True)
class SampleStats:
    """Counts that estimation needs, and ground truth for diagnostics, of one sample.

    All per-intensity mappings are keyed by intensity name. "Sifted" counts are detections
    in which Alice's and Bob's bases match; "errors" those where their bits differ. For BBM92
    the single intensity is ``"pair"`` and a detection is a coincidence.

    Attributes
    ----------
    n_pulses, duration_s
        Block size and its duration at the source's repetition rate.
    intensity_names
        Intensity names in the source's order.
    pulses
        Pulses sent per intensity.
    detections
        Bob's clicks per intensity (BBM92: coincidences).
    sifted_x, errors_x, sifted_z, errors_z
        Matched-basis detections and bit errors in the X and Z bases.
    double_clicks
        Double clicks per intensity (BBM92: Bob's double clicks within coincidences).
    dark_only_detections
        Truth: clicks with no photon absorbed (dark counts only).
    afterpulse_only_detections
        Truth: clicks caused only by an afterpulse.
    mean_transmittance
        Pulse-weighted mean channel transmittance of the block.
    attack
        The attack's ``spec`` or ``None``.
    alice_clicks, bob_clicks
        Each party's clicks (BBM92; for BB84 Alice has no detector and ``alice_clicks`` is 0).
    """

    n_pulses: int
    duration_s: float
    intensity_names: tuple[str, ...]
    pulses: dict[str, int]
    detections: dict[str, int]
    sifted_x: dict[str, int]
    errors_x: dict[str, int]
    sifted_z: dict[str, int]
    errors_z: dict[str, int]
    double_clicks: dict[str, int]
    dark_only_detections: dict[str, int]
    afterpulse_only_detections: dict[str, int]
    mean_transmittance: float
    attack: str | None = None
    alice_clicks: int = 0
    bob_clicks: int = 0

    @property
    def gain(self) -> dict[str, float]:
        """Detections per pulse sent, per intensity (NaN for an intensity never sent)."""
        return {
            k: (self.detections[k] / self.pulses[k] if self.pulses[k] else math.nan)
            for k in self.intensity_names
        }

    @property
    def qber_x(self) -> dict[str, float]:
        """Error rate in matched X bases per intensity (NaN without sifted detections)."""
        return {k: _ratio(self.errors_x[k], self.sifted_x[k]) for k in self.intensity_names}

    @property
    def qber_z(self) -> dict[str, float]:
        """Error rate in matched Z bases per intensity (NaN without sifted detections)."""
        return {k: _ratio(self.errors_z[k], self.sifted_z[k]) for k in self.intensity_names}

    @property
    def qber(self) -> dict[str, float]:
        """Error rate in matched bases (X and Z together) per intensity."""
        return {
            k: _ratio(self.errors_x[k] + self.errors_z[k], self.sifted_x[k] + self.sifted_z[k])
            for k in self.intensity_names
        }

    @property
    def total_detections(self) -> int:
        """Detections over all intensities."""
        return int(sum(self.detections.values()))


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


@dataclass(frozen=True, eq=False)
class LinkSample:
    """What one simulated block produced: each party's record and the statistics.

    Attributes
    ----------
    alice, bob
        The two parties' private records (see :mod:`quaykey.records`).
    stats
        Counts and ground truth.
    bob_flags
        Truth per Bob click (diagnostics and tests): bit 0 double click, bit 1 dark-only
        click, bit 2 afterpulse-only click.
    alice_flags
        The same per Alice click (BBM92 only; ``None`` for BB84).
    """

    alice: AliceRecord
    bob: BobRecord
    stats: SampleStats = field(repr=False)
    bob_flags: NDArray[np.uint8] = field(repr=False, default_factory=lambda: np.zeros(0, np.uint8))
    alice_flags: NDArray[np.uint8] | None = field(repr=False, default=None)
