"""The page against the contract's sample state (a fixture), in headless chromium.

A stand-in server gives the page ``tests/unit/dashboard/fixtures/state_sample.json`` (the
contract's shape) over ``/api/state`` and ``/api/events`` and records the actions it
receives, so the page's own behaviour is tested apart from the live system (that is
``tests/integration/operate/test_dashboard_e2e.py``). The sample must also validate against
the server's published models.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from quaykey.dashboard import mount

SAMPLE = Path(__file__).parent / "fixtures" / "state_sample.json"
TOKEN = "sample-token"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "operate"))
from dashboard_harness import chromium_or_reason, launch_chromium  # noqa: E402

pytestmark = pytest.mark.slow


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_the_sample_follows_the_servers_published_schema() -> None:
    from quaykey.operate.models import State

    state = State.model_validate(_sample())
    assert state.links and state.routes and state.kmes


class StandIn:
    """FastAPI app serving the sample, one alarm, and recording actions."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, str | None, dict[str, Any]]] = []
        self.state = _sample()
        self.app = app = FastAPI()
        alarm_link = self.state["routes"][0]["bottleneck"]
        self.alarm = {"t_sim": 170.0, "link": alarm_link, "kind": "qber", "message": "QBER 25 %"}

        @app.get("/api/state")
        def state() -> dict[str, Any]:
            return self.state

        @app.get("/api/events")
        async def events() -> StreamingResponse:
            async def gen() -> AsyncIterator[str]:
                for k in range(200):
                    s = dict(self.state, t_sim=self.state["t_sim"] + k, events_seq=k + 1)
                    s["emitted_unix_ms"] = time.time() * 1000
                    yield f"event: state\nid: {k + 1}\ndata: {json.dumps(s)}\n\n"
                    if k == 2:
                        yield f"event: alarm\ndata: {json.dumps(self.alarm)}\n\n"
                    await asyncio.sleep(0.2)

            return StreamingResponse(gen(), media_type="text/event-stream")

        @app.post("/api/actions/{action}")
        async def act(action: str, request: Request) -> JSONResponse:
            body = await request.json()
            auth = request.headers.get("authorization")
            self.actions.append((action, auth, body))
            if auth != f"Bearer {TOKEN}":
                return JSONResponse({"detail": "bad token"}, status_code=401)
            return JSONResponse({"ok": True, "action": action, "t_sim": 171.0})

        mount(app)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[StandIn, str]]:
    import uvicorn

    server_app = StandIn()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(server_app.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield server_app, f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path, why = chromium_or_reason()
    if path is None:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p, path)
        yield b
        b.close()


def test_the_page_shows_the_sample(stand_in: tuple[StandIn, str], browser: Any) -> None:
    srv, base = stand_in
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "#token=" + TOKEN)
    page.wait_for_function("window.__quaykey.renders >= 3")
    state = srv.state
    assert page.locator("[data-testid=link-row]").count() == len(state["links"])
    assert page.locator("[data-testid=route-row]").count() == len(state["routes"])
    assert page.locator("[data-testid=kme-row]").count() == len(state["kmes"])
    link = state["links"][0]
    row = page.locator(f"[data-testid=link-row][data-link='{link['id']}']")
    assert row.locator("[data-field=rate]").inner_text() == f"{link['key_rate_bps'] / 1e3:.1f} kb/s"
    assert row.locator("[data-field=qber]").inner_text() == f"{100 * link['qber']:.2f} %"
    route = state["routes"][0]
    assert page.get_attribute(f"[data-route='{route['id']}']", "data-path") == " ".join(
        route["path"]
    )
    down = state["routes"][-1]
    assert down["status"] == "down" and down["path"] == []
    down_row = page.locator(f"[data-route='{down['id']}']")
    assert "DOWN" in down_row.inner_text() and "no path" in down_row.inner_text()
    # the alarm event reaches the live region, in words (the sample state's own alarms are
    # announced too, and may come first: wait for the event's)
    page.wait_for_function("document.getElementById('alarm-live').dataset.state === 'alarm'")
    page.wait_for_function(
        "document.getElementById('alarm-live').textContent.includes('QBER')", timeout=15_000
    )
    live = page.inner_text("#alarm-live")
    assert "QBER" in live and srv.alarm["link"] in live
    assert page.get_attribute("#alarm-live", "aria-live") == "assertive"
    assert page.evaluate("location.hash") == ""
    assert not errors, errors


def test_actions_carry_the_token_and_the_selected_link(
    stand_in: tuple[StandIn, str], browser: Any
) -> None:
    srv, base = stand_in
    page = browser.new_page()
    page.goto(base + "#token=" + TOKEN)
    page.wait_for_function("window.__quaykey.renders >= 1")
    target = srv.state["links"][3]["id"]
    page.select_option("#link-select", target)
    page.fill("#eve-fraction", "0.5")
    page.click("#btn-eavesdrop")
    page.wait_for_function("document.getElementById('action-result').dataset.state !== 'pending'")
    assert page.get_attribute("#action-result", "data-state") == "ok", page.inner_text(
        "#action-result"
    )
    page.click("#btn-cut")
    page.wait_for_function(
        "document.getElementById('action-result').textContent.startsWith('Done: cut')"
    )
    sent = srv.actions[-2:]
    assert sent[0] == ("eavesdrop", f"Bearer {TOKEN}", {"link": target, "fraction": 0.5})
    assert sent[1] == ("cut", f"Bearer {TOKEN}", {"link": target})
    # keyboard: the buttons are reachable and work with Enter
    page.focus("#btn-restore")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.getElementById('action-result').textContent.startsWith('Done: restore')"
    )


def test_without_a_valid_token_the_actions_are_disabled_with_a_reason(
    stand_in: tuple[StandIn, str], browser: Any
) -> None:
    _, base = stand_in
    page = browser.new_page()
    page.goto(base)
    page.wait_for_function("window.__quaykey.renders >= 1")
    assert page.is_disabled("#btn-eavesdrop") and page.is_disabled("#btn-kill-kme")
    assert "no operator token" in page.inner_text("#token-status")
    page = browser.new_page()
    page.goto(base + "#token=wrong")
    page.wait_for_function("window.__quaykey.renders >= 1")
    page.click("#btn-clear")
    page.wait_for_function("document.getElementById('token-status').dataset.state === 'refused'")
    assert page.is_disabled("#btn-clear")
    assert page.evaluate("sessionStorage.getItem('quaykey-operator-token')") is None
