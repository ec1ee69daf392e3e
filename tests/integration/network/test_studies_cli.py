"""`network cuts | sweep | feasibility` and the cluster flags, end to end (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.examples import write_examples
from quaykey.cli.main import app

runner = CliRunner()


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    write_examples(out)
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["network", "cuts", "--network", "beijing-shanghai", "--workers", "0"], "--workers"),
        (["network", "cuts", "--network", "national", "--scheduler", "host"], "--scheduler"),
        (["network", "sweep", "--network", "beijing-shanghai", "--param", "x"], "--param"),
        (["network", "sweep", "--network", "national", "--param", "detector.nope=1,2"], "--param"),
        (["network", "sweep", "--network", "national", "--param", "hop.length_km=0,10"], "--param"),
        (["network", "feasibility", "--network", "national", "--profile", "x"], "--profile"),
        (["network", "simulate", "--hours", "1", "--workers", "2", "--realtime", "6"], "realtime"),
    ],
)
def test_bad_study_flags_are_refused_before_any_work(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_feasibility_says_which_routes_carry_which_class(examples: Path) -> None:
    out = _json(["network", "feasibility", "--topology", str(examples / "port-los-angeles.yaml")])
    assert out["topology"] == "port-los-angeles" and len(out["routes"]) == 5
    for r in out["routes"]:
        # A class is carried exactly when the route makes its peak key rate.
        assert ("otp" in r["carries"]) == (r["capacity_bps"] >= r["otp_peak_bps"])
        assert ("aes" in r["carries"]) == (r["capacity_bps"] >= r["aes_peak_bps"])
    # customs-downtown hangs on one fibre: its cut leaves its routes with none.
    assert "customs-downtown--downtown-la" in out["single_points_of_failure"]
    cuts = _json(["network", "cuts", "--topology", str(examples / "port-los-angeles.yaml")])
    spof = {c["link"] for c in cuts["cuts"] if c["broken"]}
    assert spof == set(out["single_points_of_failure"])


def test_sweep_table_plot_and_json(examples: Path, tmp_path: Path) -> None:
    png = tmp_path / "hop.png"
    out = _json(["network", "sweep", "--topology", str(examples / "port-rotterdam.yaml"),
                 "--param", "hop.length_km=20:60:3", "--out", str(png)])  # fmt: skip
    assert [p["value"] for p in out["points"]] == [20.0, 40.0, 60.0]
    rates = [p["mean_link_rate_bps"] for p in out["points"]]
    assert rates[0] > rates[1] > rates[2] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
