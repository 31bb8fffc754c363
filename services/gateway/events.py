"""Live progress: a document's status changes as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from services.gateway.http import allowed_origin, path_document_id
from services.gateway.views import status_json
from shared.stages import TERMINAL

routes = web.RouteTableDef()

POLL_S = 0.5
KEEPALIVE_S = 15.0


@routes.get("/api/v1/documents/{document_id}/events")
async def events(request: web.Request) -> web.StreamResponse:
    """``event: status`` with the status view each time it changes, until a terminal
    state; comments keep idle connections open through proxies."""
    document_id = path_document_id(request)
    body = await status_json(request, document_id)  # a 404 before the stream starts
    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    if origin := allowed_origin(request):
        headers |= {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    last, quiet = "", 0.0
    while True:
        if body != last:
            await response.write(f"event: status\ndata: {body}\n\n".encode())
            last, quiet = body, 0.0
            if json.loads(body)["status"] in TERMINAL:
                break
        elif quiet >= KEEPALIVE_S:
            await response.write(b": keep-alive\n\n")
            quiet = 0.0
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
        body = await status_json(request, document_id)
    await response.write_eof()
    return response
