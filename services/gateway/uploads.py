"""Upload routes: presign an upload, then ask for it to be processed."""

from __future__ import annotations

import json

from aiohttp import web

from services.gateway import eta
from services.gateway.auth import CALLER, tenant
from services.gateway.http import (
    check_upload_id,
    fetch_document,
    json_response,
    path_document_id,
)
from services.gateway.openapi import operation
from services.gateway.presign import presigned_response
from services.gateway.request_bodies import PresignRequest, ProcessRequest, decode_body, upload_of
from services.gateway.response_bodies import PresignResponse, ProcessResponse
from services.gateway.state import POOL, SETTINGS, STORE, STREAMS, THROTTLE
from shared import tracing
from shared.fields import check_metadata
from shared.service_layer import uploads
from shared.service_layer.presign import Presign
from shared.service_layer.presign import presign as presign_upload
from shared.service_layer.unit_of_work import UnitOfWork
from shared.service_layer.uploads import Process

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
    settings, store = request.app[SETTINGS], request.app[STORE]
    upload = upload_of(body, settings.max_file_size)
    await request.app[THROTTLE].check_rate("presign", request[CALLER])
    metadata = json.dumps(check_metadata(body.metadata))
    cmd = Presign(
        tenant(request), upload, body.title, body.description, body.tags, metadata,
        body.collections,
    )  # fmt: skip
    async with UnitOfWork(request.app[POOL]) as uow:
        made = await presign_upload(uow, store, request.app[THROTTLE], settings, cmd)
    return await presigned_response(store, settings.presign_expires_s, made, upload.file_size)


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
    if doc["job_id"] is None:  # asking again for a job is not throttled
        await request.app[THROTTLE].check_rate("process", request[CALLER])
        await request.app[THROTTLE].check_backlog()
    # This request's span is the root of the document's trace.
    cmd = Process(document_id, tenant(request), body.file_hash, tracing.traceparent())
    async with UnitOfWork(request.app[POOL], request.app[STREAMS]) as uow:
        job_id = await uploads.process(uow, request.app[STORE], request.app[THROTTLE], cmd)
    tracing.annotate({"docmesh.document_id": document_id, "docmesh.job_id": job_id})
    seconds = await eta.eta_seconds(request.app[POOL], document_id)
    return json_response(_accepted(document_id, job_id, seconds), status=202)


def _accepted(document_id: str, job_id: str, seconds: int) -> ProcessResponse:
    minutes = seconds // 60
    humanised = (
        "under a minute" if seconds < 60 else f"about {minutes} minute{'s' if minutes > 1 else ''}"
    )
    return ProcessResponse(
        document_id=document_id,
        job_id=job_id,
        status="uploaded",
        estimated_time=humanised,
        estimated_seconds=seconds,
    )
