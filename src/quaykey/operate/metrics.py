"""Prometheus metrics of ``quaykey up`` (``GET /metrics``), in their own registry.

Gauges are set from each tick's state (:meth:`UpMetrics.update`); counters and histograms
are counted where the thing happens (alarms, actions, KME requests, ticks). Counts only,
never key material.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["UpMetrics"]

_P = "quaykey_up_"


class UpMetrics:
    """The registry and its metrics."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.t_sim = Gauge(_P + "simulated_seconds", "Simulated time of the network", registry=r)
        self.key_rate = Gauge(_P + "link_key_rate_bps", "Secret key rate of the last block",
                              ["link"], registry=r)  # fmt: skip
        self.qber = Gauge(
            _P + "link_qber", "Key-basis QBER of the last block", ["link"], registry=r
        )
        self.pool = Gauge(_P + "link_pool_bits", "Key in the link's pool", ["link"], registry=r)
        self.discarded = Gauge(_P + "link_discarded_bits", "Key discarded by a full link pool",
                               ["link"], registry=r)  # fmt: skip
        self.quarantined = Gauge(_P + "link_quarantined", "1 while the link is quarantined",
                                 ["link"], registry=r)  # fmt: skip
        self.route_capacity = Gauge(_P + "route_capacity_bps", "Bottleneck key rate of a route",
                                    ["route"], registry=r)  # fmt: skip
        self.kme_up = Gauge(_P + "kme_up", "1 while the KME serves", ["node"], registry=r)
        self.kme_keys = Gauge(_P + "kme_keys_served", "Keys the KME delivered to SAEs",
                              ["node"], registry=r)  # fmt: skip
        self.kme_errors = Gauge(_P + "kme_errors", "Requests the KME refused or failed",
                                ["node"], registry=r)  # fmt: skip
        self.kme_stock = Gauge(_P + "kme_stock_bits", "Ready end-to-end key of a pair",
                               ["node", "pair"], registry=r)  # fmt: skip
        self.kme_requests = Counter(_P + "kme_requests", "ETSI 014 requests of the applications",
                                    ["node", "outcome"], registry=r)  # fmt: skip
        self.kme_latency = Histogram(
            _P + "kme_request_seconds", "ETSI 014 request latency seen by the applications",
            ["node"], registry=r,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
        )  # fmt: skip
        self.feed_bytes = Gauge(_P + "feed_deposited_bytes", "Link key deposited in the KMEs",
                                ["pair"], registry=r)  # fmt: skip
        self.feed_discarded = Gauge(_P + "feed_discarded_bytes",
                                    "Link key not deposited: KME pool full or KME down",
                                    ["pair"], registry=r)  # fmt: skip
        self.app_messages = Gauge(_P + "app_messages", "Messages delivered, by protection class",
                                  ["protection"], registry=r)  # fmt: skip
        self.app_rejected = Gauge(_P + "app_rejected", "Messages rejected", registry=r)
        self.otp_queued = Gauge(_P + "app_otp_queued", "otp messages waiting for key", registry=r)
        self.ledger_height = Gauge(_P + "ledger_height", "Trade-record ledger height", registry=r)
        self.alarms = Counter(_P + "alarms", "Alarms raised", ["kind"], registry=r)
        self.actions = Counter(_P + "actions", "Operator actions", ["action"], registry=r)
        self.tick_seconds = Histogram(
            _P + "tick_seconds", "Wall time of one tick", registry=r,
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
        )  # fmt: skip

    def update(self, state: dict[str, Any], live: Any) -> None:
        """Set the gauges from a state snapshot."""
        self.t_sim.set(state["t_sim"])
        for x in state["links"]:
            self.key_rate.labels(link=x["id"]).set(x["key_rate_bps"])
            self.qber.labels(link=x["id"]).set(x["qber"])
            self.pool.labels(link=x["id"]).set(x["pool_bits"])
            self.quarantined.labels(link=x["id"]).set(int(x["quarantined"]))
            self.discarded.labels(link=x["id"]).set(live.backbone.links[x["id"]].discarded_bits)
        for r in state["routes"]:
            self.route_capacity.labels(route=r["id"]).set(r["capacity_bps"])
        for k in state["kmes"]:
            self.kme_up.labels(node=k["node"]).set(int(k["up"]))
            self.kme_keys.labels(node=k["node"]).set(k["keys_served"])
            self.kme_errors.labels(node=k["node"]).set(k["errors"])
            for s in k["stock"]:
                self.kme_stock.labels(node=k["node"], pair=s["pair"]).set(s["bits"])
        if live.kmes is not None:
            for pair, (dep, disc) in live.kmes.feed_totals().items():
                self.feed_bytes.labels(pair=pair).set(dep)
                self.feed_discarded.labels(pair=pair).set(disc)
        apps = state["apps"]
        for cls, n in apps["messages_by_class"].items():
            self.app_messages.labels(protection=cls).set(n)
        self.app_rejected.set(apps["rejected"])
        self.otp_queued.set(apps["otp_queued"])
        self.ledger_height.set(apps["ledger"]["height"])

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
