"""Read routes: a document's status and its chunks."""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth import tenant
from services.gateway.bodies import ChunkPage, DocumentStatus
from services.gateway.http import fetch_document, int_param, json_response, path_document_id
from services.gateway.openapi import PAGING, operation
from services.gateway.state import POOL, STATUS_READER

routes = web.RouteTableDef()


async def status_json(request: web.Request, document_id: str) -> str:
    """The status view of a document as JSON text; a 404 when there is none."""
    body = await request.app[STATUS_READER].read(document_id, tenant(request))
    if body is None:
        await fetch_document(request, document_id)  # answers the 404
    return str(body)


@routes.get("/api/v1/documents/{document_id}")
@routes.get("/api/v1/documents/{document_id}/status")
@operation("The document and where its processing stands.", returns=DocumentStatus)
async def status(request: web.Request) -> web.Response:
    body = await status_json(request, path_document_id(request))
    return web.Response(text=body, content_type="application/json")


@routes.get("/api/v1/documents/{document_id}/chunks")
@operation("The document's chunks in order.", returns=ChunkPage, query=PAGING)
async def chunks(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    pool = request.app[POOL]
    await fetch_document(request, document_id)
    rows = await pool.fetch(
        """
        SELECT id, ordinal, text, context, page_start, page_end, token_count,
               vector_dims(embedding) AS dimensions, count(*) OVER () AS total
        FROM chunks WHERE document_id = $1 ORDER BY ordinal LIMIT $2 OFFSET $3
        """,
        document_id,
        limit,
        offset,
    )
    total = (
        rows[0]["total"]
        if rows
        else await pool.fetchval("SELECT count(*) FROM chunks WHERE document_id = $1", document_id)
    )
    items = [
        {
            "chunk_id": str(r["id"]),
            **{
                k: r[k]
                for k in (
                    "ordinal",
                    "text",
                    "context",
                    "page_start",
                    "page_end",
                    "token_count",
                    "dimensions",
                )
            },
        }
        for r in rows
    ]
    return json_response(
        {
            "document_id": document_id,
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": items,
        }
    )
