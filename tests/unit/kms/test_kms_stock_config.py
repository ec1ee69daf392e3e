"""The ``stock:`` settings of the KMS YAML: default off, per-node override, checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quaykey.kms.config import NetworkConfig, StockConfig


def net(stock=None, node_stock=None, **kw):
    nodes = {
        n: {"kme_id": n.upper(), "port": 1, "database_url": "sqlite://", "master_key_file": "k"}
        for n in "abcd"
    }
    if node_stock is not None:
        nodes["a"]["stock"] = node_stock
    base = {
        "nodes": nodes,
        "links": [["a", "b"], ["b", "c"], ["c", "d"]],
        "tenants": {"t": {}},
        "saes": {"s1": {"node": "a", "tenant": "t"}, "s2": {"node": "d", "tenant": "t"}},
        "pairs": [["s1", "s2"]],
    }
    if stock is not None:
        base["stock"] = stock
    base.update(kw)
    return NetworkConfig.model_validate(base)


def test_stock_is_off_by_default():
    s = net().settings_for("a")
    assert s.stock.enabled is False and s.stock.on_empty == "relay"


def test_node_stock_overrides_the_network_default():
    n = net(stock={"enabled": True, "target_keys": 5}, node_stock={"enabled": False})
    assert n.settings_for("a").stock.enabled is False
    assert n.settings_for("b").stock == StockConfig(enabled=True, target_keys=5)


def test_target_per_pair_wins_over_per_node_over_default():
    cfg = StockConfig(enabled=True, target_keys=7, targets={"d": 3, "s1>s2": 9})
    assert cfg.target_for("s1", "s2", "d") == 9
    assert cfg.target_for("s9", "s2", "d") == 3
    assert cfg.target_for("s3", "s4", "c") == 7


@pytest.mark.parametrize(
    ("stock", "needle"),
    [
        ({"enabled": True, "ttl_s": 3600.0}, "stock.ttl_s"),
        ({"enabled": True, "refill_batch": 1000}, "stock.refill_batch"),
    ],
)
def test_bad_stock_settings_name_the_parameter(stock, needle):
    with pytest.raises(ValueError, match=needle):
        net(stock=stock).settings_for("a")


@pytest.mark.parametrize(
    "stock",
    [
        {"target_keys": -1},
        {"targets": {"d": -2}},
        {"refill_interval_s": 0},
        {"on_empty": "wait"},
        {"enabled": True, "bogus": 1},
    ],
)
def test_invalid_stock_values_are_refused(stock):
    with pytest.raises(ValidationError):
        net(stock=stock)
