"""The web page at ``/``: plain ES modules and CSS under ``web/``, no build step."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB = Path(__file__).parent / "web"

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    # Revalidated on each visit, so a new release's page is never stale.
    return web.FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


routes.static("/static", WEB)
