"""The link-block seam: both implementations, loss profiles, diagnosis, demands and faults."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from quaykey.errors import TopologyError
from quaykey.network.demands import Demand, demands_from_entries, parse_demand
from quaykey.network.faults import check_within_run, parse_cut, parse_eve
from quaykey.network.links import (
    BlockOutcome,
    BlockWindow,
    LinkRunner,
    LossProfile,
    block_key_bits,
    diagnose,
    link_model,
    make_block,
    shortest_key_block,
    summarise,
)
from quaykey.network.sim import NetworkSimulation, SimulationConfig
from quaykey.network.topology import topology_from_dict
from quaykey.physics.attacks import InterceptResend, PhotonNumberSplitting
from quaykey.physics.counts import counts_over_loss_profile, expected_counts
from quaykey.physics.params import load_preset


def _pair(**extra: object) -> dict[str, object]:
    nodes = [{"name": "a", "lat_deg": 0, "lon_deg": 0}, {"name": "b", "lat_deg": 0, "lon_deg": 0.3}]
    return {"nodes": nodes, "links": [{"a": "a", "b": "b"}], **extra}


def _small() -> object:
    # backbone at 20 km, 2 MHz and balanced bases: a 60 s exact block runs in about a second
    p = load_preset("backbone", distance_km=20.0)
    return p.with_overrides({"source.repetition_rate_hz": 2e6, "source.basis_probability_x": 0.5})


def test_statistical_block_over_a_constant_profile_is_the_fibre_block() -> None:
    # The same window with the channel's own loss and with a flat profile at that loss:
    # the expected counts are equal (trapezoid rule on a constant), so are the lengths.
    p = load_preset("micius-2017", loss_db=30.0)
    flat = LossProfile((30.0,) * 121, step_s=1.0)
    assert flat.duration_s == 120.0
    by_profile = counts_over_loss_profile(p, flat.loss_db, flat.step_s)
    by_channel = expected_counts(p, p.source.repetition_rate_hz * 120.0)
    np.testing.assert_allclose(by_profile.n_x, by_channel.n_x, rtol=1e-12)
    # One sampled block: within 3 % of the expected length (Poisson spread ~0.3 % here).
    out = make_block("statistical").run(
        p, BlockWindow(0.0, 120.0), np.random.default_rng(3), loss=flat
    )
    expected_bits, _ = block_key_bits(p, by_channel)
    assert not out.aborted and out.keys is None
    assert out.key_bits == pytest.approx(expected_bits, rel=0.03)


def test_loss_profile_rejects_bad_samples() -> None:
    with pytest.raises(ValueError, match="two or more"):
        LossProfile((30.0,), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        LossProfile((30.0, -1.0), 1.0)
    assert LossProfile((20.0, 40.0), 10.0).at(2.5) == pytest.approx(25.0)


def test_exact_block_gives_both_parties_equal_keys_near_the_model() -> None:
    p = _small()
    rng = np.random.default_rng(1)
    out = make_block("exact").run(p, BlockWindow(0.0, 60.0), rng)  # type: ignore[arg-type]
    assert out.keys is not None and out.report is not None
    alice, bob = out.keys
    assert alice is not bob and np.array_equal(alice, bob)
    assert out.key_bits == alice.size > 0
    model = link_model(p, 60.0)  # type: ignore[arg-type]
    # key-basis QBER within 10 % of the model's (a few thousand sifted bits: ~5 % spread)
    assert out.qber == pytest.approx(model.qber, rel=0.10)
    assert "alice_key" not in repr(out) and "bob_key" not in repr(out)


def test_both_fidelities_abort_under_full_intercept_resend_as_a_qber_abort() -> None:
    p = _small()
    ir = InterceptResend(1.0)
    for fidelity in ("statistical", "exact"):
        out = make_block(fidelity).run(  # type: ignore[arg-type]
            p,
            BlockWindow(0.0, 30.0),
            np.random.default_rng(2),
            attack=ir,  # type: ignore[arg-type]
        )
        assert out.abort_kind == "qber", (fidelity, out.reason)
        assert out.qber_z == pytest.approx(0.25, abs=0.03)
        assert "eavesdropping" not in out.reason  # the block states facts; diagnose judges


def test_pns_is_refused_by_the_counts_model_before_a_run_starts() -> None:
    with pytest.raises(ValueError, match="exact fidelity"):
        PhotonNumberSplitting(1.0).expected_error_probability(np.zeros(3))
    t = topology_from_dict(_pair())
    cfg = SimulationConfig(duration_s=3600, faults=(parse_eve("a--b:pns:1.0@0.5"),), demands=())
    with pytest.raises(ValueError, match="pns"):
        NetworkSimulation(t, cfg)


def _outcome(qber_z: float, test_bits: float, aborted: bool = True) -> BlockOutcome:
    return BlockOutcome(
        link="x", end_s=1.0, duration_s=1.0, n_pulses=10**6, key_bits=0 if aborted else 100,
        qber=qber_z, qber_z=qber_z, sifted_bits=2 * test_bits, test_bits=test_bits,
        abort_kind="qber" if aborted else "",
    )  # fmt: skip


def test_diagnosis_tells_loss_and_noise_from_an_eavesdropper() -> None:
    near = link_model(load_preset("backbone", distance_km=20.0), 10.0)
    far = link_model(load_preset("backbone", distance_km=300.0), 10.0)
    assert near.key_rate_bps > 0 and far.key_rate_bps == 0 and far.qber_z > 0.4
    # QBER where the link's own noise puts it: too lossy, whatever the threshold said
    assert "too lossy or noisy" in diagnose([_outcome(0.48, 200)], far)
    # 8.5 % on a link that should show ~1 %, with 10^4 test bits: far above 3 sigma
    assert "possible eavesdropping" in diagnose([_outcome(0.085, 1e4)], near)
    # a QBER within noise of the expectation but no key: too few detections, not Eve
    short = diagnose([_outcome(near.qber_z + 0.005, 50)], near)
    assert "too few detections" in short and "eavesdropping" not in short
    assert diagnose([_outcome(0.01, 1e4, aborted=False)], near) == "key made"


def test_blocks_too_short_for_key_are_told_from_a_link_that_gives_none() -> None:
    params = load_preset("backbone", distance_km=50.0)
    short = link_model(params, 0.1)
    assert short.key_rate_bps == 0
    longer = shortest_key_block(params, 0.1)
    assert longer is not None and 0.1 < longer < 10
    # the model gives key at the length returned, and none 3 % below it (1 % bisection,
    # rounded up to two significant figures)
    assert link_model(params, longer).key_rate_bps > 0
    assert link_model(params, 0.97 * longer).key_rate_bps == 0
    said = diagnose([_outcome(short.qber_z, 200)], short, longer)
    assert "too short" in said and f"{longer:g} s" in said and "too lossy" not in said
    assert "possible eavesdropping" not in said
    # blocks that already give key, and a link no block up to a day helps, get no length
    assert shortest_key_block(params, 10.0) is None
    far = load_preset("backbone", distance_km=300.0)
    assert shortest_key_block(far, 0.1) is None
    assert "too lossy or noisy" in diagnose([_outcome(0.48, 200)], link_model(far, 0.1), None)
    # summarise asks the model of the run's own reconciler
    for reconciler in ("cascade", "ldpc-lanes"):
        summary = summarise([_outcome(short.qber_z, 200)], params, 0.1, reconciler)
        assert summary.shortest_key_block_s == shortest_key_block(params, 0.1, reconciler)
    assert (
        link_model(params, 1.0, "ldpc-lanes").key_rate_bps
        < link_model(params, 1.0, "cascade").key_rate_bps
    )


def test_runner_runs_consecutive_windows_with_a_shorter_last_block() -> None:
    r = LinkRunner("a--b", load_preset("backbone", distance_km=40), make_block("statistical"), 4.0)
    outs = r.run(10.0)
    assert [(o.end_s, o.duration_s) for o in outs] == [(4.0, 4.0), (8.0, 4.0), (10.0, 2.0)]
    assert r.blocks == 3 and r.next_start_s == 10.0


def test_demands_from_yaml_and_command_line() -> None:
    d = parse_demand("sipg-ops:shanghai-customs:64000")
    assert d.rate_bps == pytest.approx(64000.0) and not d.multipath
    (y,) = demands_from_entries([{"src": "a", "dst": "b", "key_bits": 512, "interval_s": 30,
                                   "multipath": True, "priority": 2}])  # fmt: skip
    assert y == Demand("a", "b", 512, 30.0, True, 2)
    for bad in ("a:b", "a:b:x", "a:b:-5", "a:a:10", "a:b:10:sideways"):
        with pytest.raises(ValueError):
            parse_demand(bad)
    data = _pair(demands=[{"src": "a", "dst": "zz", "rate_bps": 10}])
    with pytest.raises(TopologyError, match="unknown node 'zz'"):
        topology_from_dict(data)
    data["demands"] = [{"src": "a", "dst": "b", "rate_bps": 10}]
    assert topology_from_dict(data).demands == (Demand.from_rate("a", "b", 10),)


def test_higher_priority_demands_are_served_first() -> None:
    t = topology_from_dict(_pair())
    low, high = Demand("a", "b", priority=0), Demand("b", "a", priority=5)
    sim = NetworkSimulation(t, SimulationConfig(duration_s=600, demands=(low, high)))
    assert sim.demands == [high, low]


def test_faults_name_no_flag_and_must_fall_inside_the_run() -> None:
    f = parse_cut("a--b@3")
    check_within_run(f, 3 * 3600.0)  # at the very end: still inside
    with pytest.raises(ValueError, match="after the end of the run") as info:
        check_within_run(f, 2 * 3600.0)
    assert "--" + "cut" not in str(info.value)
    with pytest.raises(ValueError, match="HOUR must be >= 0"):
        parse_cut("a--b@-1")
    assert replace(f, at_s=0.0).at_hour == 0.0
