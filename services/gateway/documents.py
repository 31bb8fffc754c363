"""Document routes: status, list, chunks, and the lifecycle (delete, retry, cancel).

Uploading (presign, process) is in ``uploads``, the live status in ``events``.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from services.gateway import metadata, queries
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import (
    fetch_document,
    int_param,
    json_response,
    path_document_id,
    status_json,
)
from services.gateway.openapi import PAGING, operation
from services.gateway.request_bodies import DocumentPatch, decode_body
from services.gateway.response_bodies import ChunkPage, DocumentPage, DocumentStatus
from services.gateway.state import POOL, STORE, STREAMS, THROTTLE
from shared import tracing
from shared.service_layer import documents
from shared.service_layer.unit_of_work import UnitOfWork
from shared.stages import pipeline

routes = web.RouteTableDef()


def _json_text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="application/json")


@routes.get("/api/v1/documents/{document_id}")
@routes.get("/api/v1/documents/{document_id}/status")
@operation("The document and where its processing stands.", returns=DocumentStatus)
async def get_status(request: web.Request) -> web.Response:
    return _json_text(await status_json(request, path_document_id(request)))


@routes.get("/api/v1/documents")
@operation(
    "The tenant's documents, newest first.",
    returns=DocumentPage,
    query={
        "status": ({"type": "string", "enum": list(pipeline().order)}, "Only this status."),
        "tag": ({"type": "string", "minLength": 1, "maxLength": 64}, "Only with this tag."),
        "attachment_of": (
            {"type": "string", "format": "uuid"},
            "Only the attachments of this e-mail (documents of their own, made from it).",
        ),
        "collection": (
            {"type": "string", "format": "uuid"},
            "Only the documents of this collection.",
        ),
        "filter": (
            {"type": "string"},
            "Only documents whose metadata matches: the JSON of search's `filter`, "
            'e.g. {"department":"legal","year":{"range":{"gte":2024}}}.',
        ),
        **PAGING,
    },
)
async def list_documents(request: web.Request) -> web.Response:
    """Documents, newest first, filtered by ``status``, ``tag``, the e-mail they are
    attachments of, their collection and their metadata, paginated."""
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    status, tag = request.query.get("status"), request.query.get("tag")
    if status is not None and status not in pipeline().order:
        raise ApiError(400, "invalid_parameter", f"Unknown status {status!r}.", "status")
    wanted = queries.Wanted(
        status, tag, _uuid_query(request, "attachment_of"), _uuid_query(request, "collection")
    )
    where = metadata.compile_filter(
        metadata.parse_query(request.query.get("filter")) or {},
        "documents.metadata",
        queries.LIBRARY_FILTER_FROM,
    )
    bodies, total = await queries.status_page(
        request.app[POOL], tenant(request), wanted, (limit, offset), where
    )
    items = ",".join(bodies)
    return _json_text(f'{{"items":[{items}],"total":{total},"limit":{limit},"offset":{offset}}}')


def _uuid_query(request: web.Request, name: str) -> str | None:
    """An id in the query string, or None without one; a 400 for one that is no id."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an id.", name) from None


@routes.get("/api/v1/documents/{document_id}/chunks")
@operation("The document's chunks in order.", returns=ChunkPage, query=PAGING)
async def chunks(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    doc = await fetch_document(request, document_id)
    items, total, version = await queries.chunk_page(request.app[POOL], document_id, limit, offset)
    page = {"document_id": document_id, "total": total, "limit": limit, "offset": offset}
    page |= {"index_version": version, "metadata": json.loads(doc["metadata"])}
    return json_response({**page, "items": items})


@routes.patch("/api/v1/documents/{document_id}")
@operation(
    "Change a document's metadata or tags; its chunks and vectors stay as they are.",
    returns=DocumentStatus,
    body=DocumentPatch,
    errors=(422,),
)
async def patch_document(request: web.Request) -> web.Response:
    """Merge metadata into the document's and replace its tags: search filters see the
    change at once, nothing is processed again (neither is part of what is embedded)."""
    document_id = path_document_id(request)
    body = decode_body(await request.read(), DocumentPatch)
    await fetch_document(request, document_id)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await queries.update_metadata(conn, document_id, body.metadata, body.tags)
    return _json_text(await status_json(request, document_id))


@routes.delete("/api/v1/documents/{document_id}")
@operation(
    "Delete the document and everything stored of it: chunks and vectors of every index "
    "version, cached vectors only it had, webhook deliveries, stream entries, dead "
    "letters and its upload.",
    status=204,
    errors=(429,),
)
async def delete_document(request: web.Request) -> web.Response:
    """Remove the document and all that is stored of it (``shared.erasure``)."""
    document_id = path_document_id(request)
    await fetch_document(request, document_id)
    await request.app[THROTTLE].check_rate("delete", request[CALLER])
    async with UnitOfWork(request.app[POOL], request.app[STREAMS]) as uow:
        await documents.delete(uow, request.app[STORE], documents.Delete(document_id))
    return web.Response(status=204)


@routes.post("/api/v1/documents/{document_id}/cancel")
@operation(
    "Cancel processing; partial results and the upload are removed.",
    returns=DocumentStatus,
    status=202,
    errors=(409,),
)
async def cancel(request: web.Request) -> web.Response:
    """Stop a document at its next stage boundary (the janitor then removes its partial
    chunks and its upload and ends it as ``cancelled``), or now if it has no job."""
    document_id = path_document_id(request)
    await fetch_document(request, document_id)
    async with UnitOfWork(request.app[POOL], request.app[STREAMS]) as uow:
        await documents.cancel(uow, request.app[STORE], documents.Cancel(document_id))
    return _json_text(await status_json(request, document_id), 202)


@routes.post("/api/v1/documents/{document_id}/retry")
@operation(
    "Process a failed document again from its extracted text.",
    returns=DocumentStatus,
    status=202,
    errors=(409,),
)
async def retry_document(request: web.Request) -> web.Response:
    """Run a failed document again from its extracted text (the upload is gone by then),
    as a trace of its own (this request's), linked to the failed run's."""
    document_id = path_document_id(request)
    doc = await fetch_document(request, document_id)
    links = tracing.link_to(doc["traceparent"])
    with tracing.span("retry", links=links, attributes={"docmesh.cause": "retry"}):
        async with UnitOfWork(request.app[POOL], request.app[STREAMS]) as uow:
            retry = documents.Retry(document_id, tracing.traceparent())
            await documents.retry(uow, retry)
    return _json_text(await status_json(request, document_id), 202)
