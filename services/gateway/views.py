"""Read routes: a document's status and its chunks."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from aiohttp import web

from services.gateway.http import fetch_document, int_param, json_response, path_document_id
from services.gateway.state import POOL

routes = web.RouteTableDef()


_STATUS_SQL = """
SELECT id, upload_id, job_id, filename, title, tags, file_size, status, progress, current_step,
       error_code, error_message, duplicate_of, similar_to, page_count, ocr_pages, chunk_count,
       embedded_count,
       object_deleted, created_at, queued_at, started_at, finished_at, updated_at
FROM documents WHERE id = $1
"""


@routes.get("/api/v1/documents/{document_id}/status")
async def status(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    row = await request.app[POOL].fetchrow(_STATUS_SQL, document_id)
    if row is None:
        await fetch_document(request.app[POOL], document_id)  # answers the 404
    return json_response(status_body(row))


def status_body(row: asyncpg.Record) -> dict[str, Any]:
    """The status view of one document row."""
    body: dict[str, Any] = {
        "document_id": str(row["id"]),
        "upload_id": str(row["upload_id"]),
        "job_id": str(row["job_id"]) if row["job_id"] else None,
        "duplicate_of": str(row["duplicate_of"]) if row["duplicate_of"] else None,
        "similar_to": json.loads(row["similar_to"]),
        "error": (
            {"code": row["error_code"], "message": row["error_message"]}
            if row["status"] == "failed"
            else None
        ),
    }
    for name in (
        "filename",
        "title",
        "tags",
        "file_size",
        "status",
        "progress",
        "current_step",
        "page_count",
        "ocr_pages",
        "chunk_count",
        "embedded_count",
        "object_deleted",
    ):
        body[name] = row[name]
    for name in ("created_at", "queued_at", "started_at", "finished_at", "updated_at"):
        body[name] = row[name].isoformat().replace("+00:00", "Z") if row[name] else None
    return body


@routes.get("/api/v1/documents/{document_id}/chunks")
async def chunks(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    pool = request.app[POOL]
    await fetch_document(pool, document_id)
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
