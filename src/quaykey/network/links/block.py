"""THE link-block seam: a link's parameters, a time window and an attack -> a block outcome.

Every caller that turns a QKD link into key goes through :class:`LinkBlock`: the network
simulation (:mod:`quaykey.network.sim`), satellite passes and ``quaykey link run``
(through :class:`~quaykey.network.links.runner.LinkRunner`). Two implementations:

:class:`~quaykey.network.links.statistical.StatisticalBlock`
    No bits. Expected counts per intensity and basis from the physics layer
    (:mod:`quaykey.physics.counts`), drawn around (Poisson / binomial), and the Lim et al.
    (2014) finite-key length with the reconciler's measured leakage.
:class:`~quaykey.network.links.exact.ExactBlock`
    Real bits. The physics sampler produces Alice's and Bob's records, the post-processing
    pipeline turns them into two keys computed separately by the two parties.

The window's loss is the link's own (fibre) or a :class:`LossProfile` over the window (a
satellite pass). The block says why it gave no key (:attr:`BlockOutcome.abort_kind`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting
from quaykey.physics.params import LinkParams

__all__ = [
    "AbortKind",
    "Attack",
    "BlockOutcome",
    "BlockWindow",
    "Fidelity",
    "LinkBlock",
    "LossProfile",
]

Fidelity = Literal["statistical", "exact"]
AbortKind = Literal["", "qber", "no-key", "no-detections", "verification", "authentication"]
Attack = InterceptResend | PhotonNumberSplitting
"""An attack of :mod:`quaykey.physics.attacks` (``parse_attack`` builds one)."""


@dataclass(frozen=True)
class LossProfile:
    """Channel loss over a block window, sampled every ``step_s`` from the window's start.

    Linear interpolation between samples; the window lasts ``(len(loss_db) - 1) * step_s``.

    Example
    -------
    >>> p = LossProfile((30.0, 32.0, 34.0), step_s=10.0)
    >>> p.duration_s, p.at(5.0)
    (20.0, 31.0)
    """

    loss_db: tuple[float, ...]
    step_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss_db", tuple(float(x) for x in self.loss_db))
        if len(self.loss_db) < 2 or not (math.isfinite(self.step_s) and self.step_s > 0):
            raise ValueError("a loss profile needs two or more samples and step_s > 0")
        if not all(math.isfinite(x) and x >= 0 for x in self.loss_db):
            raise ValueError("loss_db samples must be finite and >= 0")

    @classmethod
    def from_samples(
        cls, loss_db: Sequence[float] | NDArray[np.float64], step_s: float
    ) -> LossProfile:
        """A profile from any sequence of samples."""
        return cls(tuple(float(x) for x in loss_db), float(step_s))

    @property
    def duration_s(self) -> float:
        """Length of the window the profile covers."""
        return (len(self.loss_db) - 1) * self.step_s

    def at(self, t_s: float) -> float:
        """Loss at ``t_s`` seconds into the window (held at the ends outside it)."""
        ts = np.arange(len(self.loss_db), dtype=np.float64) * self.step_s
        return float(np.interp(t_s, ts, np.asarray(self.loss_db)))


@dataclass(frozen=True)
class BlockWindow:
    """The stretch of link time one block covers: ``duration_s`` from ``start_s``."""

    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"block duration must be > 0 s, got {self.duration_s!r}")
        if not math.isfinite(self.start_s):
            raise ValueError(f"block start must be finite, got {self.start_s!r}")

    @property
    def end_s(self) -> float:
        """When the block ends."""
        return self.start_s + self.duration_s


@dataclass(frozen=True, eq=False)
class BlockOutcome:
    """One block of one link: counts, QBER, key (or the reason there is none).

    Key material (``alice_key``, ``bob_key``: bit arrays each party computed on its own)
    is never shown by ``repr``; statistical blocks carry none.

    Attributes
    ----------
    link
        Link name.
    end_s, duration_s
        When the block ended and how long it lasted.
    n_pulses
        Pulses sent.
    key_bits
        Final key bits (0 when aborted).
    qber
        Key-basis (X) error rate of the sifted bits.
    qber_z
        Test-basis (Z) error rate, the one the abort test uses.
    sifted_bits
        Sifted detections in both bases.
    test_bits
        Sifted detections in the test basis (Z), the sample behind ``qber_z``.
    abort_kind
        ``""`` (key made), ``"qber"``, ``"no-key"``, ``"no-detections"``,
        ``"verification"`` or ``"authentication"`` (a classical message failed its tag).
    reason
        Why it aborted, in words ("" otherwise). Says nothing about *why* the QBER is
        high: :func:`quaykey.network.links.runner.diagnose` compares it with the link's
        own expectation.
    report
        The post-processing pipeline's public report (exact blocks that made key).
    swapped_report
        The report of the second run with the bases swapped (the Z-basis key), when the
        link takes key from both bases and that run made key.
    """

    link: str
    end_s: float
    duration_s: float
    n_pulses: int
    key_bits: int
    qber: float
    qber_z: float
    sifted_bits: float
    test_bits: float = 0.0
    abort_kind: AbortKind = ""
    reason: str = ""
    alice_key: NDArray[np.uint8] | None = field(default=None, repr=False)
    bob_key: NDArray[np.uint8] | None = field(default=None, repr=False)
    report: Any = field(default=None, repr=False)
    swapped_report: Any = field(default=None, repr=False)
    simulation_s: float = 0.0

    @property
    def aborted(self) -> bool:
        """Whether the block made no key."""
        return self.abort_kind != ""

    @property
    def keys(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
        """``(alice_key, bob_key)`` of an exact block that made key, else ``None``."""
        if self.alice_key is None or self.bob_key is None:
            return None
        return self.alice_key, self.bob_key


class LinkBlock(Protocol):
    """Turns a link's parameters, a window and an optional attack into a block outcome."""

    fidelity: Fidelity

    def run(
        self,
        params: LinkParams,
        window: BlockWindow,
        rng: np.random.Generator,
        *,
        name: str = "",
        loss: LossProfile | None = None,
        attack: Attack | None = None,
    ) -> BlockOutcome:
        """Run one block.

        Parameters
        ----------
        params
            The link's parameters (resolved once, when the topology was built).
        window
            The block's start and duration.
        rng
            Randomness for the counts or the sampler and the public seed of
            post-processing.
        name
            Link name for the outcome.
        loss
            Loss over the window (a satellite pass); ``None``: the channel's own loss.
        attack
            Eavesdropper on this block.
        """
        ...


def n_pulses_in(params: LinkParams, duration_s: float) -> int:
    """Pulses the source sends in ``duration_s``.

    Example
    -------
    >>> from quaykey.physics.params import load_preset
    >>> n_pulses_in(load_preset("backbone", distance_km=1), 2.0)
    1250000000
    """
    return round(params.source.repetition_rate_hz * duration_s)
