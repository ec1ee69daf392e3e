"""Fast link sampler: Alice's and Bob's records from a QKD link, at a cost set by detections.

How it works (prepare-and-measure decoy BB84)
---------------------------------------------
Every pulse falls in exactly one *class* ``(intensity k, Alice's basis a, Bob's basis b,
outcome o)`` where ``o`` is one of the six gate outcomes of
:mod:`quaykey.physics.detectors` (photon click on the detector of Alice's bit or on the other
one, dark-only click on either, double click, no click). Pulses are independent, so the class
counts of a block are multinomial with the exact class probabilities

``P(k, a, b, o) = p_k q_a q_b sum_s w_s P(o | scenario s)``,

where the scenarios ``s`` (one without an attack; a few with one, see
:mod:`quaykey.physics.attacks`) give the photon-number distribution reaching Bob and the
routing of absorbed photons. The sampler

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

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.physics._kernels import (
    detector_timeline,
    fill_bb84_events,
    sorted_random_subset,
    tally_bb84,
)
from quaykey.physics.attacks import Attack, honest_scenarios
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
    fire_patterns,
    outcome_probabilities,
)
from quaykey.physics.params import DecoySource, LinkParams, SPDCSource
from quaykey.physics.sources import pair_number_pgf
from quaykey.records import AliceRecord, BobRecord

__all__ = [
    "LinkSample",
    "SampleStats",
    "bb84_class_probabilities",
    "bbm92_pattern_probabilities",
    "simulate_link",
]

# fill_bb84_events hard-codes this numbering of the outcomes
assert (
    OUTCOME_PHOTON_CORRECT,
    OUTCOME_PHOTON_WRONG,
    OUTCOME_DARK_CORRECT,
    OUTCOME_DARK_WRONG,
    OUTCOME_DOUBLE,
) == (0, 1, 2, 3, 4)


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


def bb84_class_probabilities(
    params: LinkParams, eta_channel: float, attack: Attack | None = None
) -> NDArray[np.float64]:
    """Exact probability of every pulse class ``(k, a, b, outcome)`` of decoy BB84.

    Parameters
    ----------
    params
        Link parameters with a :class:`~quaykey.physics.params.DecoySource`.
    eta_channel
        Channel transmittance in [0, 1].
    attack
        Optional attack.

    Returns
    -------
    numpy.ndarray
        Shape ``(K, 2, 2, 6)``: intensity, Alice's basis (0 = X), Bob's basis, outcome
        (``OUTCOME_*`` of :mod:`quaykey.physics.detectors`). Sums to 1.

    Raises
    ------
    ValueError
        For a non-decoy source or a transmittance outside [0, 1].

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> p = bb84_class_probabilities(load_preset("gys", 50), 10 ** -1.05)
    >>> p.shape, round(float(p.sum()), 12)
    ((3, 2, 2, 6), 1.0)
    """
    source = params.source
    if not isinstance(source, DecoySource):
        raise ValueError("bb84_class_probabilities needs a DecoySource")
    if not (math.isfinite(eta_channel) and 0.0 <= eta_channel <= 1.0):
        raise ValueError(f"eta_channel must be in [0, 1], got {eta_channel!r}")
    qx = source.basis_probability_x
    q = (qx, 1.0 - qx)
    out = np.zeros((len(source.intensities), 2, 2, N_OUTCOMES))
    for k, pk in enumerate(source.probabilities):
        for match in (True, False):
            if attack is None:
                scen = honest_scenarios(params, k, eta_channel, match)
            else:
                scen = attack.scenarios(params, k, eta_channel, match)
            probs = np.zeros(N_OUTCOMES)
            for s in scen:
                probs += s.weight * outcome_probabilities(
                    s.photons, s.correct_routing, params.detector
                )
            for a in (0, 1):
                for b in (0, 1):
                    if (a == b) == match:
                        out[k, a, b] = pk * q[a] * q[b] * probs
    return out


def _bob_silence_routing(a: int, b: int, x: int, e_d: float) -> tuple[float, float]:
    """Probabilities that an absorbed Bob photon goes to detector 0 and 1, pair bit x."""
    if a == b:
        right = 1.0 - e_d
        return (right, 1.0 - right) if x == 0 else (1.0 - right, right)
    return (0.5, 0.5)


def bbm92_pattern_probabilities(params: LinkParams, eta_channel: float) -> NDArray[np.float64]:
    """Exact probability of each (Alice basis, Bob basis, firing pattern) of BBM92.

    Parameters
    ----------
    params
        Link parameters with an :class:`~quaykey.physics.params.SPDCSource`.
    eta_channel
        Transmittance of the whole channel in [0, 1]; each arm gets its square root.

    Returns
    -------
    numpy.ndarray
        Shape ``(2, 2, 16)``; the last index is a bit mask of the detectors that fired
        (bit 0: Alice's bit-0 detector, bit 1: Alice's bit-1, bit 2: Bob's bit-0, bit 3:
        Bob's bit-1). Sums to 1.

    Raises
    ------
    ValueError
        For a source that is not an SPDC source.

    Example
    -------
    >>> from quaykey.physics.params import SPDCSource
    >>> p = bbm92_pattern_probabilities(LinkParams(source=SPDCSource()), 0.1)
    >>> round(float(p.sum()), 12)
    1.0
    """
    source = params.source
    if not isinstance(source, SPDCSource):
        raise ValueError("bbm92_pattern_probabilities needs an SPDCSource")
    det = params.detector
    # source in the middle: each arm crosses half the loss (sqrt of the transmittance)
    eta_a = det.efficiency * math.sqrt(eta_channel)
    eta_b = det.efficiency * math.sqrt(eta_channel)
    p_dark = det.dark_count_probability
    qx = source.basis_probability_x
    q = (qx, 1.0 - qx)
    out = np.zeros((2, 2, 16))
    for a in (0, 1):
        for b in (0, 1):
            silence: dict[tuple[int, ...], float] = {}
            for size in range(5):
                for subset in combinations(range(4), size):
                    g = 0.0
                    for x in (0, 1):
                        alice_hit = eta_a if x in subset else 0.0
                        route = _bob_silence_routing(a, b, x, det.misalignment_error)
                        bob_hit = sum(eta_b * route[c - 2] for c in subset if c >= 2)
                        g += 0.5 * (1.0 - alice_hit) * (1.0 - bob_hit)
                    silence[subset] = (1.0 - p_dark) ** size * pair_number_pgf(
                        g, source.mean_pairs_per_pulse, source.statistics
                    )
            out[a, b] = q[a] * q[b] * fire_patterns(silence, 4)
    return out


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
    n_k = len(source.intensities)
    shape = (n_k, 2, 2, N_OUTCOMES)
    cell_k, cell_a, cell_b, cell_o = (x.ravel() for x in np.indices(shape))
    quiet = cell_o == OUTCOME_NONE
    all_counts = np.zeros(int(np.prod(shape)), dtype=np.int64)
    tables = [x.astype(np.uint8) for x in (cell_k, cell_a, cell_b, cell_o)]
    parts: list[tuple[NDArray[Any], ...]] = []
    quiet_probs = []
    seg_probs = [
        bb84_class_probabilities(params, seg.transmittance, attack).ravel() for seg in segments
    ]
    _check_expected_detections(
        sum(
            seg.n_pulses * float(p[~quiet].sum())
            for seg, p in zip(segments, seg_probs, strict=True)
        )
    )
    for seg, probs in zip(segments, seg_probs, strict=True):
        counts, seg_slots = _segment_events(rng, seg, probs, quiet)
        all_counts += counts
        parts.append((seg_slots, *fill_bb84_events(rng, np.where(quiet, 0, counts), *tables)))
        quiet_probs.append(probs[quiet])
    slots, intensity, a_basis, b_basis, alice_bit, bob_bit, flags = _join(parts)
    dead = dead_time_gates(params.detector, rate)
    p_ap = params.detector.afterpulse_probability
    if dead > 0 or p_ap > 0.0:
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
        intensity, a_basis, b_basis, alice_bit, flags = new_k, new_a, new_b, new_bit, new_flags

    protocol = source.protocol()
    pulses_per_k = all_counts.reshape(shape).sum(axis=(1, 2, 3))
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
    table = tally_bb84(intensity, a_basis, b_basis, alice_bit, bob_bit, flags, n_k)

    def per_k(arr: NDArray[np.int64]) -> dict[str, int]:
        return {name: int(v) for name, v in zip(source.names, arr, strict=True)}

    stats = SampleStats(
        n_pulses=n,
        duration_s=n / rate,
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
    no_outcome = np.full(cell_m.size, OUTCOME_NONE, dtype=np.uint8)
    parts: list[tuple[NDArray[Any], ...]] = []
    quiet_probs = []
    seg_probs = [bbm92_pattern_probabilities(params, s.transmittance).ravel() for s in segments]
    _check_expected_detections(
        sum(
            seg.n_pulses * float(p[~quiet].sum())
            for seg, p in zip(segments, seg_probs, strict=True)
        )
    )
    for seg, probs in zip(segments, seg_probs, strict=True):
        counts, seg_slots = _segment_events(rng, seg, probs, quiet)
        filled = fill_bb84_events(
            rng, np.where(quiet, 0, counts), tables[0], tables[1], tables[2], no_outcome
        )
        parts.append((seg_slots, *filled[:3]))
        quiet_probs.append(probs[quiet])
    union, mask, union_a, union_b = _join(parts)
    dead = dead_time_gates(params.detector, rate)
    p_ap = params.detector.afterpulse_probability
    protocol = source.protocol()
    qcell_index = np.flatnonzero(quiet)

    def party(
        shift: int, own_basis: NDArray[np.uint8], use_a: bool
    ) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
        f0 = ((mask >> shift) & 1).astype(np.uint8)
        f1 = ((mask >> (shift + 1)) & 1).astype(np.uint8)
        mine = (f0 | f1).astype(bool)
        slots, f0, f1, basis = union[mine], f0[mine], f1[mine], own_basis[mine]
        ap = np.zeros(slots.size, np.uint8)
        if dead > 0 or p_ap > 0.0:
            slots, f0, f1, src, ap = detector_timeline(rng, slots, f0, f1, n, dead, p_ap)
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
                    cells = qcell_index[
                        _conditional_quiet_cells(rng, slots[rest], segments, quiet_probs)
                    ]
                    new_basis[rest] = (cell_a if use_a else cell_b)[cells]
            basis = new_basis
        double = (f0 & f1).astype(bool)
        bits = f1.copy()
        nd = int(double.sum())
        if nd:
            bits[double] = rng.integers(0, 2, size=nd, dtype=np.uint8)
        flags: NDArray[np.uint8] = double.astype(np.uint8) | (ap << 2).astype(np.uint8)
        return slots, basis, bits, flags

    a_slots, a_bases, a_bits, a_flags = party(0, union_a, True)
    b_slots, b_bases, b_bits, b_flags = party(2, union_b, False)
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
        duration_s=n / rate,
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
