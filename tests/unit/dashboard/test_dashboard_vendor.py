"""The dashboard's third-party files are the pinned npm files PROVENANCE.md names, unchanged."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from pathlib import Path

from quaykey.dashboard import static_dir

ROOT = Path(__file__).resolve().parents[3]
VENDOR = static_dir() / "vendor"
PINNED = {"echarts": "6.1.0", "world-atlas": "2.0.2", "topojson-client": "3.1.0"}


def _provenance() -> list[dict[str, str]]:
    rows = []
    for line in (VENDOR / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[0-9a-f]{64}", cells[4]):
            rows.append(
                dict(
                    zip(
                        ("package", "version", "src", "file", "sha256", "licence"),
                        cells,
                        strict=True,
                    )
                )
            )
    return rows


def test_every_vendored_file_matches_its_sha256() -> None:
    rows = _provenance()
    assert rows, "PROVENANCE.md lists no file"
    for row in rows:
        digest = hashlib.sha256((VENDOR / row["file"]).read_bytes()).hexdigest()
        assert digest == row["sha256"], (
            f"{row['file']} differs from {row['package']}@{row['version']}"
        )
        assert PINNED[row["package"]] == row["version"]


def test_every_file_in_vendor_is_accounted_for_with_a_licence() -> None:
    listed = {row["file"] for row in _provenance()}
    present = {p.name for p in VENDOR.iterdir()} - {"PROVENANCE.md"}
    assert present == listed
    for package in PINNED:
        assert f"LICENSE-{package}" in listed


def test_the_outline_is_the_topojson_the_page_decodes() -> None:
    world = json.loads((VENDOR / "countries-110m.json").read_text(encoding="utf-8"))
    assert world["type"] == "Topology"
    names = {g["properties"]["name"] for g in world["objects"]["countries"]["geometries"]}
    assert "China" in names


def test_the_page_loads_nothing_from_another_host() -> None:
    for name in ("index.html", "app.js", "style.css"):
        text = (static_dir() / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?(https?:)?//", text), name
        assert 'fetch("http' not in text and 'EventSource("http' not in text


def test_package_data_ships_every_static_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["quaykey"]
    pkg = static_dir().parent.parent
    for path in static_dir().rglob("*"):
        if path.is_file():
            rel = path.relative_to(pkg).as_posix()
            assert any(fnmatch.fnmatchcase(rel, pat) for pat in patterns), rel
