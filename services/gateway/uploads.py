"""Upload routes: presign an upload, then ask for it to be processed."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
import structlog
from aiohttp import web

from services.gateway import queries
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import (
    check_upload_id,
    fetch_document,
    json_response,
    path_document_id,
    status_json,
)
from services.gateway.openapi import operation
from services.gateway.presign import presigned_upload
from services.gateway.request_bodies import (
    CONTENT_TYPES,
    PresignRequest,
    ProcessRequest,
    decode_body,
)
from services.gateway.response_bodies import PresignResponse, ProcessResponse
from services.gateway.state import POOL, STORE, STREAMS, THROTTLE
from shared import status, tracing
from shared.db import Pool
from shared.events import DocumentUploaded
from shared.fields import check_metadata
from shared.formats import Format, describe, sniff_prefix
from shared.stages import Status

log = structlog.get_logger()
routes = web.RouteTableDef()


@routes.post("/api/v1/documents/upload/presigned")
@operation(
    "Register an upload and get a presigned PUT URL for the file (or one per part).",
    returns=PresignResponse,
    status=201,
    body=PresignRequest,
    gives_document=True,
    errors=(413, 415, 422),
)
async def presign(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), PresignRequest)
    fields: dict[str, object] = {"title": body.title, "description": body.description}
    fields["tags"] = body.tags
    fields["metadata"] = json.dumps(check_metadata(body.metadata))
    return await presigned_upload(request, body, fields)


@routes.post("/api/v1/documents/{document_id}/process")
@operation(
    "Start processing an uploaded file (the upload is verified first).",
    returns=ProcessResponse,
    status=202,
    body=ProcessRequest,
    errors=(409, 410, 422, 503),
)
async def process(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    body = decode_body(await request.read(), ProcessRequest)
    doc = await fetch_document(request, document_id)
    check_upload_id(body.upload_id, doc)
    if doc["status"] in {Status.EXPIRED, Status.CANCELLED}:
        raise ApiError(
            409,
            f"document_{doc['status']}",
            f"The document was {doc['status']}; presign and upload again.",
        )
    if doc["job_id"] is None:
        await request.app[THROTTLE].check_rate("process", request[CALLER])
        await request.app[THROTTLE].check_tenant_backlog(request.app[POOL], tenant(request))
        await request.app[THROTTLE].check_backlog()
        fmt = await _verify_upload(request, doc)
        job_id = await _record_job(request, doc, body.file_hash, fmt)
    else:
        job_id = str(doc["job_id"])  # asking twice returns the same job
    seconds = await _eta(request, document_id)
    return json_response(
        ProcessResponse(
            document_id=document_id,
            job_id=job_id,
            status="uploaded",
            estimated_time=_humanise(seconds),
            estimated_seconds=seconds,
        ),
        status=202,
    )


async def _verify_upload(request: web.Request, doc: asyncpg.Record) -> Format:
    """The object exists and has the declared size; the format its bytes are.

    A supported format declared as another (a DOCX saved as ``.doc``, common in
    mail) is processed as what it is; only bytes of no supported format are refused.
    """
    store, key = request.app[STORE], doc["object_key"]
    size = await store.size(key)
    if size is None:
        if doc["upload_expires_at"] < dt.datetime.now(dt.UTC):
            raise ApiError(
                410,
                "upload_expired",
                "The upload URL expired before a file arrived; presign again.",
            )
        first = "complete the multipart upload" if doc["multipart_id"] else "PUT it to upload_url"
        raise ApiError(409, "not_uploaded", f"No file was uploaded yet: {first} first.")
    if size != doc["file_size"]:
        await store.delete(key)
        raise ApiError(
            422,
            "size_mismatch",
            f"The uploaded file has {size} bytes, not the {doc['file_size']} declared. "
            "It was deleted; presign and upload again.",
        )
    head = await store.head_bytes(key, 1024)
    found = sniff_prefix(head)
    if found is None:
        await store.delete(key)
        raise ApiError(
            422,
            "unsupported_format",
            f"The uploaded bytes are {describe(head)}, not a PDF, DOC or DOCX file. "
            "It was deleted; presign and upload again.",
        )
    if found is not CONTENT_TYPES[doc["content_type"]]:
        log.info("format_differs", declared=doc["content_type"], found=found.value)
    return found


async def _record_job(
    request: web.Request, doc: asyncpg.Record, file_hash: str | None, fmt: Format
) -> str:
    """Record the job, then publish the first event; a lost race returns the winner's job."""
    pool, job_id, document_id = request.app[POOL], str(uuid.uuid4()), str(doc["id"])
    file_hash = file_hash.lower() if file_hash else None
    tracing.annotate({"docmesh.document_id": document_id, "docmesh.job_id": job_id})
    parent = tracing.traceparent()  # this request's span: the root of the document's trace
    async with pool.acquire() as conn, conn.transaction():
        # Under the tenant's lock: concurrent requests cannot pass the backlog together.
        await queries.lock_tenant_admission(conn, tenant(request))
        await request.app[THROTTLE].check_tenant_backlog(conn, tenant(request))
        won = await status.record_job(conn, document_id, job_id, file_hash, fmt.value, parent)
    if won is None:
        return await _job_recorded_meanwhile(pool, document_id)
    event = DocumentUploaded(
        event_id=str(uuid.uuid5(uuid.UUID(job_id), "uploaded")),
        document_id=document_id,
        job_id=job_id,
        traceparent=parent,
        object_key=doc["object_key"],
        content_type=doc["content_type"],
        file_size=doc["file_size"],
        file_hash=file_hash,
    )
    try:
        await request.app[STREAMS].publish(event)
    except Exception as exc:
        await status.unrecord_job(pool, document_id, job_id)
        raise ApiError(
            503, "queue_unavailable", "The processing queue is unavailable; try again shortly."
        ) from exc
    return job_id


async def _job_recorded_meanwhile(pool: Pool, document_id: str) -> str:
    """The job another request recorded first; a 409 when the upload was cancelled or
    expired meanwhile instead (it is not brought back to life)."""
    row = await pool.fetchrow("SELECT job_id, status FROM documents WHERE id = $1", document_id)
    if row is None or row["job_id"] is None:
        ended = row["status"] if row is not None else "deleted"
        raise ApiError(
            409, f"document_{ended}", f"The document was {ended}; presign and upload again."
        )
    return str(row["job_id"])


async def _eta(request: web.Request, document_id: str) -> int:
    """The status view's time left (measured rates and the work ahead); 0 once the
    document has finished (a repeated request)."""
    eta = json.loads(await status_json(request, document_id))["eta_seconds"]
    return int(eta) if eta is not None else 0


def _humanise(seconds: int) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    return f"about {minutes} minute{'s' if minutes > 1 else ''}"
