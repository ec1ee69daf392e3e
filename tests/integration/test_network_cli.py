"""The network and satellite commands end to end (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.cli.network_render import _trusted_cell

runner = CliRunner()

ROTTERDAM = """\
name: rotterdam-feasibility
defaults: {preset: backbone, attenuation_db_per_km: 0.25, fixed_loss_db: 2.0, route_factor: 1.3}
nodes:
  - {name: maasvlakte, label: "Maasvlakte II", lat_deg: 51.960, lon_deg: 4.020, kind: user}
  - {name: europoort, label: "Europoort relay", lat_deg: 51.950, lon_deg: 4.140}
  - {name: botlek, label: "Botlek relay", lat_deg: 51.880, lon_deg: 4.280}
  - {name: rotterdam, label: "Rotterdam city relay", lat_deg: 51.920, lon_deg: 4.480}
  - {name: pernis, label: "Pernis relay", lat_deg: 51.885, lon_deg: 4.390}
  - {name: port-authority, label: "Port authority", lat_deg: 51.906, lon_deg: 4.487, kind: user}
  - {name: customs, label: "Customs Rotterdam", lat_deg: 51.903, lon_deg: 4.495, kind: user}
links:
  - {a: maasvlakte, b: europoort}
  - {a: europoort, b: botlek}
  - {a: botlek, b: pernis}
  - {a: pernis, b: rotterdam}
  - {a: europoort, b: rotterdam, length_km: 32.0}
  - {a: port-authority, b: rotterdam}
  - {a: customs, b: rotterdam}
  - {a: customs, b: pernis}
"""


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_network_simulate_json_shape() -> None:
    out = _json(["network", "simulate", "--network", "beijing-shanghai", "--hours", "1", "--json"])
    assert out["simulated_s"] == 3600.0 and out["wall_s"] > 0
    for link in out["links"]:
        for key in ("name", "length_km", "secret_key_rate_bps", "qber", "pool_bits"):
            assert key in link
    for route in out["routes"]:
        for key in ("src", "dst", "capacity_bps", "hops"):
            assert key in route
        assert route["capacity_bps"] > 0


def test_network_preset_flag_is_the_former_name_of_network() -> None:
    new = _json(["network", "plan", "--network", "beijing-shanghai", "--json"])
    old = _json(["network", "plan", "--preset", "beijing-shanghai", "--json"])
    assert old == new and new["links"]


def test_network_simulate_with_micius_relays_through_the_satellite() -> None:
    out = _json(
        [
            "network",
            "simulate",
            "--network",
            "beijing-shanghai",
            "--with",
            "micius",
            "--hours",
            "8",
            "--start",
            "2016-12-19T12:00:00",
            "--json",
        ]
    )
    sat = {link["name"]: link for link in out["links"] if link["kind"] == "free-space"}
    assert sat["micius--xinglong"]["key_bits"] > 0 and sat["micius--nanshan"]["key_bits"] > 0
    route = next(r for r in out["routes"] if r["src"] == "xinglong")
    assert route["paths"][0] == ["xinglong", "micius", "nanshan"]
    assert route["trusted_nodes"] == ["micius"]
    assert route["delivered_bits"] > 0


def test_network_simulate_cut_and_eve_flags() -> None:
    out = _json(
        [
            "network",
            "simulate",
            "--hours",
            "3",
            "--json",
            "--cut",
            "sh-lingang--sh-pudong@1",
            "--eve",
            "sh-pudong--shanghai-customs:intercept-resend:0.3@1",
        ]
    )
    kinds = sorted(f["kind"] for f in out["faults"])
    assert kinds == ["cut", "eve"]
    status = {link["name"]: link["status"] for link in out["links"]}
    assert status["sh-pudong--sh-lingang"] == "cut"
    assert status["shanghai-customs--sh-pudong"] == "attacked"


def test_network_plan_user_topology(tmp_path: Path) -> None:
    f = tmp_path / "rotterdam.yaml"
    f.write_text(ROTTERDAM)
    out = _json(["network", "plan", "--topology", str(f), "--json"])
    assert {r["src"] for r in out["routes"]} >= {"maasvlakte", "port-authority"}
    for r in out["routes"]:
        rate = {link["name"]: link["analytic_key_rate_bps"] for link in out["links"]}
        assert rate[r["limiting_link"]] == pytest.approx(r["capacity_bps"])
        if not r["multipath"]:  # the relaying nodes of the path used
            assert r["trusted_nodes"] == r["path"][1:-1]
    mc = next(r for r in out["routes"] if {r["src"], r["dst"]} == {"port-authority", "customs"})
    assert mc["node_disjoint_paths"] == 1  # the port authority has a single access fibre


def test_network_map_png_and_offline_html(tmp_path: Path) -> None:
    png, page = tmp_path / "map.png", tmp_path / "map.html"
    result = runner.invoke(
        app,
        ["network", "map", "--network", "beijing-shanghai", "--out", str(png), "--html", str(page)],
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "<svg" in text and "http" not in text and "<script" not in text


def test_satellite_passes_json() -> None:
    out = _json(
        [
            "satellite",
            "passes",
            "--station",
            "xinglong",
            "--from",
            "2016-12-18",
            "--days",
            "3",
            "--json",
        ]
    )
    passes = out["passes"]
    # Only passes that reach the 10 deg QKD elevation are listed (8 of the 13 in 3 days).
    assert len(passes) >= 6
    assert all(p["max_elevation_deg"] >= 10 for p in passes)
    for p in passes:
        for key in (
            "rise_utc",
            "culmination_utc",
            "set_utc",
            "max_elevation_deg",
            "min_range_km",
            "night",
            "key_bits",
        ):
            assert key in p
        if not p["night"] or p["max_elevation_deg"] < 10:
            assert p["key_bits"] == 0
    assert any(p["key_bits"] > 0 for p in passes)


def test_satellite_passes_plot_and_errors(tmp_path: Path) -> None:
    png = tmp_path / "pass.png"
    result = runner.invoke(
        app, ["satellite", "passes", "--from", "2016-12-19", "--days", "1", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 1000
    bad = runner.invoke(app, ["satellite", "passes", "--station", "atlantis"])
    assert bad.exit_code == 2 and "station" in bad.output
    bad = runner.invoke(app, ["network", "simulate", "--cut", "nowhere--x@1", "--hours", "1"])
    assert bad.exit_code == 2 and "unknown link" in bad.output


def test_network_map_of_a_user_topology(tmp_path: Path) -> None:
    f = tmp_path / "rotterdam.yaml"
    f.write_text(ROTTERDAM)
    png = tmp_path / "rdam.png"
    result = runner.invoke(app, ["network", "map", "--topology", str(f), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plan_and_simulate_give_one_route_capacity() -> None:
    # One definition: the sum over the paths a demand uses of each path's bottleneck. The
    # bonded warehouse's demand is multipath (preset YAML); plan uses modelled link rates,
    # simulate measured ones: they agree within the blocks' sampling spread (1 %).
    route = "bonded-warehouse:shanghai-customs"
    plan = _json(["network", "plan", "--network", "beijing-shanghai", "--route", route, "--json"])
    sim = _json(["network", "simulate", "--hours", "2", "--json"])
    planned = plan["routes"][0]
    simulated = next(r for r in sim["routes"] if r["src"] == "bonded-warehouse")
    assert planned["multipath"] and simulated["multipath"]
    assert planned["capacity_bps"] == pytest.approx(planned["multipath_capacity_bps"])
    assert planned["capacity_bps"] > planned["single_path_capacity_bps"]
    assert simulated["capacity_bps"] == pytest.approx(planned["capacity_bps"], rel=0.01)


def test_fault_report_never_loses_negative_capacity() -> None:
    out = _json(
        ["network", "simulate", "--hours", "4", "--json", "--cut", "sh-lingang--sh-pudong@1",
         "--eve", "sh-pudong--shanghai-customs:intercept-resend:0.3@2"]
    )  # fmt: skip
    impacts = [r for f in out["faults"] for r in f["routes"]]
    assert impacts and all(r["capacity_lost_bps"] >= 0 for r in impacts)
    for r in impacts:
        assert r["capacity_lost_bps"] == pytest.approx(
            max(0.0, r["capacity_before_bps"] - r["capacity_after_bps"])
        )
    # routes that do not touch the cut lose nothing (modelled rates, no sampling noise)
    trunk = next(r for r in out["faults"][0]["routes"] if r["src"] == "customs-hq-beijing")
    assert trunk["capacity_lost_bps"] == 0.0


def test_demands_from_the_command_line_replace_the_presets() -> None:
    out = _json(
        ["network", "simulate", "--hours", "1", "--json",
         "--demand", "sipg-ops:shanghai-customs:64000"]
    )  # fmt: skip
    assert [(r["src"], r["dst"]) for r in out["routes"]] == [("sipg-ops", "shanghai-customs")]
    assert out["routes"][0]["delivered_bits"] > 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hours", "2", "--cut", "sh-lingang--sh-pudong@30"], "--cut"),
        (["--hours", "2", "--eve", "sh-pudong--shanghai-customs:intercept-resend:0.3@9"], "--eve"),
        (["--hours", "1", "--eve", "sh-pudong--shanghai-customs:teleport:0.3@0"], "--eve"),
        (["--hours", "1e6"], "--force"),
        (["--hours", "1", "--demand", "sipg-ops:atlantis:10"], "--demand"),
        (["--hours", "1", "--kme-config", "x.yaml"], "--kme-config"),
    ],
)
def test_simulate_refuses_bad_runs_naming_the_flag(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["network", "simulate", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def _entangled_example(tmp_path: Path) -> Path:
    assert runner.invoke(app, ["examples", "--out", str(tmp_path)]).exit_code == 0
    return tmp_path / "micius-entangled.yaml"


def test_entangled_example_routes_without_a_trusted_node(tmp_path: Path) -> None:
    topo = str(_entangled_example(tmp_path))
    plan = _json(["network", "plan", "--topology", topo, "--json"])
    (route,) = plan["routes"]
    assert route["path"] == ["delingha", "nanshan"]
    assert route["trusted_nodes"] == []
    ent = {r["name"]: r for r in plan["satellite_links"]}["delingha--nanshan"]
    assert ent["kind"] == "entangled" and ent["via"] == "micius"
    assert ent["day_key_bits"] > 0 and ent["windows_with_key"] >= 1
    sim = _json(["network", "simulate", "--topology", topo, "--hours", "24", "--json"])
    (route,) = sim["routes"]
    assert route["paths"] == [["delingha", "nanshan"]]
    assert route["trusted_nodes"] == []
    assert sim["links"][2]["key_bits"] == ent["day_key_bits"]
    table = runner.invoke(app, ["network", "simulate", "--topology", topo, "--hours", "24"])
    assert table.exit_code == 0 and "none (end to end)" in table.output


def test_entangled_example_cut_goes_through_micius_as_trusted_relay(tmp_path: Path) -> None:
    topo = str(_entangled_example(tmp_path))
    args = ["network", "simulate", "--topology", topo, "--hours", "24", "--json"]
    sim = _json([*args, "--cut", "delingha--nanshan@0"])
    (route,) = sim["routes"]
    assert route["paths"] == [["delingha", "micius", "nanshan"]]
    assert route["trusted_nodes"] == ["micius"]
    assert route["delivered_bits"] > 0
    bad = runner.invoke(app, [*args[:-1], "--fidelity", "exact"])
    assert bad.exit_code != 0 and "statistical fidelity only" in bad.output


def test_route_table_names_the_trusted_nodes() -> None:
    assert _trusted_cell([]) == "none (end to end)"
    assert _trusted_cell(["micius"]) == "micius"
    assert _trusted_cell([f"n{i}" for i in range(30)]) == "30: n0 ... n29"


def test_network_plan_rates_satellite_links_by_a_day_of_passes() -> None:
    out = _json(["network", "plan", "--network", "micius", "--json"])
    sat = {s["name"]: s for s in out["satellite_links"]}
    assert sat["micius--xinglong"]["day_key_bits"] > 0
    route = next(r for r in out["routes"] if (r["src"], r["dst"]) == ("xinglong", "nanshan"))
    assert route["path"] == ["xinglong", "micius", "nanshan"]
    assert route["trusted_nodes"] == ["micius"]
    slowest = min(sat["micius--xinglong"], sat["micius--nanshan"], key=lambda s: s["day_key_bits"])
    assert route["capacity_bps"] == pytest.approx(slowest["day_key_bits"] / 86400.0)
