"""Every bad input the docs list gets ONE line ``error: ...`` naming the flag, before any work.

Each case runs the real ``quaykey`` entry point in a fresh process (as a user would), from a
temporary folder holding the example files (``quaykey examples``) and a broken YAML file,
and checks: a non-zero exit (2 for a user error), nothing on stderr but one line starting
``error:`` that names the flag, no traceback, and an answer within a few seconds (the check
comes before the work: ``--days 1e6`` must not start computing).

"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quaykey.cli.examples import write_examples

#: Seconds a bad input may take to be refused (a process start is 2-4 s on a loaded machine).
REFUSE_WITHIN_S = 20.0

BROKEN_YAML = "nodes:\n  shanghai: {kme_id: KME-SH\n  port: [\n"

CASES = [
    # (id, argv, flag the message must name)
    ("satellite-days-1e6", ["satellite", "passes", "--days", "1e6"], "--days"),
    ("satellite-days-3650", ["satellite", "passes", "--days", "3650"], "--days"),
    (
        "satellite-min-elevation-95",
        ["satellite", "passes", "--min-elevation", "95"],
        "--min-elevation",
    ),
    ("kme-status-broken-config", ["kme", "status", "--config", "broken.yaml"], "--config"),
    (
        "kme-serve-broken-config",
        ["kme", "serve", "--node", "shanghai", "--config", "broken.yaml"],
        "--config",
    ),
    ("kme-status-missing-config", ["kme", "status", "--config", "missing.yaml"], "--config"),
    ("network-simulate-hours-1e6", ["network", "simulate", "--hours", "1e6"], "--hours"),
    (
        "network-simulate-cut-after-end",
        ["network", "simulate", "--hours", "1", "--cut", "jinan--taian@5"],
        "--cut",
    ),
    ("network-simulate-seed", ["network", "simulate", "--hours", "0.1", "--seed", "-1"], "--seed"),
    (
        "network-simulate-block-s",
        ["network", "simulate", "--hours", "0.1", "--block-s", "-1"],
        "--block-s",
    ),
    ("network-map-out-missing-folder", ["network", "map", "--out", "nowhere/map.png"], "--out"),
    ("link-run-duration-1e6", ["link", "run", "--duration-s", "1e6"], "--duration-s"),
    ("link-run-seed", ["link", "run", "--duration-s", "0.1", "--seed", "-1"], "--seed"),
    ("link-run-block-s", ["link", "run", "--block-s", "-1"], "--block-s"),
    (
        "link-run-loss-db-fibre",
        ["link", "run", "--preset", "backbone", "--loss-db", "20"],
        "--loss-db",
    ),
    (
        "link-run-param-abc",
        ["link", "run", "--param", "source.repetition_rate_hz=abc"],
        "--param",
    ),
    ("link-simulate-seed", ["link", "simulate", "--seed", "-1"], "--seed"),
    ("link-plot-seed", ["link", "plot", "--seed", "-1", "--out", "k.png"], "--seed"),
    (
        "link-keyrate-loss-db-fibre",
        ["link", "keyrate", "--preset", "gys", "--loss-db", "20"],
        "--loss-db",
    ),
    (
        "link-simulate-loss-db-fibre",
        ["link", "simulate", "--preset", "backbone", "--loss-db", "20"],
        "--loss-db",
    ),
    (
        "link-simulate-distance-free-space",
        ["link", "simulate", "--preset", "micius-2017", "--distance-km", "20"],
        "--distance-km",
    ),
    ("link-plot-out-missing-folder", ["link", "plot", "--out", "nowhere/k.png"], "--out"),
    ("link-keyrate-missing-config", ["link", "keyrate", "--config", "missing.yaml"], "--config"),
    ("link-keyrate-broken-config", ["link", "keyrate", "--config", "broken.yaml"], "--config"),
    (
        "link-simulate-param-abc",
        ["link", "simulate", "--param", "source.repetition_rate_hz=abc"],
        "--param",
    ),
    (
        "link-keyrate-param-abc",
        ["link", "keyrate", "--param", "source.repetition_rate_hz=abc"],
        "--param",
    ),
    ("link-simulate-duration", ["link", "simulate", "--duration-s", "-1"], "--duration-s"),
    ("examples-out-missing-folder", ["examples", "--out", "no/such/dir"], "--out"),
    ("unknown-option", ["link", "simulate", "--bogus", "1"], "--bogus"),
    ("bad-type", ["link", "simulate", "--seed", "abc"], "--seed"),
    ("missing-value", ["link", "simulate", "--seed"], "--seed"),
]


def run_quaykey(
    argv: list[str], cwd: Path, timeout_s: float = REFUSE_WITHIN_S
) -> subprocess.CompletedProcess[str]:
    """Run ``quaykey ARGV`` in a fresh interpreter from ``cwd``."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.pop("QUAYKEY_TRACEBACK", None)
    env["COLUMNS"] = "80"  # rich must not get room to hide a multi-line message
    return subprocess.run(
        [sys.executable, "-m", "quaykey.cli.main", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-input")
    write_examples(d)
    (d / "broken.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    return d


def assert_one_line_error(proc: subprocess.CompletedProcess[str], flag: str) -> None:
    """The one error style: exit code 2, one ``error:`` line naming ``flag``, no traceback."""
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert flag in lines[0], f"the message does not name {flag}: {lines[0]}"
    assert proc.returncode == 2, (proc.returncode, err)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [pytest.param(argv, flag, id=case_id) for case_id, argv, flag in CASES],
)
def test_bad_input_gets_one_line_naming_the_flag(workdir: Path, argv: list[str], flag: str) -> None:
    try:
        proc = run_quaykey(argv, workdir)
    except subprocess.TimeoutExpired:
        pytest.fail(f"quaykey {' '.join(argv)} did not refuse within {REFUSE_WITHIN_S:g} s")
    assert_one_line_error(proc, flag)
    assert not (workdir / "nowhere").exists()


def test_acceptance_param_forms_on_link_simulate(workdir: Path) -> None:
    proc = run_quaykey(
        [
            "link",
            "simulate",
            "--param",
            "source.repetition_rate_hz=8e7",
            "--param",
            "source.intensities=0.1,0.05,0",
            "--preset",
            "gys",
            "--distance-km",
            "50",
            "--duration-s",
            "0.1",
            "--json",
        ],
        workdir,
        timeout_s=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout)
    assert out["n_pulses"] == 8_000_000  # 0.1 s at 8e7 Hz
    assert out["expected"]["signal"]["gain"] < 5e-4  # mu = 0.1, not the preset's 0.48


@pytest.mark.parametrize("argv", [["--version"], ["link", "run", "--version"]])
def test_version_on_every_command(workdir: Path, argv: list[str]) -> None:
    proc = run_quaykey(argv, workdir)
    assert proc.returncode == 0, proc.stderr
    from quaykey import __version__

    assert proc.stdout.strip() == f"quaykey {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["-h"],
        ["link", "-h"],
        ["link", "simulate", "-h"],
        ["network", "plan", "-h"],
        ["kme", "serve", "-h"],
        ["examples", "-h"],
    ],
)
def test_short_help_on_every_command(argv: list[str]) -> None:
    from typer.testing import CliRunner

    from quaykey.cli.main import app

    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "Usage: quaykey" in result.output


def test_a_defect_is_one_line_too_unless_the_traceback_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from quaykey.cli import link_keyrate
    from quaykey.cli.main import main

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(link_keyrate, "key_rate", boom)
    monkeypatch.delenv("QUAYKEY_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["link", "keyrate", "--distance-km", "10"])
    assert info.value.code == 1  # not 2: the input was fine
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: unexpected RuntimeError: boom second line")
    monkeypatch.setenv("QUAYKEY_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["link", "keyrate", "--distance-km", "10"])


def test_user_error_in_process_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from quaykey.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["link", "keyrate", "--param", "detector.efficiency=lots"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err == "error: --param detector.efficiency must be a number (e.g. 8e7 or 0.2), got 'lots'\n"
    )
