"""Document routes: presign, process, status and chunks."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from services.gateway.schemas import (
    CONTENT_TYPES,
    ApiError,
    PresignRequest,
    PresignResponse,
    ProcessRequest,
    ProcessResponse,
    check_presign,
    decode_body,
)
from services.gateway.state import POOL, SETTINGS, STORE, STREAMS
from shared.events import DocumentUploaded
from shared.formats import sniff_prefix

routes = web.RouteTableDef()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json"
    )


def _document_id(request: web.Request) -> str:
    raw = request.match_info["document_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(
            404, "not_found", f"No document has the id {raw!r}.", "document_id"
        ) from None


@routes.post("/api/v1/documents/upload/presigned")
async def presign(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    body = decode_body(await request.read(), PresignRequest)
    fmt = check_presign(body, settings.max_file_size)
    document_id, upload_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = store.temp_key(upload_id, fmt.value)
    content_type = body.content_type.split(";")[0].strip().lower()
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.presign_expires_s)
    url = await store.presign_put(key, content_type, settings.presign_expires_s)
    await request.app[POOL].execute(
        """
        INSERT INTO documents (id, upload_id, filename, content_type, file_size, title,
                               description, tags, object_key, upload_expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        document_id,
        upload_id,
        body.filename,
        content_type,
        body.file_size,
        body.title,
        body.description,
        body.tags,
        key,
        expires_at,
    )
    return _json(
        PresignResponse(
            document_id=document_id,
            upload_id=upload_id,
            upload_url=url,
            method="PUT",
            headers={"Content-Type": content_type},
            expires_in=settings.presign_expires_s,
            expires_at=expires_at.isoformat().replace("+00:00", "Z"),
        ),
        status=201,
    )


@routes.post("/api/v1/documents/{document_id}/process")
async def process(request: web.Request) -> web.Response:
    document_id = _document_id(request)
    body = decode_body(await request.read(), ProcessRequest)
    pool = request.app[POOL]
    doc = await pool.fetchrow("SELECT * FROM documents WHERE id = $1", document_id)
    if doc is None:
        raise ApiError(404, "not_found", f"No document has the id {document_id}.", "document_id")
    if body.upload_id != str(doc["upload_id"]):
        raise ApiError(
            422, "upload_mismatch", "upload_id does not belong to this document.", "upload_id"
        )
    if doc["job_id"] is None:
        await _verify_upload(request, doc)
        job_id = await _record_job(request, doc, body.file_hash)
    else:
        job_id = str(doc["job_id"])  # asking twice returns the same job
    seconds = estimate_seconds(int(doc["file_size"]))
    return _json(
        ProcessResponse(
            document_id=document_id,
            job_id=job_id,
            status="uploaded",
            estimated_time=_humanise(seconds),
            estimated_seconds=seconds,
        ),
        status=202,
    )


async def _verify_upload(request: web.Request, doc: asyncpg.Record) -> None:
    """The object exists, has the declared size and starts like the declared format."""
    store, key = request.app[STORE], doc["object_key"]
    size = await store.size(key)
    if size is None:
        if doc["upload_expires_at"] < dt.datetime.now(dt.UTC):
            raise ApiError(
                410,
                "upload_expired",
                "The upload URL expired before a file arrived; presign again.",
            )
        raise ApiError(409, "not_uploaded", "No file was uploaded yet: PUT it to upload_url first.")
    if size != doc["file_size"]:
        await store.delete(key)
        raise ApiError(
            422,
            "size_mismatch",
            f"The uploaded file has {size} bytes, not the {doc['file_size']} declared. "
            "It was deleted; presign and upload again.",
        )
    found = sniff_prefix(await store.head_bytes(key, 1024))
    declared = CONTENT_TYPES[doc["content_type"]]
    if found is not declared:
        await store.delete(key)
        what = f"a {found.value.upper()} file" if found else "not a PDF, DOC or DOCX file"
        raise ApiError(
            422,
            "format_mismatch",
            f"The uploaded bytes are {what}, but {doc['content_type']} was declared. "
            "It was deleted; presign and upload again.",
        )


async def _record_job(request: web.Request, doc: asyncpg.Record, file_hash: str | None) -> str:
    """Record the job, then publish the first event; a lost race returns the winner's job."""
    pool, job_id = request.app[POOL], str(uuid.uuid4())
    won = await pool.fetchval(
        """
        UPDATE documents SET job_id = $2, file_hash = $3, status = 'uploaded', progress = 0,
               current_step = 'Waiting for a worker', queued_at = now(), updated_at = now()
        WHERE id = $1 AND job_id IS NULL RETURNING job_id
        """,
        doc["id"],
        job_id,
        file_hash.lower() if file_hash else None,
    )
    if won is None:
        return str(await pool.fetchval("SELECT job_id FROM documents WHERE id = $1", doc["id"]))
    event = DocumentUploaded(
        event_id=str(uuid.uuid5(uuid.UUID(job_id), "uploaded")),
        document_id=str(doc["id"]),
        job_id=job_id,
        object_key=doc["object_key"],
        content_type=doc["content_type"],
        file_size=doc["file_size"],
        file_hash=file_hash,
    )
    try:
        await request.app[STREAMS].publish(event)
    except Exception as exc:
        # Undo so that the client's retry records and publishes again.
        await pool.execute(
            "UPDATE documents SET job_id = NULL, status = 'awaiting_upload' WHERE id = $1",
            doc["id"],
        )
        raise ApiError(
            503, "queue_unavailable", "The processing queue is unavailable; try again shortly."
        ) from exc
    return job_id


def estimate_seconds(file_size: int) -> int:
    """A rough first estimate: embedding dominates, about 50 kB of file per second here."""
    return 10 + file_size // 50_000


def _humanise(seconds: int) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    return f"about {minutes} minute{'s' if minutes > 1 else ''}"


_STATUS_SQL = """
SELECT id, upload_id, job_id, filename, title, tags, file_size, status, progress, current_step,
       error_code, error_message, duplicate_of, similar_to, page_count, ocr_pages, chunk_count,
       embedded_count,
       object_deleted, created_at, queued_at, started_at, finished_at, updated_at
FROM documents WHERE id = $1
"""


@routes.get("/api/v1/documents/{document_id}/status")
async def status(request: web.Request) -> web.Response:
    document_id = _document_id(request)
    row = await request.app[POOL].fetchrow(_STATUS_SQL, document_id)
    if row is None:
        raise ApiError(404, "not_found", f"No document has the id {document_id}.", "document_id")
    return _json(status_body(row))


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
    document_id = _document_id(request)
    limit = _int_param(request, "limit", 50, 1, 500)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    pool = request.app[POOL]
    if await pool.fetchval("SELECT 1 FROM documents WHERE id = $1", document_id) is None:
        raise ApiError(404, "not_found", f"No document has the id {document_id}.", "document_id")
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
    return _json(
        {
            "document_id": document_id,
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": items,
        }
    )


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer.", name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}.", name)
    return value
