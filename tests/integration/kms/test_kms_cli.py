"""`quaykey pki init` and `quaykey kme status` on the shipped example config."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from quaykey.cli.main import app
from quaykey.kms.config import load_network_config
from quaykey.kms.pki import Identity, identity_from_der


def test_pki_init_and_kme_status_on_example(tmp_path: Path):
    example = resources.files("quaykey.kms") / "examples" / "network.yaml"
    cfg = tmp_path / "network.yaml"
    with resources.as_file(example) as src:
        shutil.copy(src, cfg)
    runner = CliRunner()
    r = runner.invoke(
        app, ["pki", "init", "--out", str(tmp_path / "pki"), "--config", str(cfg), "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["kmes"]) == {"shanghai", "hefei", "beijing"}

    pem = (tmp_path / "pki" / "sae-customs-sh.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert identity_from_der(der) == Identity("sae", "customs-sh")
    for n in ("shanghai", "hefei", "beijing"):
        assert (tmp_path / "state" / f"{n}.master.key").exists()

    r = runner.invoke(app, ["kme", "status", "--config", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    status = json.loads(r.stdout)["kmes"]
    assert status["hefei"]["links"] == {
        "beijing": {"sendable_bytes": 0, "receivable_bytes": 0},
        "shanghai": {"sendable_bytes": 0, "receivable_bytes": 0},
    }
    assert "customs-sh" in status["shanghai"]["saes"]
    r = runner.invoke(app, ["kme", "status", "--config", str(cfg), "--node", "shanghai"])
    assert r.exit_code == 0 and "KME-SHANGHAI" in r.stdout
    net = load_network_config(cfg)
    assert net.route("shanghai", "beijing") == ["hefei", "beijing"]


def test_kme_serve_rejects_unknown_node(tmp_path: Path):
    example = resources.files("quaykey.kms") / "examples" / "network.yaml"
    cfg = tmp_path / "network.yaml"
    with resources.as_file(example) as src:
        shutil.copy(src, cfg)
    r = CliRunner().invoke(app, ["kme", "serve", "--node", "nowhere", "--config", str(cfg)])
    assert r.exit_code == 2
    assert "nowhere" in r.output


def _example(tmp_path: Path) -> Path:
    example = resources.files("quaykey.kms") / "examples" / "network.yaml"
    cfg = tmp_path / "network.yaml"
    with resources.as_file(example) as src:
        shutil.copy(src, cfg)
    return cfg


def test_pki_init_refuses_to_overwrite_a_ca_without_force(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "pki"
    assert runner.invoke(app, ["pki", "init", "--out", str(out), "--node", "a"]).exit_code == 0
    ca = (out / "ca.pem").read_bytes()
    r = runner.invoke(app, ["pki", "init", "--out", str(out), "--node", "a"])
    assert r.exit_code == 2
    assert "--force" in r.output and "Traceback" not in r.output
    assert (out / "ca.pem").read_bytes() == ca
    r = runner.invoke(app, ["pki", "init", "--out", str(out), "--node", "a", "--force"])
    assert r.exit_code == 0, r.output
    assert (out / "ca.pem").read_bytes() != ca


@pytest.mark.parametrize(
    ("flag", "bad"),
    [("--sae", "zoë"), ("--sae", ""), ("--sae", "tab\tid"), ("--node", "x/y"), ("--node", "zoë")],
)
def test_pki_init_validates_every_name_before_writing(tmp_path: Path, flag: str, bad: str):
    out = tmp_path / "pki"
    r = CliRunner().invoke(
        app, ["pki", "init", "--out", str(out), "--node", "a", "--sae", "ok", flag, bad]
    )
    assert r.exit_code == 2
    assert flag in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_pki_init_writes_private_keys_owner_only_from_the_start(tmp_path: Path, monkeypatch):
    # a key must never exist with wider permissions, not even until a later chmod
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    out = tmp_path / "pki"
    assert CliRunner().invoke(app, ["pki", "init", "--out", str(out), "--sae", "s"]).exit_code == 0
    for p in out.glob("*.key"):
        assert p.stat().st_mode & 0o077 == 0, p.name


@pytest.mark.parametrize("command", ["status", "serve"])
@pytest.mark.parametrize("problem", ["missing", "broken", "invalid", "absent", "directory"])
def test_kme_bad_config_is_a_one_line_error_naming_config(
    tmp_path: Path, monkeypatch, command, problem
):
    monkeypatch.chdir(tmp_path)
    cfg = Path("network.yaml")
    if problem == "broken":
        cfg.write_text("nodes: [unclosed\n  - x: {\n")
    elif problem == "invalid":
        cfg.write_text("nodes:\n  a: {kme_id: A}\n")
    elif problem == "directory":
        cfg.mkdir()
    args = ["kme", command] + (["--node", "a"] if command == "serve" else [])
    if problem != "missing":
        args += ["--config", str(cfg)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith("error:") and "--config" in lines[0]
    assert "Errno" not in r.output and "Traceback" not in r.output


def test_examples_command_writes_the_packaged_kms_example(tmp_path: Path):
    r = CliRunner().invoke(app, ["examples", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    packaged = (resources.files("quaykey.kms") / "examples" / "network.yaml").read_text()
    assert (tmp_path / "network.yaml").read_text() == packaged


def test_docs_state_the_fate_of_a_key_fetched_by_a_kme_that_dies_before_answering():
    docs = (Path(__file__).parents[3] / "docs" / "kms.md").read_text(encoding="utf-8")
    section = docs.split("### A KME dies after the slave's fetch commits", 1)
    assert len(section) == 2, "docs/kms.md lacks the section"
    text = section[1].split("\n## ", 1)[0]
    # what test_kms_crash.py checks: the key is gone for good, a retry gets 400
    for fact in ("after_slave_commit", "400", "delivered_slave", "master"):
        assert fact in text, fact
