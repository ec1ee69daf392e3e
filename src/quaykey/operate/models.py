"""The state snapshot of ``quaykey up`` (``GET /api/state``, SSE ``state``) as pydantic models.

The field names and meanings are the dashboard contract's; the models are what the
server's OpenAPI schema (``/openapi.json``) publishes. No model carries key material: pools
and stocks are counts of bits, keys are never more than counted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActionEntry",
    "ActionResponse",
    "AlarmEntry",
    "AppsState",
    "Budget",
    "HistoryPoint",
    "KmeState",
    "LatencyMs",
    "LedgerState",
    "LinkState",
    "NodeState",
    "PassInfo",
    "RouteState",
    "SatelliteState",
    "State",
    "StockEntry",
    "TenantState",
]

AlarmKind = Literal["ok", "qber", "cut", "low-pool"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeState(_Model):
    """One node of the network."""

    id: str
    label: str
    lat: float | None
    lon: float | None
    kind: str = Field(description="trusted, user, ground-station, satellite")
    kme: Literal["up", "down"] | None = Field(description="null: no KME at this node")


class HistoryPoint(_Model):
    """One tick of a link's history."""

    t_sim: float
    key_rate_bps: float
    qber: float
    pool_bits: int


class LinkState(_Model):
    """One QKD link: its last block, its pool and its alarm state."""

    id: str
    a: str
    b: str
    kind: Literal["fibre", "satellite"]
    length_km: float
    key_rate_bps: float = Field(description="secret key rate of the last block (0 aborted)")
    qber: float = Field(description="key-basis QBER of the last block")
    pool_bits: int
    pool_capacity_bits: int
    plob_ratio: float = Field(description="key rate / PLOB bound of the link")
    alarm: AlarmKind
    quarantined: bool
    eavesdropper: float = Field(description="intercept-resend fraction, 0 = none")
    cut: bool
    history: list[HistoryPoint] = Field(description="last 60 ticks")


class RouteState(_Model):
    """The present route of one application pair of sites."""

    id: str
    src: str
    dst: str
    path: list[str]
    hops: int
    capacity_bps: float
    bottleneck: str | None
    status: Literal["ok", "rerouted", "down"]


class PassInfo(_Model):
    """A coming satellite pass over a ground station."""

    station: str
    aos_utc: str
    los_utc: str
    countdown_s: float
    max_elevation_deg: float


class SatelliteState(_Model):
    """Where the satellite is, its ground track and its next passes."""

    name: str
    lat: float
    lon: float
    alt_km: float
    ground_track: list[list[float]]
    next_passes: list[PassInfo]


class StockEntry(_Model):
    """Ready end-to-end key of one SAE pair at a KME, in bits."""

    pair: str
    bits: int


class KmeState(_Model):
    """One KME (ETSI GS QKD 014 over mTLS on loopback)."""

    node: str
    url: str
    up: bool
    keys_served: int
    errors: int
    stock: list[StockEntry]
    audit_ok: bool


class TenantState(_Model):
    """A KMS tenant's quota and what it used."""

    name: str
    quota_bits: int
    used_bits: int


class LatencyMs(_Model):
    """Percentiles in milliseconds (null before any sample)."""

    p50: float | None
    p99: float | None


class LedgerState(_Model):
    """The trade-record ledger."""

    height: int
    verified: bool


class Budget(_Model):
    """Key demand of the applications against key supply, bits per second."""

    demand_bps: float
    supply_bps: float


class AppsState(_Model):
    """The port and customs applications running over the KMEs."""

    clearances_per_min: float
    customs_latency_ms: LatencyMs
    messages_by_class: dict[str, int]
    otp_queued: int
    rejected: int
    dead_lettered: int
    ledger: LedgerState
    budget: Budget


class AlarmEntry(_Model):
    """An alarm (also sent as SSE ``alarm``)."""

    t_sim: float
    link: str
    kind: str
    message: str


class ActionEntry(_Model):
    """An operator action, as audited."""

    t_sim: float
    action: str
    args: dict[str, str | float]


class State(_Model):
    """The whole snapshot: ``GET /api/state`` and every SSE ``state`` event."""

    t_sim: float
    speed: float
    sim_utc: str
    events_seq: int
    running: bool
    nodes: list[NodeState]
    links: list[LinkState]
    routes: list[RouteState]
    satellite: SatelliteState
    kmes: list[KmeState]
    tenants: list[TenantState]
    apps: AppsState
    alarms: list[AlarmEntry]
    actions: list[ActionEntry]
    emitted_unix_ms: float


class ActionResponse(_Model):
    """Answer to an accepted operator action."""

    ok: bool
    action: str
    t_sim: float
