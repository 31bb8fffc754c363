"""A document's lifecycle (list, get, delete, retry, cancel) and dead letters."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.gateway.auth import tenant
from services.gateway.bodies import (
    DeadLetterIds,
    DeadLetters,
    DocumentPage,
    DocumentStatus,
    Purged,
    Retried,
)
from services.gateway.http import fetch_document, int_param, json_response, path_document_id
from services.gateway.openapi import PAGING, operation
from services.gateway.schemas import ApiError, decode_body
from services.gateway.state import POOL, STORE, STREAMS
from services.gateway.status_reader import RECENT_RATE, STATUS_VIEW
from services.gateway.views import status_json
from shared import status
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.redrive import redrive_event
from shared.stages import TERMINAL, Status

routes = web.RouteTableDef()


@routes.post("/api/v1/documents/{document_id}/cancel")
@operation(
    "Cancel processing; partial results and the upload are removed.",
    returns=DocumentStatus,
    status=202,
    errors=(409,),
)
async def cancel(request: web.Request) -> web.Response:
    """Stop a document at its next stage boundary; the janitor then removes its
    partial chunks and its upload and ends it as ``cancelled``."""
    pool, document_id = request.app[POOL], path_document_id(request)
    doc = await fetch_document(request, document_id)
    if doc["status"] in TERMINAL:
        raise ApiError(409, "already_finished", f"The document is already {doc['status']}.")
    if doc["job_id"] is None:  # nothing runs yet: it ends here
        await request.app[STORE].delete(doc["object_key"])
        await status.cancel_unstarted(pool, document_id)
    else:
        await status.request_cancel(pool, document_id)
    body = await status_json(request, document_id)
    return web.Response(text=body, status=202, content_type="application/json")


@routes.get("/api/v1/queue/dead-letters")
@operation("Dead letters, oldest first (admin).", returns=DeadLetters, errors=(403,))
async def dead_letters(request: web.Request) -> web.Response:
    return json_response({"dead_letters": await list_dead(request.app[STREAMS])})


@routes.post("/api/v1/queue/dead-letters/retry")
@operation(
    "Replay dead letters at their stage (admin).",
    returns=Retried,
    body=DeadLetterIds,
    errors=(403, 422),
)
async def retry_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    retried = await retry_dead(request.app[STREAMS], request.app[POOL], body.ids)
    return json_response({"retried": retried})


@routes.delete("/api/v1/queue/dead-letters")
@operation("Delete dead letters (admin).", returns=Purged, body=DeadLetterIds, errors=(403, 422))
async def purge_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    return json_response({"purged": await purge_dead(request.app[STREAMS], body.ids)})


@routes.get("/api/v1/documents")
@operation(
    "The tenant's documents, newest first.",
    returns=DocumentPage,
    query={
        "status": ({"type": "string", "enum": [s.value for s in Status]}, "Only this status."),
        "tag": ({"type": "string", "minLength": 1, "maxLength": 64}, "Only with this tag."),
        **PAGING,
    },
)
async def list_documents(request: web.Request) -> web.Response:
    """Documents, newest first, filtered by ``status`` and ``tag``, paginated."""
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    status, tag = request.query.get("status"), request.query.get("tag")
    if status is not None and status not in {s.value for s in Status}:
        raise ApiError(400, "invalid_parameter", f"Unknown status {status!r}.", "status")
    rows = await request.app[POOL].fetch(
        RECENT_RATE + f"SELECT {STATUS_VIEW} AS body, count(*) OVER () AS total FROM documents"
        " WHERE tenant = $5 AND ($1::text IS NULL OR status = $1)"
        " AND ($2::text IS NULL OR $2 = ANY(tags))"
        " ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
        status,
        tag,
        limit,
        offset,
        tenant(request),
    )
    total = rows[0]["total"] if rows else 0
    items = ",".join(r["body"] for r in rows)
    body = f'{{"items":[{items}],"total":{total},"limit":{limit},"offset":{offset}}}'
    return web.Response(text=body, content_type="application/json")


@routes.delete("/api/v1/documents/{document_id}")
@operation("Delete the document, its chunks, vectors and upload.", status=204)
async def delete_document(request: web.Request) -> web.Response:
    """Remove the document, its chunks and vectors, and any upload left in S3.

    Workers still holding one of its events find no row and skip it.
    """
    pool, document_id = request.app[POOL], path_document_id(request)
    doc = await fetch_document(request, document_id)
    await request.app[STORE].delete(doc["object_key"])
    await pool.execute("DELETE FROM documents WHERE id = $1", document_id)
    return web.Response(status=204)


@routes.post("/api/v1/documents/{document_id}/retry")
@operation(
    "Process a failed document again from its extracted text.",
    returns=DocumentStatus,
    status=202,
    errors=(409,),
)
async def retry_document(request: web.Request) -> web.Response:
    """Run a failed document again from its extracted text (the upload is gone by then)."""
    pool, document_id = request.app[POOL], path_document_id(request)
    doc = await fetch_document(request, document_id)
    if doc["status"] != Status.FAILED:
        raise ApiError(
            409, "not_failed", f"Only a failed document can be retried; it is {doc['status']}."
        )
    pages = await pool.fetchval("SELECT count(*) FROM pages WHERE document_id = $1", document_id)
    if not pages or not doc["text_hash"]:
        raise ApiError(
            409,
            "upload_gone",
            "The document failed before its text was extracted "
            "and its upload is deleted: presign and upload it again.",
        )
    row = await status.restart(pool, document_id, Status.CHECKING_DUPLICATES, "Retrying")
    if row is None:
        raise ApiError(409, "not_failed", "The document changed meanwhile; ask again.")
    await request.app[STREAMS].publish(redrive_event(row, f"retry:{uuid.uuid4()}"))
    body = await status_json(request, document_id)
    return web.Response(text=body, status=202, content_type="application/json")
