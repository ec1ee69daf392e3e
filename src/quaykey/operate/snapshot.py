"""The contract's state JSON (:class:`~quaykey.operate.models.State`) from a live run."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quaykey.operate.live import Live

__all__ = ["build_state", "empty_apps"]


def empty_apps() -> dict[str, Any]:
    """The ``apps`` object when no applications run."""
    return {
        "clearances_per_min": 0.0,
        "customs_latency_ms": {"p50": None, "p99": None},
        "messages_by_class": {"otp": 0, "aes": 0, "hybrid": 0},
        "otp_queued": 0,
        "rejected": 0,
        "dead_lettered": 0,
        "ledger": {"height": 0, "verified": True},
        "budget": {"demand_bps": 0.0, "supply_bps": 0.0},
    }


def _nodes(live: Live) -> list[dict[str, Any]]:
    kme_nodes = set(live.kmes.nodes) if live.kmes is not None else set()
    out = []
    for n in live.topology.nodes:
        kme = None
        if n.name in kme_nodes:
            kme = "up" if live.kmes.is_up(n.name) else "down"
        out.append({
            "id": n.name, "label": n.label or n.name,
            "lat": float(n.lat_deg) if math.isfinite(n.lat_deg) else None,
            "lon": float(n.lon_deg) if math.isfinite(n.lon_deg) else None,
            "kind": n.kind, "kme": kme,
        })  # fmt: skip
    return out


def _links(live: Live) -> list[dict[str, Any]]:
    bb = live.backbone
    out = []
    for name, x in bb.links.items():
        out.append({
            "id": name, "a": x.a, "b": x.b, "kind": x.kind, "length_km": round(x.length_km, 3),
            "key_rate_bps": round(x.key_rate_bps, 3), "qber": round(x.qber, 6),
            "pool_bits": int(bb.pools.level(name)), "pool_capacity_bits": x.capacity_bits,
            "plob_ratio": round(x.key_rate_bps / x.plob_bps, 6) if x.plob_bps > 0 else 0.0,
            "alarm": bb.alarm_of(x), "quarantined": x.quarantined,
            "eavesdropper": float(x.eavesdropper), "cut": x.cut,
            "history": [{"t_sim": t, "key_rate_bps": round(r, 3), "qber": round(q, 6),
                         "pool_bits": p} for t, r, q, p in x.history],
        })  # fmt: skip
    return out


def _routes(live: Live) -> list[dict[str, Any]]:
    out = []
    for r in live.backbone.routes.values():
        out.append({
            "id": r.id, "src": r.src, "dst": r.dst, "path": list(r.path),
            "hops": max(len(r.path) - 1, 0), "capacity_bps": round(r.capacity_bps, 3),
            "bottleneck": r.bottleneck, "status": r.status,
        })  # fmt: skip
    return out


def build_state(live: Live) -> dict[str, Any]:
    """The whole snapshot, with ``emitted_unix_ms`` = now."""
    bb = live.backbone
    sat = live.satellite.state(bb.t_sim)
    nodes = _nodes(live)
    for n in nodes:
        if n["kind"] == "satellite":  # where the satellite is now
            n["lat"], n["lon"] = sat["lat"], sat["lon"]
    return {
        "t_sim": bb.t_sim,
        "speed": live.config.speed,
        "sim_utc": live.satellite.utc(bb.t_sim).isoformat().replace("+00:00", "Z"),
        "events_seq": live.events_seq,
        "running": live.running,
        "nodes": nodes,
        "links": _links(live),
        "routes": _routes(live),
        "satellite": sat,
        "kmes": live.kmes.state() if live.kmes is not None else [],
        "tenants": live.kmes.tenants() if live.kmes is not None else [],
        "apps": live.apps.state() if live.apps is not None else empty_apps(),
        "alarms": list(live.alarms),
        "actions": list(live.actions),
        "emitted_unix_ms": time.time() * 1000.0,
    }
