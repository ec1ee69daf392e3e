"""The campaign's report: a failing figure fails the run, bad options are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import quaykey.campaign as campaign
from quaykey.campaign import ScenarioResult, run_campaign
from quaykey.cli.campaign import BEGIN, END, markdown, write_doc


def _scenario(ok: bool):
    def run(size: str, seed: int, progress) -> ScenarioResult:
        res = ScenarioResult("fake", "A scenario")
        res.add("keys lost", 0 if ok else 3, "0", ok, 10)
        return res

    return run


def test_a_figure_that_misses_its_expectation_fails_the_report(monkeypatch) -> None:
    monkeypatch.setitem(campaign.SCENARIOS, "fake", _scenario(False))
    report = run_campaign(["fake"], "short", 1, "cmd")
    assert not report.ok
    assert report.to_dict()["scenarios"][0]["ok"] is False
    monkeypatch.setitem(campaign.SCENARIOS, "fake", _scenario(True))
    assert run_campaign(["fake"], "short", 1, "cmd").ok


def test_a_skipped_scenario_is_not_ok_but_does_not_fail_the_others() -> None:
    res = ScenarioResult("x", "X", skipped="mount refused")
    assert not res.ok


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--only", "nope"], "--only"), (["--size", "huge"], "--size"), (["--seed", "-1"], "--seed")],
)
def test_bad_options_are_named(args: list[str], flag: str) -> None:
    r = subprocess.run([sys.executable, "-m", "quaykey.cli.main", "campaign", "run", *args],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert flag in r.stderr


def test_doc_tables_are_written_between_the_markers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(campaign.SCENARIOS, "fake", _scenario(True))
    payload = run_campaign(["fake"], "short", 1, "quaykey campaign run --only fake").to_dict()
    doc = tmp_path / "r.md"
    doc.write_text(f"# title\n\n{BEGIN}\nold\n{END}\n\ntail\n", encoding="utf-8")
    write_doc(doc, [payload])
    text = doc.read_text()
    assert "old" not in text and text.startswith("# title") and text.endswith("tail\n")
    assert "| keys lost | 10 | 0 | 0 | yes |" in text
    assert markdown([payload]) in text
    json.dumps(payload)
