"""Live progress: a document's status changes as Server-Sent Events.

Every progress event of the document becomes one ``event: status``, so a
client sees each stage in order even when a stage lasts milliseconds. The
status view is read at the start, at the end, and while nothing happens,
so what the workers did not announce (an upload expiring) arrives too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import (
    allowed_origin,
    fetch_document,
    json_response,
    path_document_id,
    status_json,
)
from services.gateway.openapi import operation
from services.gateway.response_bodies import StatusEvent, StreamToken
from services.gateway.state import FEED, SETTINGS, STREAM_TOKENS
from services.gateway.stream_tokens import TOKEN_TTL_S
from shared.events import Progress
from shared.stages import TERMINAL, Status
from shared.status import advances

routes = web.RouteTableDef()
OPEN_STREAMS = web.AppKey("open_streams", Counter)
"""Open streams per caller on this replica (their cap is per replica)."""

REREAD_S = 2.0
KEEPALIVE_S = 15.0
SETTLE_S = 2.0
"""How long the end waits for the projector to fold the terminal event."""


def advance(view: dict[str, Any], event: Progress) -> dict[str, Any] | None:
    """The view moved on by ``event`` (the status fold's rule); None when the event
    moves nothing forward, or is of a job that does not drive the document."""
    if event.job_id != view.get("job_id") or not advances(
        view["status"], view["progress"], event.status, event.progress
    ):
        return None
    moved = {
        **view,
        "status": event.status,
        "progress": max(view["progress"], event.progress),
        "current_step": event.step,
    }
    for name in ("page_count", "chunk_count", "embedded_count", "duplicate_of"):
        if (value := getattr(event, name)) is not None:
            moved[name] = value
    if event.status == Status.FAILED:
        moved["error"] = {"code": event.error_code, "message": event.error_message}
    if event.status in TERMINAL:
        moved |= {"eta_seconds": None, "queue_position": None}
    return None if moved == view else moved


def forward(view: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """Whether the re-read view ``fresh`` is news after ``view`` (never a step back)."""
    return fresh != view and advances(
        view["status"], view["progress"], fresh["status"], fresh["progress"]
    )


@routes.post("/api/v1/documents/{document_id}/events/token")
@operation(
    "A short-lived token that opens this document's status stream: for EventSource, "
    "which cannot send the API key in a header (a key never goes in a URL).",
    returns=StreamToken,
    status=201,
)
async def stream_token(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    await fetch_document(request, document_id)  # another tenant's document: 404
    token = request.app[STREAM_TOKENS].issue(document_id, tenant(request), request[CALLER])
    url = f"/api/v1/documents/{document_id}/events?token={token}"
    return json_response(StreamToken(token, TOKEN_TTL_S, url), status=201)


@routes.get("/api/v1/documents/{document_id}/events")
@operation(
    "Status changes as Server-Sent Events (event: status, data: the status view). "
    "Authenticate with the key in a header, or ?token= from the token route.",
    returns=StatusEvent,
    media_type="text/event-stream",
)
async def events(request: web.Request) -> web.StreamResponse:
    """``event: status`` with the status view at each change, until a terminal state
    or the stream's lifetime; comments keep idle connections open through proxies."""
    document_id = path_document_id(request)
    with _slot(request), request.app[FEED].subscribe(document_id) as queue:
        view = json.loads(await status_json(request, document_id))  # a 404 before streaming
        response = await _open_stream(request)
        # A client that went away ends the stream (and frees its slot) at once.
        with contextlib.suppress(ConnectionResetError):
            await _stream(request, response, document_id, view, queue)
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    document_id: str,
    view: dict[str, Any],
    queue: asyncio.Queue[Progress],
) -> None:
    await _send(response, view)
    quiet_since = time.monotonic()
    closes_at = quiet_since + request.app[SETTINGS].sse_max_s
    while view["status"] not in TERMINAL and time.monotonic() < closes_at:
        if request.transport is None or request.transport.is_closing():
            return
        try:
            event = await asyncio.wait_for(queue.get(), REREAD_S)
            moved = advance(view, event)
        except TimeoutError:
            fresh = json.loads(await status_json(request, document_id))
            moved = fresh if forward(view, fresh) else None
        if moved is not None:
            view, quiet_since = moved, time.monotonic()
            await _send(response, view)
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            await response.write(b": keep-alive\n\n")
            quiet_since = time.monotonic()
    if view["status"] in TERMINAL:
        await _send_settled(request, response, document_id, view)
    await response.write_eof()


@contextlib.contextmanager
def _slot(request: web.Request) -> Iterator[None]:
    """One of the caller's ``DOCMESH_SSE_MAX_PER_CALLER`` streams, or a 429."""
    open_streams, caller = request.app[OPEN_STREAMS], request[CALLER]
    if open_streams[caller] >= request.app[SETTINGS].sse_max_per_caller:
        raise ApiError(
            429,
            "too_many_streams",
            f"{open_streams[caller]} status streams are open for this key; close one, "
            "or poll the status instead.",
            headers={"Retry-After": "5"},
        )
    open_streams[caller] += 1
    try:
        yield
    finally:
        open_streams[caller] -= 1
        if not open_streams[caller]:
            del open_streams[caller]


async def _open_stream(request: web.Request) -> web.StreamResponse:
    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    if origin := allowed_origin(request):
        headers |= {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, view: dict[str, Any]) -> None:
    await response.write(f"event: status\ndata: {json.dumps(view)}\n\n".encode())


async def _send_settled(
    request: web.Request, response: web.StreamResponse, document_id: str, view: dict[str, Any]
) -> None:
    """The stored final view (timings, finish time), once the projector has folded it."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        with contextlib.suppress(web.HTTPException):
            fresh = json.loads(await status_json(request, document_id))
            if fresh["status"] == view["status"]:
                if fresh != view:
                    await _send(response, fresh)
                return
        await asyncio.sleep(0.1)
