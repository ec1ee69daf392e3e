"""The operations dashboard of ``quaykey up``: a static page served next to the live state.

The page (``static/index.html``, ``app.js``, ``style.css``) reads ``GET /api/state`` once, then
follows ``GET /api/events`` (Server-Sent Events) and posts operator actions to
``POST /api/actions/{action}``. Every asset comes from this package: the chart library, the
country outlines and their decoder are pinned npm files under ``static/vendor/`` (see its
``PROVENANCE.md``); nothing is fetched from a CDN or a tile server.

The backend calls :func:`mount` on its FastAPI app; this package never imports the backend.

>>> (static_dir() / "index.html").is_file()
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["mount", "static_dir"]


def static_dir() -> Path:
    """The folder of the page and its assets (package data)."""
    return Path(__file__).resolve().parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the dashboard on ``app``: ``GET /`` is the page, ``GET /static/...`` its assets."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    root = static_dir()
    index = root / "index.html"

    async def dashboard_page() -> FileResponse:
        # no-store: a restarted server may serve a newer page under the same URL
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-store"})

    app.add_api_route("/", dashboard_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=root), name="dashboard-static")
