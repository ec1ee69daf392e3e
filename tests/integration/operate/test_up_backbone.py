"""The live network of ``quaykey up`` in-process: blocks, bounded pools, alarms, restarts."""

from __future__ import annotations

from quaykey.network.presets import load_preset_topology
from quaykey.operate.backbone import QBER_ALARM, Backbone

PAIR = ("sipg-ops", "customs-hq-beijing")


def _backbone(capacity_bits: int = 1 << 26) -> Backbone:
    return Backbone(load_preset_topology("beijing-shanghai"), 60.0, [PAIR], 7, capacity_bits)


def test_honest_links_make_key_and_a_full_pool_discards_the_excess_counted() -> None:
    bb = _backbone(capacity_bits=10_000_000)
    for _ in range(4):
        assert bb.advance() == []
    for x in bb.links.values():
        assert x.key_rate_bps > 0 and x.qber_z < QBER_ALARM and not x.quarantined
        level = int(bb.pools.level(x.name))
        assert level <= x.capacity_bits
        assert x.key_bits == level + x.discarded_bits  # nothing spent: made = kept + discarded
    assert any(x.discarded_bits > 0 for x in bb.links.values())
    assert bb.routes[PAIR].status == "ok" and bb.routes[PAIR].path[0] == "sipg-ops"


def test_intercept_resend_raises_one_alarm_quarantines_and_reroutes() -> None:
    bb = _backbone()
    bb.advance()
    first = bb.routes[PAIR].path
    link = bb.topology.link_between(first[0], first[1]).name
    bb.links[link].eavesdropper = 1.0
    alarms = bb.advance()
    assert [(a.link, a.kind) for a in alarms] == [(link, "qber")]
    x = bb.links[link]
    assert x.quarantined and x.qber_z > 0.11 and x.key_rate_bps == 0
    assert bb.alarm_of(x) == "qber"
    r = bb.routes[PAIR]
    assert r.status == "rerouted" and r.path[1] != first[1]
    assert bb.advance() == []  # quarantined already: no second alarm
    x.eavesdropper, x.quarantined = 0.0, False
    bb.advance()
    assert bb.routes[PAIR].status == "ok"


def test_saved_state_restores_the_clock_pools_and_flags() -> None:
    bb = _backbone()
    for _ in range(3):
        bb.advance()
    name = next(iter(bb.links))
    bb.links[name].cut = True
    bb.advance()
    doc, hist = bb.saved(), bb.saved_history()
    again = _backbone()
    again.restore(doc)
    again.restore_history(hist)
    assert (again.tick, again.t_sim) == (bb.tick, bb.t_sim) == (4, 240.0)
    assert again.links[name].cut and again.alarm_of(again.links[name]) == "cut"
    for n in bb.links:
        assert again.pools.level(n) == bb.pools.level(n)
        assert len(again.links[n].history) == len(bb.links[n].history) == 4
    # the same tick again draws the same block (seeded by seed, tick and link)
    bb.advance()
    again.advance()
    assert [x.key_bits for x in again.links.values()] == [x.key_bits for x in bb.links.values()]
