"""``quaykey.dashboard.mount`` serves the page and its assets on a FastAPI app."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quaykey.dashboard import mount, static_dir

# the element ids the end-to-end test and the benchmark drive
IDS = (
    "map", "orbit", "t-sim", "sim-utc", "alarm-live", "link-select", "btn-eavesdrop", "btn-cut",
    "btn-restore", "btn-clear", "node-select", "btn-kill-kme", "btn-restart-kme", "btn-policy",
    "token-status", "action-result", "links-body", "routes-body", "kmes-body", "tenants-body",
    "passes-body", "app-clearances", "app-ledger", "app-budget",
)  # fmt: skip


def _client() -> TestClient:
    app = FastAPI()
    mount(app)
    return TestClient(app)


def test_root_is_the_page_with_the_ids_the_tests_use() -> None:
    r = _client().get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    for ident in IDS:
        assert f'id="{ident}"' in r.text, ident


def test_every_asset_the_page_names_is_served() -> None:
    client = _client()
    page = client.get("/").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert {"/static/app.js", "/static/style.css", "/static/vendor/echarts.min.js"} <= set(assets)
    for url in [*assets, "/static/vendor/countries-110m.json"]:
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.content == (static_dir() / url.removeprefix("/static/")).read_bytes()


def test_the_operator_buttons_carry_text_labels() -> None:
    page = (static_dir() / "index.html").read_text(encoding="utf-8")
    for label in ("Eavesdropper", "Cut fibre", "Restore", "Clear", "Kill KME", "Restart KME"):
        assert re.search(rf"<button[^>]*>{label}</button>", page), label
    assert 'aria-live="assertive"' in page
