"""Consecutive blocks of one link, and what a run of them adds up to.

:class:`LinkRunner` runs one link block after block through the seam
(:class:`~quaykey.network.links.block.LinkBlock`): the network simulation calls
:meth:`LinkRunner.run_block` as simulated time advances, ``quaykey link run`` calls
:meth:`LinkRunner.run` over a duration. :func:`summarise` adds the blocks up and
:func:`diagnose` tells a link too lossy or noisy for key from a link whose QBER is above
what its own parameters predict (an eavesdropper, or a fault).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quaykey.network.links.block import (
    Attack,
    BlockOutcome,
    BlockWindow,
    Fidelity,
    LinkBlock,
)
from quaykey.network.links.exact import ExactBlock
from quaykey.network.links.statistical import LinkModel, StatisticalBlock, link_model
from quaykey.physics.params import LinkParams
from quaykey.units import binary_entropy

__all__ = ["LinkRunner", "RunSummary", "block_rng", "diagnose", "make_block", "summarise"]


def block_rng(seed: int, link: str, block: int) -> np.random.Generator:
    """The randomness of block ``block`` of link ``link`` in a run seeded ``seed``.

    A :class:`numpy.random.SeedSequence` spawned by the link's name and the block's index:
    a block draws the same numbers whichever process runs it and whatever ran before it,
    so a run split over any number of workers gives the same result.

    Example
    -------
    >>> a = block_rng(1, "a--b", 3).integers(0, 2**32)
    >>> bool(a == block_rng(1, "a--b", 3).integers(0, 2**32))
    True
    >>> bool(a == block_rng(1, "a--b", 4).integers(0, 2**32))
    False
    """
    link_key = int.from_bytes(hashlib.sha256(link.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(link_key, block)))


def make_block(
    fidelity: Fidelity,
    reconciler: str = "cascade",
    qber_threshold: float = 0.11,
    preshared_auth_bits: int | None = None,
    auth_seed: int | None = None,
) -> LinkBlock:
    """The seam's implementation for ``fidelity`` (``statistical`` or ``exact``).

    Example
    -------
    >>> make_block("exact").fidelity
    'exact'
    """
    if fidelity == "statistical":
        return StatisticalBlock(reconciler=reconciler, qber_threshold=qber_threshold)
    if fidelity == "exact":
        block = ExactBlock(
            reconciler=reconciler, qber_threshold=qber_threshold, auth_seed=auth_seed
        )
        if preshared_auth_bits is not None:
            block.preshared_auth_bits = preshared_auth_bits
        return block
    raise ValueError(f"fidelity must be 'statistical' or 'exact', got {fidelity!r}")


@dataclass
class LinkRunner:
    """Runs consecutive blocks of one link through the seam.

    Parameters
    ----------
    name
        Link name.
    params
        The link's parameters (resolved once).
    block
        The seam's implementation (:func:`make_block`).
    block_duration_s
        Link time per block.
    rng
        Randomness of every block (unless ``block_seed`` is given).
    block_seed
        Seed of a run whose every block draws from its own :func:`block_rng`, keyed by the
        link's name and the block's index (the network simulation: results independent of
        how many workers run the blocks).

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> r = LinkRunner("a--b", load_preset("backbone", distance_km=40),
    ...                make_block("statistical"), 600.0, np.random.default_rng(1))
    >>> [o.end_s for o in r.run(1500.0)]
    [600.0, 1200.0, 1500.0]
    """

    name: str
    params: LinkParams
    block: LinkBlock
    block_duration_s: float = 600.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    next_start_s: float = 0.0
    blocks: int = 0
    block_seed: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.block_duration_s) and self.block_duration_s > 0):
            raise ValueError(f"block duration must be > 0 s, got {self.block_duration_s!r}")

    @property
    def fidelity(self) -> Fidelity:
        """The block implementation's fidelity."""
        return self.block.fidelity

    @property
    def n_pulses(self) -> int:
        """Pulses in a full block."""
        return round(self.params.source.repetition_rate_hz * self.block_duration_s)

    def run_block(
        self, attack: Attack | None = None, duration_s: float | None = None
    ) -> BlockOutcome:
        """Run the next block (``duration_s``: a shorter last block)."""
        window = BlockWindow(self.next_start_s, duration_s or self.block_duration_s)
        rng = (
            self.rng
            if self.block_seed is None
            else block_rng(self.block_seed, self.name, self.blocks)
        )
        out = self.block.run(self.params, window, rng, name=self.name, attack=attack)
        self.next_start_s = window.end_s
        self.blocks += 1
        return out

    def run(
        self,
        duration_s: float,
        attack: Attack | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[BlockOutcome]:
        """Blocks covering ``duration_s`` (the last one shorter if it does not divide).

        ``progress(done, total)`` is called after each block.
        """
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration must be > 0 s, got {duration_s!r}")
        total = max(1, math.ceil(duration_s / self.block_duration_s - 1e-9))
        out = []
        for i in range(total):
            length = min(self.block_duration_s, duration_s - i * self.block_duration_s)
            out.append(self.run_block(attack, length))
            if progress is not None:
                progress(i + 1, total)
        return out


@dataclass(frozen=True)
class RunSummary:
    """What consecutive blocks of one link added up to (no key material)."""

    keys_match: bool | None
    final_key_bits: int
    secret_key_rate_bps: float
    qber: float | None
    qber_x: float | None
    expected_qber: float | None
    reconciliation_efficiency: float | None
    aborted: bool
    abort_reason: str | None
    diagnosis: str
    blocks: int
    blocks_aborted: int
    block_abort_reasons: tuple[str, ...]
    sifted_key_bits: float
    leaked_bits: int
    round_trips: int
    auth_bits_used: int
    auth_bits_replenished: int
    stage_seconds: dict[str, float]
    #: Where no block made key because blocks this short cannot: the shortest block length
    #: (s) for which the link's model gives key (:func:`shortest_key_block`), else None.
    shortest_key_block_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        d = asdict(self)
        d["block_abort_reasons"] = list(self.block_abort_reasons)
        return d


def _weighted(pairs: Sequence[tuple[float, float]]) -> float | None:
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


#: Longest block :func:`shortest_key_block` considers: one day of link time.
_LONGEST_BLOCK_S = 86_400.0


def shortest_key_block(
    params: LinkParams, block_duration_s: float, reconciler: str = "cascade"
) -> float | None:
    """The shortest block (s) for which the link's model gives key, if blocks of
    ``block_duration_s`` give none: the finite-key length grows with the block.

    The model charges error correction what ``reconciler`` was measured to leak.

    Doubles the block up to a day, then narrows the first positive one down by bisection
    to within 1 %, rounded up to two significant figures. ``None`` if blocks of
    ``block_duration_s`` already give key, if no block up to a day does, or if the source
    has no counts model.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> p = load_preset("backbone", distance_km=50)
    >>> shortest_key_block(p, 0.1), shortest_key_block(p, 1.0), shortest_key_block(
    ...     load_preset("backbone", distance_km=300), 0.1)
    (0.68, None, None)
    """

    def gives_key(block_s: float) -> bool:
        return link_model(params, block_s, reconciler).key_rate_bps > 0

    try:
        if gives_key(block_duration_s):
            return None
    except ValueError:  # not a three-intensity decoy source: no counts model
        return None
    lo, hi = block_duration_s, 2.0 * block_duration_s
    while not gives_key(hi):
        if hi >= _LONGEST_BLOCK_S:
            return None
        lo, hi = hi, min(2.0 * hi, _LONGEST_BLOCK_S)
    while hi - lo > 0.01 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if gives_key(mid) else (mid, hi)
    digits = 1 - math.floor(math.log10(hi))
    rounded = math.ceil(hi * 10.0**digits) / 10.0**digits
    return float(f"{rounded:.12g}")


def diagnose(
    outcomes: Sequence[BlockOutcome],
    model: LinkModel | None,
    shortest_block_s: float | None = None,
) -> str:
    """Why a run made no key: loss and noise, blocks too short, or a QBER above the link's
    own expectation.

    The observed test-basis QBER is compared with the one the link's parameters predict
    (``model.qber_z``); more than ``max(0.02, 3 sigma)`` above it (binomial sigma of the
    observed test bits) is reported as possible eavesdropping. Otherwise, where the model
    gives no key at this block length, the run's blocks are too short if longer ones
    (``shortest_block_s``, see :func:`shortest_key_block`) would give key, and the link is
    too lossy or noisy for a key if none would.
    """
    if any(not o.aborted for o in outcomes):
        return "key made"
    if model is None:
        return (
            "no key; the counts model does not cover this source, so no expected QBER to judge by"
        )
    n_z = sum(o.test_bits for o in outcomes)
    observed = _weighted([(o.qber_z, o.test_bits) for o in outcomes])
    e = model.qber_z
    if observed is not None and n_z > 0:
        sigma = math.sqrt(max(e * (1 - e), 1e-12) / n_z)
        if observed - e > max(0.02, 3 * sigma):
            return (
                f"QBER {observed:.2%} is above the {e:.2%} expected from this link's own loss "
                "and noise: possible eavesdropping (or a fault on the link)"
            )
    seen = "no detections" if observed is None else f"observed QBER {observed:.2%}"
    if model.key_rate_bps <= 0 and shortest_block_s is not None:
        return (
            f"blocks of {model.block_duration_s:g} s are too short for a positive finite-key "
            f"length on this link ({seen}, {e:.2%} expected); blocks of about "
            f"{shortest_block_s:g} s or more would give key; not a sign of eavesdropping"
        )
    if model.key_rate_bps <= 0:
        return (
            f"the link is too lossy or noisy for a key ({model.loss_db:.1f} dB; expected "
            f"QBER {e:.2%}, {seen}); not a sign of eavesdropping"
        )
    return (
        f"too few detections per block for a positive finite-key length ({seen}, "
        f"{e:.2%} expected); longer blocks would give key"
    )


def _keys_match(outcomes: Sequence[BlockOutcome]) -> bool | None:
    pairs = [o.keys for o in outcomes if o.keys is not None]
    if not pairs:
        return None
    return all(np.array_equal(a, b) for a, b in pairs)


def summarise(
    outcomes: Sequence[BlockOutcome],
    params: LinkParams,
    block_duration_s: float,
    reconciler: str = "cascade",
) -> RunSummary:
    """Add up consecutive blocks of one link and say why there is no key, if there is none.

    The expectations it compares with are the link's model with ``reconciler``'s leak.
    """
    reports = [r for o in outcomes for r in (o.report, o.swapped_report) if r is not None]
    stage_seconds: dict[str, float] = {}
    for rep in reports:
        for k, v in rep.stage_seconds.items():
            stage_seconds[k] = stage_seconds.get(k, 0.0) + v
    stage_seconds["simulation"] = sum(o.simulation_s for o in outcomes)
    made = [o for o in outcomes if not o.aborted]
    aborts = tuple(f"block {i}: {o.reason}" for i, o in enumerate(outcomes) if o.aborted)
    final = sum(o.key_bits for o in made)
    ideal = sum(r.sifted_key_bits * float(binary_entropy(r.qber_x)) for r in reports)
    leaked = sum(r.ec_leaked_bits for r in reports)
    duration = sum(o.duration_s for o in outcomes)
    try:
        model: LinkModel | None = link_model(params, block_duration_s, reconciler)
    except ValueError:  # not a three-intensity decoy source: no counts model to compare with
        model = None
    longer = (
        shortest_key_block(params, block_duration_s, reconciler)
        if not made and model is not None and model.key_rate_bps <= 0
        else None
    )
    source = made or outcomes
    return RunSummary(
        keys_match=_keys_match(outcomes),
        final_key_bits=int(final),
        secret_key_rate_bps=final / duration if duration else 0.0,
        qber=_weighted([(o.qber_z, o.test_bits) for o in source]),
        qber_x=_weighted([(o.qber, o.sifted_bits - o.test_bits) for o in made]),
        expected_qber=None if model is None else model.qber_z,
        reconciliation_efficiency=leaked / ideal if ideal > 0 else None,
        aborted=not made,
        abort_reason=aborts[0] if aborts and not made else None,
        diagnosis=diagnose(outcomes, model, longer),
        shortest_key_block_s=longer,
        blocks=len(outcomes),
        blocks_aborted=len(aborts),
        block_abort_reasons=aborts,
        sifted_key_bits=float(sum(o.sifted_bits - o.test_bits for o in made)),
        leaked_bits=int(leaked),
        round_trips=sum(r.round_trips for r in reports),
        auth_bits_used=sum(r.auth_bits_used for r in reports),
        auth_bits_replenished=sum(r.auth_bits_replenished for r in reports),
        stage_seconds=stage_seconds,
    )


def joined_keys(outcomes: Sequence[BlockOutcome]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Alice's and Bob's keys of all blocks, each concatenated in block order."""
    pairs = [o.keys for o in outcomes if o.keys is not None]
    if not pairs:
        empty = np.zeros(0, dtype=np.uint8)
        return empty, empty.copy()
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
