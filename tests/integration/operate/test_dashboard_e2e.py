"""End to end: ``quaykey up`` on free ports, its dashboard in headless chromium.

The page must render the map and every panel from the live feed, with numbers that move;
an operator who puts an intercept-resend eavesdropper on a link of a route must see that
link's alarm within a few ticks and the route take another path; the screenshot must not be
blank. Chromium is Debian's (``scripts/ensure-chromium.sh``, run by ``make test``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_harness import chromium_or_reason, launch_chromium, pick_target, quaykey_up

pytestmark = pytest.mark.slow

SPEED = 10.0  # simulated seconds per wall second: one tick is a few simulated seconds
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = chromium_or_reason()
    if path is None:
        pytest.skip(why)
    return path


def _fibre_lines(page: Any) -> int:
    return int(
        page.evaluate(
            """() => { const c = echarts.getInstanceByDom(document.getElementById('map'));
                 const s = c && c.getOption().series.find((x) => x.id === 'fibre');
                 return s ? s.data.length : 0; }"""
        )
    )


def _t_sim(page: Any) -> float:
    return float(page.inner_text("#t-sim").split()[0])


def _check_live_panels(page: Any) -> None:
    page.wait_for_function("window.__quaykey && window.__quaykey.renders >= 2", timeout=90_000)
    page.wait_for_function(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('map'));"
        " return !!c && c.getOption().series.length > 0; }",
        timeout=30_000,
    )
    assert _fibre_lines(page) > 10
    assert page.locator("#map canvas").count() >= 1
    for sel in ("link-row", "route-row", "kme-row", "pass-row", "tenant-row"):
        assert page.locator(f"[data-testid={sel}]").count() > 0, sel
    assert page.inner_text("#app-clearances") != "–"
    assert "VERIFIED" in page.inner_text("#app-ledger") or "UNVERIFIED" in page.inner_text(
        "#app-ledger"
    )
    before = (_t_sim(page), page.inner_text("#links-body"))
    page.wait_for_function(
        "(n) => window.__quaykey.renders > n", arg=page.evaluate("window.__quaykey.renders")
    )
    page.wait_for_function(
        "(t) => parseFloat(document.getElementById('t-sim').textContent) > t", arg=before[0]
    )
    # live numbers move: the simulated clock and the per-link figures
    deadline = time.monotonic() + 30
    while page.inner_text("#links-body") == before[1]:
        assert time.monotonic() < deadline, "the links table never changed"
        page.wait_for_timeout(500)


def _eavesdrop_and_watch(page: Any, base: str) -> None:
    state = httpx.get(base + "api/state", timeout=10).json()
    route, link = pick_target(state)
    row = page.locator(f"[data-testid=route-row][data-route='{route['id']}']")
    path_before = row.get_attribute("data-path")
    assert path_before == " ".join(route["path"])
    page.select_option("#link-select", link)
    t_click = _t_sim(page)
    page.click("#btn-eavesdrop")
    alarm_cell = f"[data-testid=link-row][data-link='{link}'] [data-field=alarm]"
    page.wait_for_function(
        "(sel) => { const e = document.querySelector(sel);"
        " return e && e.textContent.includes('QBER'); }",
        arg=alarm_cell,
        timeout=60_000,
    )
    t_alarm = _t_sim(page)
    # a few ticks at most: each tick is SPEED simulated seconds of blocks
    assert t_alarm - t_click <= 4 * SPEED, (t_click, t_alarm)
    assert "QBER" in page.inner_text("#alarm-live")
    assert link in page.inner_text("#alarm-live") + page.inner_text("#alarm-list")
    assert "Done: eavesdrop" in page.inner_text("#action-result")
    page.wait_for_function(
        "([sel, before]) => { const r = document.querySelector(sel);"
        " return r && r.dataset.path !== before; }",
        arg=[f"[data-testid=route-row][data-route='{route['id']}']", path_before],
        timeout=60_000,
    )
    path_after = row.get_attribute("data-path")
    assert path_after is not None and path_after.split()[0] == route["src"]
    assert path_after.split()[-1] == route["dst"]


def _assert_not_blank(png: Path, page: Any) -> None:
    from PIL import Image, ImageStat

    img = Image.open(png).convert("L")
    assert img.size == (VIEWPORT["width"], VIEWPORT["height"])
    assert ImageStat.Stat(img).stddev[0] > 20, "screenshot is nearly uniform"
    box = page.locator("#map").bounding_box()
    assert box is not None
    crop = img.crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
    )
    assert ImageStat.Stat(crop).stddev[0] > 8, "the map area is blank"


def test_dashboard_end_to_end(tmp_path: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with quaykey_up(tmp_path / "state", duration_s=300, speed=SPEED) as srv, sync_playwright() as p:
        browser = launch_chromium(p, chromium)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(srv.url)
            _check_live_panels(page)
            # the token left the address bar for the tab's session storage
            assert page.evaluate("location.hash") == ""
            assert page.evaluate("sessionStorage.getItem('quaykey-operator-token')") == srv.token
            assert page.is_enabled("#btn-eavesdrop")
            _eavesdrop_and_watch(page, srv.base)
            png = tmp_path / "dashboard.png"
            page.screenshot(path=str(png))
            _assert_not_blank(png, page)
            assert not errors, errors

            # a page opened without the token: actions disabled, with the reason in text
            other = browser.new_page(viewport=VIEWPORT)
            other.goto(srv.base)
            other.wait_for_function("window.__quaykey && window.__quaykey.renders >= 1")
            assert other.is_disabled("#btn-eavesdrop")
            assert "no operator token" in other.inner_text("#token-status")
        finally:
            browser.close()
