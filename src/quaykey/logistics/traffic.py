"""Traffic profiles of port and customs applications, and a deterministic message generator.

A :class:`TrafficProfile` is data: a list of :class:`Flow` (one application message type
between named sites, with a mean rate, a 24-hour shape, a message-size model and a default
protection class) and the cargo mix (HS chapters) that decides which messages concern
strategic cargo. The shipped profiles (``shanghai-day``, ``ningbo-day``, ``ci``) live as YAML
under ``quaykey/logistics/profiles/`` with every figure's source; load them with
:func:`quaykey.logistics.profiles.load_profile`.

Time is seconds since local midnight (China Standard Time); the rate of a flow is constant
within each hour of the day (``mean_hz * shape.hourly[hour]``, the shape averaging to 1), so
the peak rate of a flow is ``mean_hz * max(shape.hourly)`` and the peak of a whole profile is
the busiest hour of the sum of its flows.

:meth:`TrafficProfile.messages` draws arrivals as a Poisson process per flow and hour
(non-homogeneous Poisson with a piecewise-constant rate), sizes from a log-normal with the
flow's mean and coefficient of variation, endpoints and cargo class from their shares. It
yields descriptors only (no payloads) in time order; the same ``rng`` seed gives the same
sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PROTECTION_CLASSES",
    "CargoClass",
    "DiurnalShape",
    "Endpoint",
    "Flow",
    "MessageDescriptor",
    "SizeModel",
    "TrafficProfile",
]

PROTECTION_CLASSES: tuple[str, ...] = ("otp", "aes", "hybrid")
"""The secure-messaging SDK's protection classes, cheapest in key last."""

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class DiurnalShape:
    """Relative rate in each hour of the day; the 24 factors average to exactly 1.

    Examples
    --------
    >>> s = DiurnalShape.peaked(peak_factor=3.0, peak_hours=(20, 21, 22, 23))
    >>> s.peak_factor, round(s.hourly[0], 3)
    (3.0, 0.6)
    >>> DiurnalShape.flat().peak_factor
    1.0
    """

    hourly: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hourly) != HOURS_PER_DAY:
            raise ValueError(f"shape needs 24 hourly factors, got {len(self.hourly)}")
        if any(not (math.isfinite(f) and f >= 0) for f in self.hourly):
            raise ValueError("shape factors must be finite and >= 0")
        if not math.isclose(sum(self.hourly) / HOURS_PER_DAY, 1.0, rel_tol=1e-9):
            raise ValueError("shape factors must average to 1 (use DiurnalShape.normalised)")

    @classmethod
    def normalised(cls, weights: tuple[float, ...]) -> DiurnalShape:
        """The shape of 24 non-negative ``weights``, scaled to average 1."""
        total = float(sum(weights))
        if not total > 0:
            raise ValueError("shape weights must have a positive sum")
        return cls(tuple(HOURS_PER_DAY * w / total for w in weights))

    @classmethod
    def flat(cls) -> DiurnalShape:
        """The same rate at every hour."""
        return cls((1.0,) * HOURS_PER_DAY)

    @classmethod
    def peaked(cls, peak_factor: float, peak_hours: tuple[int, ...]) -> DiurnalShape:
        """``peak_factor`` times the mean during ``peak_hours``, a constant level otherwise.

        The off-peak level is ``(24 - k * peak_factor) / (24 - k)`` for ``k`` peak hours, so
        the day still averages to the mean; it must not be negative.
        """
        hours = set(peak_hours)
        if not hours or any(not 0 <= h < HOURS_PER_DAY for h in hours):
            raise ValueError(f"peak_hours must be hours 0..23, got {sorted(hours)}")
        k = len(hours)
        if k == HOURS_PER_DAY:
            raise ValueError("peak_hours cannot cover the whole day")
        base = (HOURS_PER_DAY - k * peak_factor) / (HOURS_PER_DAY - k)
        if not (peak_factor >= 1.0 and base >= 0.0):
            raise ValueError(
                f"peak_factor {peak_factor} over {k} h does not fit in a day with mean 1"
            )
        return cls(tuple(peak_factor if h in hours else base for h in range(HOURS_PER_DAY)))

    @property
    def peak_factor(self) -> float:
        """The busiest hour's factor (peak rate / mean rate)."""
        return max(self.hourly)


@dataclass(frozen=True)
class SizeModel:
    """Message size: log-normal with mean ``mean_bytes`` and coefficient of variation ``cv``.

    ``cv = 0`` gives a fixed size. Sizes are rounded to whole bytes, at least 1.

    Examples
    --------
    >>> sizes = SizeModel(700.0, 0.3).draw(np.random.default_rng(1), 20_000)
    >>> bool(abs(sizes.mean() / 700 - 1) < 0.02)
    True
    """

    mean_bytes: float
    cv: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_bytes) and self.mean_bytes >= 1):
            raise ValueError(f"mean_bytes must be >= 1, got {self.mean_bytes!r}")
        if not (math.isfinite(self.cv) and self.cv >= 0):
            raise ValueError(f"cv must be >= 0, got {self.cv!r}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` sizes in bytes (int64)."""
        if self.cv == 0:
            return np.full(n, max(1, round(self.mean_bytes)), dtype=np.int64)
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_bytes) - sigma2 / 2
        raw = rng.lognormal(mu, math.sqrt(sigma2), n)
        return np.maximum(1, np.rint(raw)).astype(np.int64)


@dataclass(frozen=True)
class CargoClass:
    """A class of cargo by HS code, its share of cargo-bearing messages, and whether it is
    strategic (a candidate for one-time-pad protection)."""

    name: str
    hs_codes: tuple[str, ...]
    share: float
    strategic: bool
    source: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One (source site, destination site) pair of a flow and its share of the flow's messages.

    Site names are the SAE sites of the network preset (e.g. ``sipg-ops``).
    """

    src: str
    dst: str
    share: float = 1.0


@dataclass(frozen=True)
class Flow:
    """One application message type between named sites.

    Attributes
    ----------
    name
        Unique within the profile (e.g. ``coarri``).
    application
        e.g. ``terminal-edi``, ``customs-clearance``, ``reefer-telemetry``.
    message_type
        e.g. ``COARRI``, ``CUSDEC``, ``DCSA Reefer MEAS``.
    stream
        The demand stream of the reference budget (``port-edi-events``, ``customs``,
        ``reefer``, ``ebl``, ``analytics``).
    endpoints
        Where the messages go, with shares summing to 1.
    mean_hz
        Messages per second averaged over the day.
    shape
        Hourly rate factors.
    size
        Message size model.
    carries_cargo
        Whether each message concerns one consignment (and so has a cargo class).
    protection
        Default protection class (``otp``, ``aes`` or ``hybrid``).
    channels
        Independent partner sessions the flow is spread over; each rolls its own AES key.
    source
        Where the rate and size come from.
    """

    name: str
    application: str
    message_type: str
    stream: str
    endpoints: tuple[Endpoint, ...]
    mean_hz: float
    shape: DiurnalShape
    size: SizeModel
    carries_cargo: bool = False
    protection: str = "aes"
    channels: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_hz) and self.mean_hz >= 0):
            raise ValueError(f"flow {self.name!r}: mean_hz must be >= 0, got {self.mean_hz!r}")
        if self.protection not in PROTECTION_CLASSES:
            raise ValueError(
                f"flow {self.name!r}: protection must be one of "
                f"{', '.join(PROTECTION_CLASSES)}, got {self.protection!r}"
            )
        if self.channels < 1:
            raise ValueError(f"flow {self.name!r}: channels must be >= 1, got {self.channels}")
        if not self.endpoints or not math.isclose(
            sum(e.share for e in self.endpoints), 1.0, rel_tol=1e-9
        ):
            raise ValueError(f"flow {self.name!r}: endpoint shares must sum to 1")

    @property
    def peak_hz(self) -> float:
        """Rate in the flow's busiest hour."""
        return self.mean_hz * self.shape.peak_factor

    def rate_hz(self, hour: int) -> float:
        """Rate during hour ``hour`` (0..23) of the day."""
        return self.mean_hz * self.shape.hourly[hour % HOURS_PER_DAY]

    def pair_share(self, a: str, b: str) -> float:
        """Share of the flow's messages between sites ``a`` and ``b`` (either direction)."""
        return sum(e.share for e in self.endpoints if {e.src, e.dst} == {a, b})


@dataclass(frozen=True, slots=True)
class MessageDescriptor:
    """One message to send: when, what, between whom, how big; no payload."""

    time_s: float
    flow: str
    application: str
    message_type: str
    src: str
    dst: str
    size_bytes: int
    cargo_class: str | None
    strategic: bool
    protection: str


@dataclass(frozen=True)
class TrafficProfile:
    """A named set of flows, the cargo mix, the default route, and the assumptions behind them.

    Examples
    --------
    >>> f = Flow("cusres", "customs-clearance", "CUSRES", "customs",
    ...          (Endpoint("customs-hq-beijing", "sipg-ops"),), 2.0,
    ...          DiurnalShape.flat(), SizeModel(500.0), protection="otp")
    >>> p = TrafficProfile("tiny", (f,), default_route=("sipg-ops", "customs-hq-beijing"))
    >>> msgs = list(p.messages(0.0, 600.0, np.random.default_rng(7)))
    >>> abs(len(msgs) / 1200 - 1) < 0.15, msgs[0].protection
    (True, 'otp')
    """

    name: str
    flows: tuple[Flow, ...]
    cargo_classes: tuple[CargoClass, ...] = ()
    default_route: tuple[str, str] = ("", "")
    description: str = ""
    assumptions: tuple[str, ...] = ()
    parameters: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.flows]
        if len(set(names)) != len(names):
            raise ValueError(f"profile {self.name!r}: duplicate flow names")
        if self.cargo_classes and not math.isclose(
            sum(c.share for c in self.cargo_classes), 1.0, rel_tol=1e-9
        ):
            raise ValueError(f"profile {self.name!r}: cargo class shares must sum to 1")

    @property
    def strategic_share(self) -> float:
        """Share of cargo-bearing messages that concern strategic cargo."""
        return sum(c.share for c in self.cargo_classes if c.strategic)

    def flow(self, name: str) -> Flow:
        """The flow called ``name``."""
        for f in self.flows:
            if f.name == name:
                return f
        raise KeyError(f"profile {self.name!r} has no flow {name!r}")

    def mean_hz(self, stream: str | None = None) -> float:
        """Mean messages per second, of one stream or of all flows."""
        return sum(f.mean_hz for f in self.flows if stream is None or f.stream == stream)

    def hourly_hz(self, stream: str | None = None) -> tuple[float, ...]:
        """Messages per second in each hour of the day, of one stream or of all flows."""
        chosen = [f for f in self.flows if stream is None or f.stream == stream]
        return tuple(sum(f.rate_hz(h) for f in chosen) for h in range(HOURS_PER_DAY))

    def peak_hz(self, stream: str | None = None) -> float:
        """Messages per second in the busiest hour, of one stream or of all flows."""
        return max(self.hourly_hz(stream))

    def messages(
        self, start_s: float, duration_s: float, rng: np.random.Generator
    ) -> Iterator[MessageDescriptor]:
        """Timestamped message descriptors in ``[start_s, start_s + duration_s)``, in time order.

        Deterministic for a given ``rng`` state: arrivals are drawn hour segment by hour
        segment and flow by flow in profile order.
        """
        if not (math.isfinite(start_s) and start_s >= 0):
            raise ValueError(f"start_s must be >= 0, got {start_s!r}")
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        end_s = start_s + duration_s
        t = start_s
        while t < end_s:
            hour_index = math.floor(t / SECONDS_PER_HOUR)
            seg_end = min(end_s, (hour_index + 1) * SECONDS_PER_HOUR)
            yield from self._segment(t, seg_end, hour_index % HOURS_PER_DAY, rng)
            t = seg_end

    def _segment(
        self, a_s: float, b_s: float, hour: int, rng: np.random.Generator
    ) -> Iterator[MessageDescriptor]:
        drawn: list[tuple[float, Flow, int, Endpoint, CargoClass | None]] = []
        for f in self.flows:
            n = int(rng.poisson(f.rate_hz(hour) * (b_s - a_s)))
            if n == 0:
                continue
            times = a_s + rng.random(n) * (b_s - a_s)
            sizes = f.size.draw(rng, n)
            ends = rng.choice(len(f.endpoints), size=n, p=[e.share for e in f.endpoints])
            cargo = self._draw_cargo(f, rng, n)
            drawn.extend(
                (float(times[i]), f, int(sizes[i]), f.endpoints[ends[i]], cargo[i])
                for i in range(n)
            )
        drawn.sort(key=lambda row: row[0])
        for time_s, f, size, end, cargo_class in drawn:
            yield MessageDescriptor(
                time_s=float(time_s),
                flow=f.name,
                application=f.application,
                message_type=f.message_type,
                src=end.src,
                dst=end.dst,
                size_bytes=size,
                cargo_class=None if cargo_class is None else cargo_class.name,
                strategic=cargo_class is not None and cargo_class.strategic,
                protection=f.protection,
            )

    def _draw_cargo(self, f: Flow, rng: np.random.Generator, n: int) -> list[CargoClass | None]:
        if not (f.carries_cargo and self.cargo_classes):
            return [None] * n
        idx = rng.choice(len(self.cargo_classes), size=n, p=[c.share for c in self.cargo_classes])
        return [self.cargo_classes[i] for i in idx]
