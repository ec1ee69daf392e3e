"""`quaykey link run`: simulation then post-processing end to end, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app

# Backbone at 20 km with unbiased bases and more decoys: 0.1 s of link time gives about
# 1.1e5 sifted key bits, enough for a positive Lim 2014 key at eps_sec = 1e-10.
BASE = [
    "link",
    "run",
    "--preset",
    "backbone",
    "--distance-km",
    "20",
    "--duration-s",
    "0.1",
    "--param",
    "source.basis_probability_x=0.5",
    "--param",
    "source.probabilities=[0.5, 0.3, 0.2]",
    "--seed",
    "1",
]

runner = CliRunner()


def _run(args: list[str], exit_code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_honest_link_produces_identical_keys(tmp_path: Path) -> None:
    out = _run([*BASE, "--json", "--out-keys", str(tmp_path)])
    assert out["keys_match"] is True and out["aborted"] is False
    bits = out["final_key_bits"]
    assert isinstance(bits, int) and bits > 1000
    assert out["secret_key_rate_bps"] == pytest.approx(bits / 0.1)
    assert 0.005 < out["qber"] < 0.03  # type: ignore[operator]
    assert 1.0 < out["reconciliation_efficiency"] < 1.3  # type: ignore[operator]
    assert set(out["stage_seconds"]) >= {"simulation", "sifting", "reconciliation"}  # type: ignore[arg-type]
    alice = (tmp_path / "alice.key").read_bytes()
    bob = (tmp_path / "bob.key").read_bytes()
    assert alice == bob and len(alice) == (bits + 7) // 8


def test_intercept_resend_aborts_with_reason_and_no_key(tmp_path: Path) -> None:
    args = [*BASE, "--eve", "intercept-resend:0.3", "--json", "--out-keys", str(tmp_path)]
    out = _run(args, exit_code=1)
    assert out["aborted"] is True and out["final_key_bits"] == 0
    assert out["keys_match"] is None  # no key to compare
    reason = str(out["abort_reason"])
    assert "no positive" in reason or "above the abort threshold" in reason
    # ~1 % expected from the link itself, +0.3/4 from the attack: told apart from noise.
    assert out["qber"] > 0.05 and out["expected_qber"] < 0.02  # type: ignore[operator]
    assert "possible eavesdropping" in str(out["diagnosis"])
    assert (tmp_path / "alice.key").read_bytes() == b""


def test_a_link_too_long_for_key_is_not_called_an_eavesdropper() -> None:
    # 300 km of backbone fibre (77 dB): dark counts and afterpulses dominate, the QBER is
    # ~50 % -- as the link's own parameters predict. No key, exit 1, no eavesdropping claim.
    args = ["link", "run", "--preset", "backbone", "--distance-km", "300", "--duration-s", "0.2"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["final_key_bits"] == 0 and out["expected_qber"] > 0.4
    assert "too lossy or noisy" in out["diagnosis"]
    assert "eavesdropping" not in result.stdout.replace("not a sign of eavesdropping", "")
    table = runner.invoke(app, args)
    assert table.exit_code == 1
    assert "possible eavesdropping" not in table.output and "too lossy" in table.output


def test_blocks_too_short_for_key_get_a_block_length_to_try() -> None:
    # 0.1 s blocks of a 50 km backbone link hold too few detections for a positive
    # finite-key length; the model gives key from about 0.68 s. The run says so, and
    # names the flag and a length with room for the spread of sampled blocks.
    args = ["link", "run", "--preset", "backbone", "--distance-km", "50", "--duration-s", "0.1"]
    result = runner.invoke(app, [*args, "--block-s", "0.1", "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    longer = out["shortest_key_block_s"]
    assert out["final_key_bits"] == 0 and 0.1 < longer < 10
    assert "too short" in out["diagnosis"] and "too lossy" not in out["diagnosis"]
    table = runner.invoke(app, [*args, "--block-s", "0.1"])
    assert table.exit_code == 1
    hint = table.output[table.output.index("try --block-s") :].split()[2]
    assert 1.4 * longer <= float(hint) <= 1.6 * longer
    # blocks of that length give key
    ok = runner.invoke(app, [*args[:-1], hint, "--block-s", hint, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["final_key_bits"] > 0


def test_a_run_estimated_to_take_too_long_needs_force() -> None:
    result = runner.invoke(app, [*BASE, "--duration-s", "1e6", "--json"])
    assert result.exit_code == 2
    assert "--duration-s" in result.output and "--force" in result.output
    assert "Traceback" not in result.output


def test_no_key_files_without_out_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _run([*BASE, "--json"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--reconciler", "turbo"], "--reconciler"),
        (["--duration-s", "-1"], "--duration-s"),
        (["--block-s", "0"], "--block-s"),
        (["--loss-db", "-3"], "--loss-db"),
        (["--eve", "teleport:0.3"], "--eve"),
        (["--param", "source.nonsense=1"], "source.nonsense"),
    ],
)
def test_bad_arguments_exit_2_naming_the_parameter(extra: list[str], needle: str) -> None:
    result = runner.invoke(app, [*BASE, *extra, "--json"])
    assert result.exit_code == 2
    assert needle in result.output


def test_table_output() -> None:
    result = runner.invoke(app, BASE)
    assert result.exit_code == 0, result.output
    assert "keys_match" in result.output and "final_key_bits" in result.output
