"""``quaykey link simulate`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["link", "simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_output_has_the_promised_fields() -> None:
    code, out, _ = _run(
        "--preset", "gys", "--distance-km", "50", "--duration-s", "0.2", "--seed", "1", "--json"
    )
    assert code == 0
    data = json.loads(out)
    for key in (
        "n_pulses",
        "detections",
        "gain",
        "qber",
        "estimated_secret_key_rate_per_pulse",
        "wall_s",
        "effective_pulses_per_s",
    ):
        assert key in data
    assert data["n_pulses"] == 200_000_000
    assert set(data["gain"]) == {"signal", "decoy", "vacuum"}
    assert set(data["detections"]) == set(data["qber"]) == set(data["gain"])
    assert 0.03 < data["qber"]["signal"] < 0.037  # e_d = 3.3 % plus dark counts
    assert data["effective_pulses_per_s"] > 0


def test_same_seed_same_numbers() -> None:
    args = ("--distance-km", "80", "--duration-s", "0.05", "--seed", "4", "--json")
    a, b = json.loads(_run(*args)[1]), json.loads(_run(*args)[1])
    assert a["detections"] == b["detections"] and a["qber"] == b["qber"]


def test_eve_and_param_and_loss_db() -> None:
    code, out, _ = _run(
        "--distance-km",
        "50",
        "--duration-s",
        "0.2",
        "--eve",
        "intercept-resend:1",
        "--param",
        "detector.misalignment_error=0",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["attack"] == "intercept-resend:1"
    assert abs(data["qber"]["signal"] - 0.25) < 0.01
    code, out, _ = _run(
        "--preset", "micius-2017", "--loss-db", "30", "--duration-s", "0.5", "--json"
    )
    assert code == 0 and json.loads(out)["channel_transmittance"] == pytest.approx(1e-3)


def test_human_output_is_a_table() -> None:
    code, out, _ = _run("--distance-km", "50", "--duration-s", "0.05")
    assert code == 0
    assert "signal" in out and "decoy" in out and "effective pulses/s" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--duration-s", "-1"), "--duration-s"),
        (("--preset", "nosuch"), "nosuch"),
        (("--eve", "eavesdrop:0.3"), "--eve"),
        (("--eve", "pns:2"), "--eve"),
        (("--param", "source.probabilities=[0.5, 0.2, 0.2]"), "sum to 1"),
        (("--param", "detector.nosuch=1"), "--param"),
        (("--param", "detector.efficiency"), "--param"),
        (("--preset", "micius-2017", "--distance-km", "10"), "--loss-db"),
        (("--preset", "gys", "--loss-db", "10"), "--distance-km"),
        (("--distance-km", "50", "--duration-s", "1e6"), "--duration-s"),
    ],
)
def test_bad_input_exits_2_naming_the_parameter(args: tuple[str, ...], needle: str) -> None:
    code, out, err = _run(*args)
    assert code == 2
    text = " ".join((out + err).split())
    assert needle in text
    assert "Traceback" not in text
