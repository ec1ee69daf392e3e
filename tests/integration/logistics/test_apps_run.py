"""`quaykey apps run`: the ci profile's applications over real KMEs fed with exact link key.

Three KMEs (Shanghai -- Hefei -- Beijing) on loopback with mutual TLS; every link key is an
exact post-processed block; Shanghai <-> Beijing traffic is relayed through Hefei by the
KMEs; telemetry goes sensor -> MQTT -> the terminal's IoT gateway -> SDK. The checks: every
application exchanges messages; every injected tampered, replayed, reordered and wrongly
keyed envelope, and every tampered, replayed and unknown-device MQTT frame, is refused and
counted; no key ID is handed out twice;
link pools never go negative; with the stock drained, ``otp`` messages queue (never fall back
to ``aes``) and are flushed once new link key arrives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quaykey.cli.apps_run import (
    ExactFeeder,
    KmeLab,
    chain_for,
    chain_topology,
    profile_sites,
    run_profile,
)
from quaykey.cli.main import app
from quaykey.kms.client import KmeClient, KmeClientError
from quaykey.logistics.iot import start_embedded_broker
from quaykey.logistics.profiles import PROFILE_NAMES, load_profile
from quaykey.logistics.run import IOT_ATTACK_KINDS, AppRunner, RunConfig

PROFILE = load_profile("ci")
APPLICATIONS = {f.application for f in PROFILE.flows}
OTP_APPS = {f.application for f in PROFILE.flows if f.protection == "otp"}


def _pools_ok(pools: dict[str, Any]) -> bool:
    return all(
        v >= 0 for p in pools.values() for link in p["links"].values() for v in link.values()
    )


def test_apps_run_ci_every_application_exchanges_messages(tmp_path: Path) -> None:
    with start_embedded_broker("127.0.0.1", 0) as url:  # a broker of our own, by --mqtt-url
        args = ["apps", "run", "--profile", "ci", "--minutes", "0.5", "--speed", "6",
                "--prefill-s", "30", "--state", str(tmp_path / "state"), "--json",
                "--mqtt-url", url]  # fmt: skip
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["applications"]) == APPLICATIONS
    for name, classes in out["applications"].items():
        assert sum(c["received"] for c in classes.values()) > 0, name
        for cls, c in classes.items():
            assert c["rejected"] == 0 and c["received"] <= c["sent"], (name, cls)
    assert out["round_trips"]["CUSDEC->CUSRES"]["count"] > 0
    assert out["rejected_reasons"] == {}  # no attack injected: the receivers refused nothing
    # otp flows (customs decisions, eBL) never appear under a weaker class
    for name in OTP_APPS:
        assert set(out["applications"][name]) <= {"otp", "hybrid"}
    key = out["key_consumed"]
    assert key["keys"] == key["distinct_key_ids"] > 0
    assert out["pools_never_negative"] and _pools_ok(out["kme_pools"])
    assert out["network"]["fidelity"] == "exact"
    assert all(b > 0 for b in out["network"]["delivered_bytes"].values())
    for link, k in out["link_key"].items():  # the relay spent link key, never more than made
        assert 0 < k["used_bytes"] <= k["delivered_bytes"], (link, k)
    assert out["ledger"]["height"] >= 1 and out["ledger"]["verify_ok"]
    assert out["attacks"] == {}
    # telemetry went sensor -> MQTT (our broker) -> gateway -> SDK: one frame per message
    iot = out["iot"]
    assert iot["broker"] == url and iot["gateways"] == ["yangshan-terminal->sipg-ops"]
    reefer = out["applications"]["reefer-telemetry"]
    assert iot["frames_accepted"] == sum(c["received"] for c in reefer.values()) > 0
    assert iot["rejected"] == {} and iot["dead_letters"] == 0 and iot["lost"] == 0
    # the key stock of the remote pairs, both directions, served keys and stayed in bounds
    levels = out["stock"]["levels"]
    assert set(levels) == {"shanghai", "beijing"}
    assert set(levels["shanghai"]["pairs"]) == {"sipg-ops>customs-hq-beijing"}
    assert set(levels["beijing"]["pairs"]) == {"customs-hq-beijing>sipg-ops"}
    for st in levels.values():
        assert st["counters"]["taken_keys"] > 0
        assert all(0 <= p["ready"] <= p["target_keys"] for p in st["pairs"].values())


def test_apps_run_rejects_and_counts_every_injected_attack(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def keep(runner: AppRunner, lab: KmeLab, feeder: ExactFeeder) -> None:
        seen["runner"] = runner

    cfg = RunConfig(minutes=0.25, speed=5, seed=3, attack_every=4)
    out = run_profile(PROFILE, cfg, tmp_path, prefill_s=30, before=keep)
    expected = {"tampered": "authentication", "wrong_key": "authentication",
                "replayed": "replayed", "reordered": "reordered"}  # fmt: skip
    mqtt = {k: v for k, v in IOT_ATTACK_KINDS.items() if k in out["attacks"]}
    # an attack that could not be built because key ran short is counted apart, not sent
    skipped = out["attacks"].pop("skipped (key short)", None)
    assert skipped is None or skipped["accepted"] == 0
    assert set(out["attacks"]) == set(expected) | set(mqtt)
    assert "mqtt_tampered" in mqtt  # the first hostile frame at the gateway
    for kind, reason in (expected | mqtt).items():
        a = out["attacks"][kind]
        assert a["injected"] > 0 and a["accepted"] == 0, (kind, a)
        assert a["reasons"] == {reason: a["injected"]}, (kind, a)
    # the gateway counted and dead-lettered exactly the hostile frames, with their reasons
    iot = out["iot"]
    assert iot["rejected"] == {r: out["attacks"][k]["injected"] for k, r in mqtt.items()}
    assert iot["dead_letters"] == sum(iot["rejected"].values())
    for classes in out["applications"].values():  # the genuine traffic is all delivered
        assert all(c["rejected"] == 0 for c in classes.values())
    taken = seen["runner"].taken_ids
    assert taken and len(taken) == len(set(taken))
    assert out["pools_never_negative"]


def _drain(client: KmeClient, peer: str) -> int:
    """Take keys for ``peer`` until the KME answers 503 (no link key left to relay)."""
    drawn = 0
    for _ in range(10_000):
        try:
            drawn += len(client.get_key(peer, number=16, size=1024).keys)
        except KmeClientError as exc:
            assert exc.status_code == 503, exc
            return drawn
    raise AssertionError("the link stock never ran out")


def test_otp_queues_when_the_stock_is_drained_and_flushes_on_new_key(tmp_path: Path) -> None:
    sites, pairs = profile_sites(PROFILE)
    lab = KmeLab(tmp_path / "kms", sites, pairs)
    runner: AppRunner | None = None
    try:
        feeder = ExactFeeder(chain_topology(lab.chain), lab, 10.0, seed=5)
        feeder.prefill(20)
        # Drain Shanghai <-> Beijing in both directions, as other applications would.
        assert _drain(lab.client("sipg-ops"), "customs-hq-beijing") > 0
        assert _drain(lab.client("customs-hq-beijing"), "sipg-ops") > 0
        clients = {s: lab.client(s) for s in sites}
        carried: list[tuple[str, str]] = []

        def mqtt_stand_in(src: str, dst: str, envelope: bytes) -> bytes:
            carried.append((src, dst))
            return envelope

        runner = AppRunner(PROFILE, clients, tmp_path / "apps", RunConfig(0.25, speed=10),
                           telemetry_transport=mqtt_stand_in)  # fmt: skip
        out = runner.run()
        # telemetry went through the transport hook (the MQTT seam), and only telemetry
        reefer = out["applications"]["reefer-telemetry"]
        assert len(carried) == sum(c["sent"] for c in reefer.values()) > 0
        customs = out["applications"]["customs-clearance"]
        assert customs["otp"]["queued"] > 0 and out["otp_queue"]["waiting"] > 0
        assert "aes" not in customs and "aes" not in out["applications"]["ebl-title-transfer"]
        waiting = out["otp_queue"]["waiting"]
        # New link key arrives; the queue is sent in order, still as otp.
        for _ in range(6):
            feeder.step()
        flushed = runner.flush()
        assert flushed > 0
        after = runner.report(0.0)
        assert after["otp_queue"]["waiting"] == waiting - flushed
        assert (
            after["applications"]["customs-clearance"]["otp"]["received"]
            > customs["otp"]["received"]
        )
        assert "aes" not in after["applications"]["customs-clearance"]
        assert after["key_consumed"]["keys"] == after["key_consumed"]["distinct_key_ids"]
        assert _pools_ok(lab.pools())
    finally:
        if runner is not None:
            runner.close()
        lab.close()


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_shipped_profile_has_a_kme_for_each_site(name: str) -> None:
    sites, pairs = profile_sites(load_profile(name))
    assert pairs and all(a != b for a, b in pairs)
    chain = chain_for(sites)
    assert chain[-3:] == ("shanghai", "hefei", "beijing")
    assert ("ningbo" in chain) == (name == "ningbo-day")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--minutes", "0"], "--minutes"),
        (["--speed", "-1"], "--speed"),
        (["--start", "25:00"], "--start"),
        (["--block-s", "0"], "--block-s"),
        (["--attack-every", "-2"], "--attack-every"),
        (["--mqtt-url", "http://x:1"], "--mqtt-url"),
    ],
)
def test_apps_run_bad_flags_are_one_line_errors(args: list[str], flag: str) -> None:
    result = CliRunner().invoke(app, ["apps", "run", "--profile", "ci", *args])
    assert result.exit_code == 2
    assert flag in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_apps_run_over_the_beijing_shanghai_trunk_route(tmp_path: Path) -> None:
    """One KME per node of the preset's 33-hop route, statistical link key, fail closed."""
    args = ["apps", "run", "--profile", "ci", "--network", "beijing-shanghai", "--minutes",
            "0.25", "--speed", "6", "--prefill-s", "30", "--state", str(tmp_path / "s"),
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    route = out["network"]["route"]
    assert (route["src"], route["dst"], route["hops"]) == ("sipg-ops", "customs-hq-beijing", 33)
    assert out["network"]["fidelity"] == "statistical"
    assert len(out["kme_pools"]) == 34 and out["pools_never_negative"]
    assert len(out["link_key"]) == 33
    assert all(v["delivered_bytes"] > 0 for v in out["link_key"].values())
    customs = out["applications"]["customs-clearance"]
    assert "aes" not in customs  # otp and hybrid only, whatever the key supply did
    otp = customs["otp"]
    assert otp["sent"] + otp["queued"] + otp["refused"] > 0
