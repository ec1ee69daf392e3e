"""`quaykey link keyrate` and `quaykey link plot` through typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.physics.config import flatten_overrides, load_link_config, params_from_mapping
from quaykey.physics.params import load_preset

runner = CliRunner()

_JSON_KEYS = {
    "model",
    "distance_km",
    "secret_key_rate_per_pulse",
    "secret_key_rate_bps",
    "optimal_signal_intensity",
    "plob_bound_per_pulse",
    "tgw_bound_per_pulse",
}


def _stderr(result: object) -> str:
    text = getattr(result, "stderr", "") or getattr(result, "output", "")
    return " ".join(str(text).split())  # undo rich's line wrapping


def test_keyrate_json_has_unit_keys() -> None:
    result = runner.invoke(
        app, ["link", "keyrate", "--preset", "gys", "--distance-km", "50", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= _JSON_KEYS
    assert data["model"] == "asymptotic"
    assert data["distance_km"] == 50.0
    assert 2.0e-4 < data["secret_key_rate_per_pulse"] < 2.5e-4
    assert data["secret_key_rate_bps"] == pytest.approx(data["secret_key_rate_per_pulse"] * 1e9)
    assert data["secret_key_rate_per_pulse"] < data["plob_bound_per_pulse"]


def test_keyrate_finite_and_param_override() -> None:
    args = ["link", "keyrate", "--preset", "lim2014", "--distance-km", "50", "--json"]
    base = runner.invoke(app, [*args, "--model", "finite", "--block-bits", "1e6"])
    better = runner.invoke(
        app,
        [*args, "--model", "finite", "--block-bits", "1e6", "--param", "detector.efficiency=0.2"],
    )
    assert base.exit_code == 0, base.output
    assert better.exit_code == 0, better.output
    r0 = json.loads(base.stdout)["secret_key_rate_per_pulse"]
    r1 = json.loads(better.stdout)["secret_key_rate_per_pulse"]
    assert json.loads(base.stdout)["block_bits"] == 1e6
    assert r1 > r0  # twice the detector efficiency, more key


def test_keyrate_human_table() -> None:
    result = runner.invoke(app, ["link", "keyrate", "--preset", "gys", "--distance-km", "20"])
    assert result.exit_code == 0, result.output
    assert "secret key rate" in result.stdout
    assert "PLOB" in result.stdout


def test_keyrate_yaml_config(tmp_path: Path) -> None:
    cfg = tmp_path / "link.yaml"
    cfg.write_text("detector:\n  efficiency: 0.2\nchannel.attenuation_db_per_km: 0.2\n")
    result = runner.invoke(
        app,
        ["link", "keyrate", "--preset", "gys", "--distance-km", "50", "--config", str(cfg)],
    )
    assert result.exit_code == 0, result.output
    plain = runner.invoke(
        app,
        ["link", "keyrate", "--preset", "gys", "--distance-km", "50", "--json"],
    )
    configured = runner.invoke(
        app,
        [
            "link",
            "keyrate",
            "--preset",
            "gys",
            "--distance-km",
            "50",
            "--config",
            str(cfg),
            "--json",
        ],
    )
    rate_plain = json.loads(plain.stdout)["secret_key_rate_per_pulse"]
    rate_cfg = json.loads(configured.stdout)["secret_key_rate_per_pulse"]
    assert rate_cfg > 3 * rate_plain  # 4.4x the efficiency and 0.5 dB less loss


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        (["--param", "detector.efficiencyx=0.2"], "detector.efficiencyx"),
        (["--param", "detector.efficiency"], "--param"),
        (["--param", "detector.efficiency=1.5"], "efficiency"),
        (["--model", "magic"], "--model"),
        (["--model", "finite"], "--block-bits"),
        (["--model", "finite", "--block-bits", "-3"], "--block-bits"),
        (["--distance-km", "-5"], "--distance-km"),
        (["--preset", "nowhere"], "preset"),
        (["--config", "/nonexistent/link.yaml"], "--config"),
    ],
)
def test_keyrate_bad_input_exit_2(extra: list[str], name: str) -> None:
    args = ["link", "keyrate", "--preset", "gys", "--distance-km", "10", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    message = _stderr(result)
    assert name in message
    assert "Traceback" not in result.output


def test_keyrate_bad_config_group(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("detectors:\n  efficiency: 0.2\n")
    result = runner.invoke(app, ["link", "keyrate", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "detectors" in _stderr(result)


def test_plot_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "kr.png"
    result = runner.invoke(
        app,
        [
            "link",
            "plot",
            "--preset",
            "gys",
            "--out",
            str(out),
            "--max-distance-km",
            "60",
            "--block-bits",
            "1e8",
            "--no-mc",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        (["--out", "kr.pdf"], "--out"),
        (["--max-distance-km", "0"], "--max-distance-km"),
        (["--preset", "micius-2017"], "micius-2017"),
    ],
)
def test_plot_bad_input_exit_2(extra: list[str], name: str) -> None:
    result = runner.invoke(app, ["link", "plot", *extra])
    assert result.exit_code == 2, result.output
    assert name in _stderr(result)


def test_config_helpers() -> None:
    flat = flatten_overrides({"detector": {"efficiency": 0.2}, "security.epsilon_sec": 1e-9})
    assert flat == {"detector.efficiency": 0.2, "security.epsilon_sec": 1e-9}
    p = params_from_mapping({"source": {"intensities": [0.6, 0.1, 0.0]}}, load_preset("gys"))
    assert p.source.intensities == (0.6, 0.1, 0.0)
    q = load_link_config({"channel.attenuation_db_per_km": 0.18}, preset="gys", distance_km=10)
    assert q.channel.loss_db == pytest.approx(1.8)
    with pytest.raises(ValueError, match="group"):
        flatten_overrides({"sauce": {"x": 1}})
    with pytest.raises(ValueError, match="detector"):
        flatten_overrides({"detector": 0.2})


def test_param_list_given_with_commas_is_read_as_a_list() -> None:
    from typer.testing import CliRunner

    from quaykey.cli.main import app

    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "link",
            "keyrate",
            "--preset",
            "gys",
            "--distance-km",
            "50",
            "--json",
            "--param",
            "source.probabilities=0.6,0.2,0.2",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app,
        [
            "link",
            "keyrate",
            "--preset",
            "gys",
            "--distance-km",
            "50",
            "--param",
            "source.probabilities=0.5,0.2,0.2",
        ],
    )
    assert bad.exit_code == 2
    assert "probabilities must sum to 1" in bad.output
