"""Changing a document's course: cancel it; operate on dead letters."""

from __future__ import annotations

import msgspec
from aiohttp import web

from services.gateway.http import fetch_document, json_response, path_document_id
from services.gateway.schemas import ApiError, decode_body
from services.gateway.state import POOL, STORE, STREAMS
from services.gateway.views import status_json
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.stages import TERMINAL

routes = web.RouteTableDef()


@routes.post("/api/v1/documents/{document_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Stop a document at its next stage boundary; the janitor then removes its
    partial chunks and its upload and ends it as ``cancelled``."""
    pool, document_id = request.app[POOL], path_document_id(request)
    doc = await fetch_document(pool, document_id)
    if doc["status"] in TERMINAL:
        raise ApiError(409, "already_finished", f"The document is already {doc['status']}.")
    if doc["job_id"] is None:  # nothing runs yet: it ends here
        await request.app[STORE].delete(doc["object_key"])
        await pool.execute(
            "UPDATE documents SET status = 'cancelled', current_step = 'Cancelled',"
            " object_deleted = true, finished_at = now(), updated_at = now()"
            " WHERE id = $1 AND job_id IS NULL",
            document_id,
        )
    else:
        await pool.execute(
            "UPDATE documents SET cancel_requested = true, current_step = 'Cancelling',"
            " updated_at = now() WHERE id = $1",
            document_id,
        )
    body = await status_json(request, document_id)
    return web.Response(text=body, status=202, content_type="application/json")


class DeadLetterIds(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str] | None = None
    """Entry ids of the dead-letter stream; none means all of them."""


@routes.get("/api/v1/queue/dead-letters")
async def dead_letters(request: web.Request) -> web.Response:
    return json_response({"dead_letters": await list_dead(request.app[STREAMS])})


@routes.post("/api/v1/queue/dead-letters/retry")
async def retry_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    retried = await retry_dead(request.app[STREAMS], request.app[POOL], body.ids)
    return json_response({"retried": retried})


@routes.delete("/api/v1/queue/dead-letters")
async def purge_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    return json_response({"purged": await purge_dead(request.app[STREAMS], body.ids)})
