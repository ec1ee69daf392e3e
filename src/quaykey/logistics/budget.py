"""Key budget: what each protection class costs for a traffic profile, against a route's key rate.

Key cost of one flow at ``r`` messages per second (``L`` mean message bytes):

``otp``
    One-time pad of the payload plus a one-time Wegman–Carter tag:
    ``r * (8 L + 256)`` bit/s (256 = :data:`quaykey.mac.ONE_TIME_KEY_BITS`, 32 bytes of MAC key
    per message).
``aes`` and ``hybrid``
    A 256-bit QKD key per rekey (AES-256-GCM; for ``hybrid`` the QKD key is combined with an
    ML-KEM-768 secret, which costs no QKD key). Each of the flow's ``channels`` sessions
    rolls its key after ``rekey_messages`` messages or ``rekey_interval_s`` seconds,
    whichever comes first: ``max(r / N, channels / T) * 256`` bit/s, plus
    ``r * 256`` when a one-time MAC is added to every message (``mac_per_message``).

A *plan* assigns a class to every message: ``otp``, ``aes`` and ``hybrid`` protect the whole
profile with one class; ``default`` uses each flow's default class (one-time pad only for
customs decisions and eBL title transfers in the shipped profiles); ``default+strategic``
adds one-time pad for every message about strategic cargo (the profile's cargo mix).

Rates are hourly (:meth:`quaykey.logistics.traffic.Flow.rate_hz`); the mean is the day's
average, the peak the busiest hour of the plan's total. A plan is *sustained* at the mean
(peak) when its key rate is at most the route's capacity. A stock of ``S`` bits covers a
deficit ``d = demand - capacity`` for ``S / d`` seconds; the day check runs the stock
(starting full, never above ``S``) through two days of the hourly cycle.

This module takes the route's capacity as a number: it does not import the network layer
(``quaykey apps budget`` asks the network planner and passes the figure in).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from quaykey.logistics.traffic import HOURS_PER_DAY, SECONDS_PER_HOUR, Flow, TrafficProfile
from quaykey.mac import ONE_TIME_KEY_BITS

__all__ = [
    "PLANS",
    "SCOPES",
    "KeyBudget",
    "KeyPolicy",
    "PlanBudget",
    "flow_key_bps",
    "key_budget",
]

PLANS: tuple[str, ...] = ("otp", "aes", "hybrid", "default", "default+strategic")
"""Plans budgeted, in table order."""

SCOPES: tuple[str, ...] = ("all", "route")
"""``all``: every flow of the profile crosses the route; ``route``: only flows between its ends."""

_PLAN_TEXT = {
    "otp": "one-time pad + one-time MAC on every message",
    "aes": "AES-256-GCM, QKD key rolled per policy",
    "hybrid": "AES-256-GCM under QKD key + ML-KEM-768, rolled per policy",
    "default": "each flow's default class",
    "default+strategic": "default classes, one-time pad for strategic cargo too",
}


@dataclass(frozen=True)
class KeyPolicy:
    """What a protection class spends key on.

    Attributes
    ----------
    rekey_messages
        Messages per session key (``None``: no count limit).
    rekey_interval_s
        Seconds per session key (``None``: no time limit).
    session_key_bits
        QKD key per rekey (AES-256: 256).
    mac_key_bits
        One-time MAC key per message (:data:`quaykey.mac.ONE_TIME_KEY_BITS`).
    mac_per_message
        Whether ``aes`` and ``hybrid`` messages also carry a one-time MAC.
    """

    rekey_messages: int | None = 1000
    rekey_interval_s: float | None = 60.0
    session_key_bits: int = 256
    mac_key_bits: int = ONE_TIME_KEY_BITS
    mac_per_message: bool = False

    def __post_init__(self) -> None:
        if self.rekey_messages is None and self.rekey_interval_s is None:
            raise ValueError("give rekey_messages or rekey_interval_s (or both)")
        if self.rekey_messages is not None and self.rekey_messages < 1:
            raise ValueError(f"rekey_messages must be >= 1, got {self.rekey_messages}")
        if self.rekey_interval_s is not None and not (
            math.isfinite(self.rekey_interval_s) and self.rekey_interval_s > 0
        ):
            raise ValueError(f"rekey_interval_s must be > 0, got {self.rekey_interval_s!r}")

    def rekeys_per_s(self, rate_hz: float, channels: int) -> float:
        """Session keys per second for ``rate_hz`` messages spread over ``channels`` sessions."""
        by_count = rate_hz / self.rekey_messages if self.rekey_messages else 0.0
        by_time = channels / self.rekey_interval_s if self.rekey_interval_s else 0.0
        return max(by_count, by_time)


def flow_key_bps(flow: Flow, cls: str, rate_hz: float, policy: KeyPolicy) -> float:
    """Key bit/s that ``flow`` consumes at ``rate_hz`` messages per second under class ``cls``.

    Examples
    --------
    >>> from quaykey.logistics.traffic import DiurnalShape, Endpoint, SizeModel
    >>> f = Flow("x", "app", "T", "s", (Endpoint("a", "b"),), 2.0,
    ...          DiurnalShape.flat(), SizeModel(100.0), channels=4)
    >>> flow_key_bps(f, "otp", 2.0, KeyPolicy())        # 2 * (800 + 256)
    2112.0
    >>> round(flow_key_bps(f, "aes", 2.0, KeyPolicy(rekey_interval_s=64.0)), 3)  # 4/64 * 256
    16.0
    """
    if cls == "otp":
        return rate_hz * (8.0 * flow.size.mean_bytes + policy.mac_key_bits)
    if cls in ("aes", "hybrid"):
        bits = policy.rekeys_per_s(rate_hz, flow.channels) * policy.session_key_bits
        if policy.mac_per_message:
            bits += rate_hz * policy.mac_key_bits
        return bits
    raise ValueError(f"class must be otp, aes or hybrid, got {cls!r}")


def _plan_flow_bps(
    flow: Flow, plan: str, rate_hz: float, policy: KeyPolicy, strategic_share: float
) -> tuple[float, float]:
    """(key bit/s, one-time-padded messages/s) of one flow under ``plan``."""
    if plan in ("otp", "aes", "hybrid"):
        return flow_key_bps(flow, plan, rate_hz, policy), rate_hz if plan == "otp" else 0.0
    if flow.protection == "otp":
        return flow_key_bps(flow, "otp", rate_hz, policy), rate_hz
    otp_share = strategic_share if plan == "default+strategic" and flow.carries_cargo else 0.0
    otp_hz = rate_hz * otp_share
    bulk = flow_key_bps(flow, flow.protection, rate_hz - otp_hz, policy)
    return flow_key_bps(flow, "otp", otp_hz, policy) + bulk, otp_hz


@dataclass(frozen=True)
class PlanBudget:
    """The key one plan consumes, and whether the route sustains it.

    Attributes
    ----------
    messages_per_s_mean, messages_per_s_peak
        Messages per second over the day, and in the busiest hour.
    otp_messages_per_s_mean
        Of which one-time padded, over the day.
    key_bps_mean, key_bps_peak, hourly_key_bps
        Key bit/s over the day, in the busiest hour, and in each hour from midnight.
    capacity_share_mean, capacity_share_peak
        Those as fractions of the route's capacity.
    sustained_mean, sustained_peak
        Whether the route makes at least that much key.
    drain_at_mean_s, drain_at_peak_s
        Seconds a full stock covers the deficit (``None``: no deficit).
    dry_after_s
        When the stock, starting full at midnight, first runs dry (``None``: never).
    stock_needed_bits
        Smallest stock that carries the daily cycle (``None``: the mean exceeds the route).
    top_flow
        The flow that consumes the most key in its busiest hour.
    """

    plan: str
    description: str
    messages_per_s_mean: float
    messages_per_s_peak: float
    otp_messages_per_s_mean: float
    key_bps_mean: float
    key_bps_peak: float
    hourly_key_bps: tuple[float, ...]
    capacity_share_mean: float
    capacity_share_peak: float
    sustained_mean: bool
    sustained_peak: bool
    drain_at_mean_s: float | None
    drain_at_peak_s: float | None
    dry_after_s: float | None
    stock_needed_bits: float | None
    top_flow: str


@dataclass(frozen=True)
class KeyBudget:
    """A profile's key budget on one route, per plan, with the verdict.

    Attributes
    ----------
    recommended
        The plan that fits: ``default+strategic`` if sustained over the day with the stock,
        else ``default``, else ``aes``; ``None`` if not even ``aes`` fits.
    """

    profile: str
    route: tuple[str, str]
    scope: str
    capacity_bps: float
    stock_bits: float
    policy: KeyPolicy
    flows: tuple[str, ...]
    plans: tuple[PlanBudget, ...]
    recommended: str | None

    def plan(self, name: str) -> PlanBudget:
        """The budget of plan ``name``."""
        for p in self.plans:
            if p.plan == name:
                return p
        raise KeyError(f"no plan {name!r}; plans: {', '.join(PLANS)}")

    @property
    def drain_order(self) -> tuple[str, ...]:
        """Plans whose peak exceeds the route, the one whose stock drains first first."""
        short = [p for p in self.plans if p.drain_at_peak_s is not None]
        return tuple(p.plan for p in sorted(short, key=lambda p: p.drain_at_peak_s or 0.0))

    @property
    def verdict(self) -> str:
        """One paragraph: what the route sustains and which plan fits."""
        otp, aes = self.plan("otp"), self.plan("aes")
        src, dst = self.route
        cap = f"{self.capacity_bps / 1e3:.3g} kbit/s"
        parts = [f"{src} <-> {dst} makes {cap} of key."]
        ratio = otp.key_bps_mean / self.capacity_bps if self.capacity_bps > 0 else math.inf
        otp_text = f"One-time pad for everything needs {otp.key_bps_mean / 1e3:.3g} kbit/s "
        otp_text += f"on average ({ratio:.2g}x the route), {otp.key_bps_peak / 1e3:.3g} at peak"
        if otp.drain_at_peak_s is not None:
            otp_text += f"; a {self.stock_bits / 1e6:.3g} Mbit stock drains in "
            otp_text += f"{_duration(otp.drain_at_peak_s)} at peak"
        parts.append(otp_text + ".")
        parts.append(
            f"AES-256-GCM or hybrid with QKD rekeying needs {aes.key_bps_peak / 1e3:.3g} kbit/s "
            f"at peak ({'sustained' if aes.sustained_peak else 'NOT sustained'})."
        )
        ok = [p.plan for p in self.plans if p.sustained_peak]
        mean_only = [p.plan for p in self.plans if p.sustained_mean and not p.sustained_peak]
        no = [p.plan for p in self.plans if not p.sustained_mean]
        parts.append(
            f"Sustained at mean and peak: {', '.join(ok) or 'none'}"
            + (f"; at the mean only: {', '.join(mean_only)}" if mean_only else "")
            + (f"; not sustained: {', '.join(no)}." if no else ".")
        )
        if self.recommended is None:
            parts.append("No plan fits: the route cannot even rekey AES at this policy.")
        else:
            rec = self.plan(self.recommended)
            parts.append(
                f"Plan that fits: {rec.plan} ({rec.description}): "
                f"{rec.key_bps_mean / 1e3:.3g} kbit/s mean, {rec.key_bps_peak / 1e3:.3g} peak, "
                f"{rec.otp_messages_per_s_mean:.3g} one-time-padded messages/s."
            )
            if self.recommended != "default+strategic":
                st = self.plan("default+strategic")
                text = (
                    f"Adding one-time pad for strategic cargo would need "
                    f"{st.key_bps_mean / 1e3:.3g} kbit/s mean, {st.key_bps_peak / 1e3:.3g} peak"
                )
                if st.stock_needed_bits is None:
                    text += ": more than the route makes in a day."
                elif self.capacity_bps > 0:
                    hours = st.stock_needed_bits / self.capacity_bps / SECONDS_PER_HOUR
                    text += (
                        f": it would fit with a stock of {st.stock_needed_bits / 1e6:.3g} Mbit "
                        f"({hours:.2g} h of the route's key) to carry the busy hours."
                    )
                parts.append(text)
        return " ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form."""
        return {
            "profile": self.profile,
            "route": {"src": self.route[0], "dst": self.route[1]},
            "scope": self.scope,
            "capacity_bps": self.capacity_bps,
            "stock_bits": self.stock_bits,
            "policy": asdict(self.policy),
            "flows": list(self.flows),
            "plans": [
                {
                    **{k: _finite_or_none(v) for k, v in asdict(p).items()},
                    "hourly_key_bps": list(p.hourly_key_bps),
                }
                for p in self.plans
            ],
            "recommended": self.recommended,
            "drain_order": list(self.drain_order),
            "verdict": self.verdict,
        }


def _finite_or_none(value: object) -> object:
    """JSON has no infinity: a share of a zero capacity becomes ``None``."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _drain_s(demand_bps: float, capacity_bps: float, stock_bits: float) -> float | None:
    deficit = demand_bps - capacity_bps
    return stock_bits / deficit if deficit > 0 else None


def _dry_after_s(hourly_bps: list[float], capacity_bps: float, stock_bits: float) -> float | None:
    """First time (s after midnight) the stock runs dry over two days, or None."""
    stock = stock_bits
    for i in range(2 * HOURS_PER_DAY):
        net = capacity_bps - hourly_bps[i % HOURS_PER_DAY]
        if net < 0 and stock + net * SECONDS_PER_HOUR < 0:
            return i * SECONDS_PER_HOUR + stock / -net
        stock = min(stock_bits, stock + net * SECONDS_PER_HOUR)
    return None


def _stock_needed_bits(hourly_bps: list[float], capacity_bps: float) -> float | None:
    """Smallest stock that carries the daily cycle: the largest deficit summed over any
    stretch of hours (Kadane over two days, so stretches across midnight count); None when
    the day's mean exceeds the capacity (no stock lasts)."""
    if sum(hourly_bps) / HOURS_PER_DAY > capacity_bps:
        return None
    best = run = 0.0
    for i in range(2 * HOURS_PER_DAY):
        run = max(0.0, run + (hourly_bps[i % HOURS_PER_DAY] - capacity_bps) * SECONDS_PER_HOUR)
        best = max(best, run)
    return best


def _plan_budget(
    flows: list[tuple[Flow, float]],
    plan: str,
    capacity_bps: float,
    stock_bits: float,
    policy: KeyPolicy,
    strategic_share: float,
) -> PlanBudget:
    hourly_bps, hourly_hz, otp_hz = [], [], 0.0
    per_flow_peak: dict[str, float] = {}
    for h in range(HOURS_PER_DAY):
        total = 0.0
        for f, weight in flows:
            bps, otp = _plan_flow_bps(f, plan, f.rate_hz(h) * weight, policy, strategic_share)
            total += bps
            otp_hz += otp / HOURS_PER_DAY
            per_flow_peak[f.name] = max(per_flow_peak.get(f.name, 0.0), bps)
        hourly_bps.append(total)
        hourly_hz.append(sum(f.rate_hz(h) * w for f, w in flows))
    mean_bps, peak_bps = sum(hourly_bps) / HOURS_PER_DAY, max(hourly_bps)

    def share(x: float) -> float:
        return x / capacity_bps if capacity_bps > 0 else math.inf

    return PlanBudget(
        plan=plan,
        description=_PLAN_TEXT[plan],
        messages_per_s_mean=sum(hourly_hz) / HOURS_PER_DAY,
        messages_per_s_peak=max(hourly_hz),
        otp_messages_per_s_mean=otp_hz,
        key_bps_mean=mean_bps,
        key_bps_peak=peak_bps,
        hourly_key_bps=tuple(hourly_bps),
        capacity_share_mean=share(mean_bps),
        capacity_share_peak=share(peak_bps),
        sustained_mean=mean_bps <= capacity_bps,
        sustained_peak=peak_bps <= capacity_bps,
        drain_at_mean_s=_drain_s(mean_bps, capacity_bps, stock_bits),
        drain_at_peak_s=_drain_s(peak_bps, capacity_bps, stock_bits),
        dry_after_s=_dry_after_s(hourly_bps, capacity_bps, stock_bits),
        stock_needed_bits=_stock_needed_bits(hourly_bps, capacity_bps),
        top_flow=max(per_flow_peak, key=lambda k: per_flow_peak[k]) if per_flow_peak else "",
    )


def key_budget(
    profile: TrafficProfile,
    capacity_bps: float,
    *,
    route: tuple[str, str] | None = None,
    scope: str = "all",
    stock_bits: float | None = None,
    policy: KeyPolicy | None = None,
) -> KeyBudget:
    """The key budget of ``profile`` on a route that makes ``capacity_bps`` of key.

    Parameters
    ----------
    profile
        The traffic.
    capacity_bps
        The route's key rate (bit/s), e.g. what ``quaykey network plan`` reports.
    route
        The route's two sites (default: the profile's ``default_route``).
    scope
        ``all``: the whole profile's traffic crosses the route (the sizing question);
        ``route``: only flows with both ends at the route's sites.
    stock_bits
        Key stock held at the route's ends (default: one hour of the route's key).
    policy
        Rekey and MAC policy (default :class:`KeyPolicy`).

    Returns
    -------
    KeyBudget
        One :class:`PlanBudget` per plan of :data:`PLANS`, and the recommended plan.

    Raises
    ------
    ValueError
        On a negative or non-finite capacity or stock, or an unknown scope.

    Examples
    --------
    >>> from quaykey.logistics.profiles import load_profile
    >>> b = key_budget(load_profile("ci"), 20_000.0)
    >>> round(b.plan("otp").key_bps_mean), b.plan("otp").sustained_mean
    (56826, False)
    >>> b.plan("aes").sustained_peak, b.recommended
    (True, 'default+strategic')
    """
    if not (math.isfinite(capacity_bps) and capacity_bps >= 0):
        raise ValueError(f"capacity_bps must be finite and >= 0, got {capacity_bps!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    stock = capacity_bps * SECONDS_PER_HOUR if stock_bits is None else float(stock_bits)
    if not (math.isfinite(stock) and stock >= 0):
        raise ValueError(f"stock_bits must be finite and >= 0, got {stock_bits!r}")
    pair = route or profile.default_route
    weighted = [(f, 1.0 if scope == "all" else f.pair_share(*pair)) for f in profile.flows]
    flows = [(f, w) for f, w in weighted if w > 0]
    if not flows:
        raise ValueError(
            f"scope {scope!r}: no flow of profile {profile.name!r} runs between "
            f"{pair[0]} and {pair[1]}"
        )
    pol = policy or KeyPolicy()
    plans = tuple(
        _plan_budget(flows, p, capacity_bps, stock, pol, profile.strategic_share) for p in PLANS
    )
    by_name = {p.plan: p for p in plans}
    recommended = next(
        (
            name
            for name in ("default+strategic", "default", "aes")
            if by_name[name].sustained_mean and by_name[name].dry_after_s is None
        ),
        None,
    )
    return KeyBudget(
        profile=profile.name,
        route=(pair[0], pair[1]),
        scope=scope,
        capacity_bps=capacity_bps,
        stock_bits=stock,
        policy=pol,
        flows=tuple(f.name for f, _ in flows),
        plans=plans,
        recommended=recommended,
    )
