"""`quaykey edi`: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.logistics.edifact import EXAMPLE_TYPES, parse_cusres

runner = CliRunner()


@pytest.mark.parametrize("message_type", EXAMPLE_TYPES)
def test_example_then_validate(tmp_path: Path, message_type: str) -> None:
    out = tmp_path / f"{message_type}.edi"
    result = runner.invoke(app, ["edi", "example", message_type.lower(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["edi", "validate", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{message_type}," in result.output and "valid" in result.output


def test_example_to_stdout() -> None:
    result = runner.invoke(app, ["edi", "example", "CODECO"])
    assert result.exit_code == 0
    assert result.output.startswith("UNA:+.? 'UNB+UNOC:3+")


def test_invalid_file_exits_1_and_lists_problems(tmp_path: Path) -> None:
    out = tmp_path / "bad.edi"
    runner.invoke(app, ["edi", "example", "CUSDEC", "--out", str(out)])
    out.write_bytes(out.read_bytes().replace(b"CSQU3054383", b"CSQU3054384"))
    result = runner.invoke(app, ["edi", "validate", str(out)])
    assert result.exit_code == 1
    assert "segment 12 (EQD)" in result.output and "[E200]" in result.output
    result = runner.invoke(app, ["edi", "validate", str(out), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["message_type"] == "CUSDEC" and report["segment_count"] == 28
    assert report["valid"] is False
    assert report["problems"][0]["position"] == 12


def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "very" / "long" / "path" / "that" / "does-not-exist.edi"
    result = runner.invoke(app, ["edi", "validate", str(missing)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: FILE") and str(missing) in lines[0]


def test_unknown_type_exits_2() -> None:
    result = runner.invoke(app, ["edi", "example", "INVOIC"])
    assert result.exit_code == 2
    assert "error: message type 'INVOIC' unknown" in result.output


def test_decide(tmp_path: Path) -> None:
    dec = tmp_path / "dec.edi"
    runner.invoke(app, ["edi", "example", "CUSDEC", "--out", str(dec)])
    res = tmp_path / "res.edi"
    result = runner.invoke(app, ["edi", "decide", str(dec), "--out", str(res)])
    assert result.exit_code == 0, result.output
    assert parse_cusres(res.read_bytes()).status == "release"
