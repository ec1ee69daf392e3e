"""`quaykey satellite passes`: --tle, epoch warning, --min-elevation, --days limits, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.network.presets import load_satellite_preset

TLE = load_satellite_preset()["satellite"]["tle"][0]


def _run(args: list[str]) -> object:
    # CliRunner mixes stderr into output by default in older click; keep both readable.
    return CliRunner().invoke(app, ["satellite", "passes", *args])


def _json(args: list[str]) -> dict:
    r = _run([*args, "--json"])
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    out = r.stdout  # type: ignore[attr-defined]
    return json.loads(out[out.index("{") :])


def _assert_flag_error(args: list[str], flag: str) -> None:
    r = _run(args)
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    text = r.output  # type: ignore[attr-defined]
    # One message; rich wraps it at the test console's 80 columns, so unwrap first.
    message = " ".join(ln.strip() for ln in text.splitlines() if ln.strip())
    assert message.startswith("error: ") and flag in message, text
    assert message.count("error:") == 1
    assert "Traceback" not in text


@pytest.mark.parametrize("content", ["two", "three"])
def test_tle_file_in_two_and_three_line_format(tmp_path: Path, content: str) -> None:
    f = tmp_path / "micius.tle"
    body = f"{TLE['line1']}\n{TLE['line2']}\n"
    f.write_text(body if content == "two" else f"MICIUS\n{body}")
    from_file = _json(["--tle", str(f), "--from", "2016-12-19", "--days", "1"])
    packaged = _json(["--from", "2016-12-19", "--days", "1"])
    assert from_file["passes"] == packaged["passes"] and from_file["passes"]


def test_missing_or_malformed_tle_is_a_one_line_error(tmp_path: Path) -> None:
    _assert_flag_error(["--tle", str(tmp_path / "nope.tle")], "--tle")
    bad = tmp_path / "bad.tle"
    bad.write_text("this is not\na TLE\n")
    _assert_flag_error(["--tle", str(bad)], "--tle")
    half = tmp_path / "half.tle"
    half.write_text(TLE["line1"] + "\n")
    _assert_flag_error(["--tle", str(half)], "--tle")


def test_far_epoch_warns_once_on_stderr() -> None:
    r = _run(["--from", "2030-01-01", "--days", "1", "--json"])
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("warning:") and "TLE epoch" in lines[0]
    near = _run(["--from", "2016-12-19", "--days", "1", "--json"])
    assert "warning" not in near.stderr  # type: ignore[attr-defined]


def test_passes_below_min_elevation_are_not_listed() -> None:
    for min_el in (10.0, 40.0):
        out = _json(["--from", "2016-12-18", "--days", "3", "--min-elevation", str(min_el)])
        assert out["passes"]
        assert all(p["max_elevation_deg"] >= min_el for p in out["passes"])
    low = _json(["--from", "2016-12-18", "--days", "3", "--min-elevation", "0"])
    assert any(p["max_elevation_deg"] < 10.0 for p in low["passes"])


@pytest.mark.parametrize("value", ["-1", "91", "nan"])
def test_min_elevation_outside_0_90_is_an_error(value: str) -> None:
    _assert_flag_error(["--min-elevation", value], "--min-elevation")


def test_huge_days_is_refused_without_force_and_capped_with_it() -> None:
    _assert_flag_error(["--days", "1e6"], "--days")
    _assert_flag_error(["--days", "1e6", "--force"], "--days")  # beyond 100 years
    _assert_flag_error(["--days", "10000"], "--days")  # ~15 min of work: needs --force
    _assert_flag_error(["--days", "0"], "--days")


def test_other_flag_errors() -> None:
    _assert_flag_error(["--from", "yesterday"], "--from")
    _assert_flag_error(["--preset", "gys"], "--preset")
    _assert_flag_error(["--station", "atlantis"], "--station")
    _assert_flag_error(["--max-range-km", "-5"], "--max-range-km")


def test_long_search_shows_progress_and_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    import quaykey.cli.satellite as cli

    seen: list[float] = []
    real = cli._search

    def spy(*args: object) -> object:
        advance = args[-1]
        seen.append(0.0)

        def counting(d: float) -> None:
            seen.append(d)
            advance(d)  # type: ignore[operator]

        return real(*args[:-1], counting)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "PROGRESS_ABOVE_S", 0.0)
    monkeypatch.setattr(cli, "_search", spy)
    out = _json(["--from", "2016-12-18", "--days", "25"])
    assert out["passes"] and sum(seen) == pytest.approx(25.0)
    assert len(seen) >= 3  # advanced chunk by chunk


def test_micius_pass_figures_command() -> None:
    # The command docs/validation.md quotes for the Liao et al. (2017) pass.
    out = _json(["--from", "2016-12-19", "--days", "1", "--max-range-km", "1200"])
    best = max(out["passes"], key=lambda p: p["key_bits"])
    assert best["min_range_km"] == pytest.approx(645.0, abs=5.0)
    assert best["sifted_bits"] == pytest.approx(1_671_072, rel=0.10)
    assert best["key_bits"] == pytest.approx(300_939, rel=0.25)


def test_with_station_lists_shared_windows_with_two_photon_key() -> None:
    out = _json(["--station", "delingha", "--with-station", "nanshan", "--from", "2016-12-19",
                 "--days", "1"])  # fmt: skip
    assert out["protocol"] == "bbm92" and out["trusted_nodes"] == []
    assert out["link"]["receiver_aperture_m"] == [1.2, 1.2]
    night = [w for w in out["windows"] if w["night"]]
    assert out["windows"] and night
    for w in out["windows"]:
        assert all(e >= 10.0 - 1e-6 for e in w["profile"]["elevation_deg"][0])
        assert all(e >= 10.0 - 1e-6 for e in w["profile"]["elevation_deg"][1])
        assert len(w["profile"]["range_km"]) == 2
        assert w["coincidence_rate_hz"] > 0 and 0 < w["qber"] < 0.5
        assert w["asymptotic_key_bits"] >= w["finite_key_bits"] >= 0
    assert any(w["asymptotic_key_bits"] > 0 for w in night)


def test_with_station_errors() -> None:
    _assert_flag_error(["--station", "delingha", "--with-station", "delingha"], "--with-station")
    _assert_flag_error(["--station", "delingha", "--with-station", "atlantis"], "--with-station")
    _assert_flag_error(
        ["--station", "delingha", "--with-station", "nanshan", "--max-range-km", "1200"],
        "--with-station",
    )
