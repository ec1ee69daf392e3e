"""`quaykey pki init` and `quaykey kme status` on the shipped example config."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

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
