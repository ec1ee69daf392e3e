"""`quaykey apps budget` end to end (typer CliRunner), and the profiles against the preset."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.logistics.profiles import PROFILE_NAMES, load_profile
from quaykey.network.presets import load_preset_topology

runner = CliRunner()


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def shanghai_budget() -> dict:  # type: ignore[type-arg]
    return _json(["apps", "budget", "--profile", "shanghai-day", "--json"])


def test_budget_json_fields(shanghai_budget: dict) -> None:  # type: ignore[type-arg]
    out = shanghai_budget
    assert out["profile"] == "shanghai-day" and out["preset"] == "beijing-shanghai"
    assert out["route"] == {"src": "sipg-ops", "dst": "customs-hq-beijing"}
    assert out["scope"] == "all"
    assert out["stock_bits"] == pytest.approx(3600 * out["capacity_bps"])
    assert out["route_plan"]["hops"] == 33
    assert out["route_plan"]["limiting_links"]
    plans = {p["plan"]: p for p in out["plans"]}
    assert set(plans) == {"otp", "aes", "hybrid", "default", "default+strategic"}
    for p in plans.values():
        for key in (
            "messages_per_s_mean",
            "messages_per_s_peak",
            "key_bps_mean",
            "key_bps_peak",
            "capacity_share_mean",
            "sustained_mean",
            "sustained_peak",
            "drain_at_peak_s",
        ):
            assert key in p
    assert isinstance(out["verdict"], str) and out["recommended"] in plans


def test_otp_for_everything_needs_more_than_the_route_gives(
    shanghai_budget: dict,  # type: ignore[type-arg]
) -> None:
    out = shanghai_budget
    otp = next(p for p in out["plans"] if p["plan"] == "otp")
    assert otp["key_bps_mean"] > out["capacity_bps"] and not otp["sustained_mean"]
    assert otp["drain_at_peak_s"] is not None and otp["drain_at_peak_s"] > 0
    aes = next(p for p in out["plans"] if p["plan"] == "aes")
    assert aes["sustained_peak"]


def test_route_capacity_is_what_network_plan_reports(
    shanghai_budget: dict,  # type: ignore[type-arg]
) -> None:
    plan = _json(
        [
            "network",
            "plan",
            "--preset",
            "beijing-shanghai",
            "--route",
            "sipg-ops:customs-hq-beijing",
            "--route",
            "bonded-warehouse:shanghai-customs",
            "--json",
        ]
    )
    routes = {(r["src"], r["dst"]): r for r in plan["routes"]}
    main = routes[("sipg-ops", "customs-hq-beijing")]
    assert shanghai_budget["capacity_bps"] == main["capacity_bps"]
    assert shanghai_budget["route_plan"]["limiting_links"] == [main["limiting_link"]]
    # A multipath demand of the preset keeps its multipath capacity here too.
    bonded = _json(
        ["apps", "budget", "--profile", "ci", "--route", "bonded-warehouse:shanghai-customs",
         "--json"]
    )  # fmt: skip
    assert (
        bonded["capacity_bps"] == routes[("bonded-warehouse", "shanghai-customs")]["capacity_bps"]
    )
    assert bonded["route_plan"]["multipath"] is True


def test_scope_route_and_policy_flags() -> None:
    out = _json(
        ["apps", "budget", "--profile", "ci", "--scope", "route", "--rekey-s", "0",
         "--rekey-messages", "10", "--mac", "--stock-bits", "1e6", "--json"]
    )  # fmt: skip
    assert out["flows"] == ["customs-declaration", "customs-decision", "ebl-transfer"]
    assert out["policy"]["rekey_interval_s"] is None and out["policy"]["mac_per_message"]
    assert out["stock_bits"] == 1e6


def test_table_and_markdown_outputs() -> None:
    table = runner.invoke(app, ["apps", "budget", "--profile", "ci"])
    assert table.exit_code == 0 and "default+strategic" in table.stdout
    md = runner.invoke(app, ["apps", "budget", "--profile", "ci", "--markdown"])
    assert md.exit_code == 0
    assert "| otp |" in md.stdout and "|---|" in md.stdout


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--profile", "rotterdam-day"], "--profile"),
        (["--profile", "ci", "--route", "sipg-ops"], "--route"),
        (["--profile", "ci", "--route", "sipg-ops:atlantis"], "--route"),
        (["--profile", "ci", "--scope", "everywhere"], "--scope"),
        (["--profile", "ci", "--stock-bits", "-1"], "--stock-bits"),
        (["--profile", "ci", "--rekey-s", "-1"], "--rekey-s"),
        (["--profile", "ci", "--rekey-s", "0", "--rekey-messages", "0"], "--rekey"),
        (["--profile", "ci", "--network", "atlantis"], "--network"),
        (
            ["--profile", "ci", "--scope", "route", "--route", "sipg-ops:shanghai-customs"],
            "--scope",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(args: list[str], flag: str) -> None:
    result = runner.invoke(app, ["apps", "budget", *args])
    assert result.exit_code == 2
    # One message (the test console is 80 columns wide and may wrap it).
    text = " ".join(result.output.split())
    assert text.startswith("error:") and text.count("error:") == 1, result.output
    assert flag in text and "Traceback" not in text


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profile_sites_are_nodes_of_the_preset(name: str) -> None:
    topo = load_preset_topology("beijing-shanghai")
    users = {n.name for n in topo.nodes if n.kind == "user"}
    p = load_profile(name)
    sites = {s for f in p.flows for e in f.endpoints for s in (e.src, e.dst)}
    assert sites <= users
    assert set(p.default_route) <= users
