"""Replacement: ``POST /documents/{id}/replacements`` presigns a new file for an
existing document. It keeps its id, title, tags and metadata; its current chunks
answer searches until the replacement completes (``shared.replacement``).
``/versions``, its former path, still answers."""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth import CALLER, tenant
from services.gateway.http import fetch_document, path_document_id
from services.gateway.openapi import operation
from services.gateway.presign import presigned_response
from services.gateway.request_bodies import ReplacementRequest, decode_body, upload_of
from services.gateway.response_bodies import PresignResponse
from services.gateway.state import POOL, SETTINGS, STORE, THROTTLE
from shared.service_layer.presign import Replace, replace
from shared.service_layer.unit_of_work import UnitOfWork

routes = web.RouteTableDef()


@routes.post("/api/v1/documents/{document_id}/replacements")
@routes.post("/api/v1/documents/{document_id}/versions")
@operation(
    "Presign a new file for a completed document: upload it and /process it as the "
    "answer's document_id (the replacement); when it completes it replaces the document's "
    "content, which answers searches until then.",
    returns=PresignResponse,
    status=201,
    body=ReplacementRequest,
    errors=(409, 413, 415, 422),
)
async def new_replacement(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    body = decode_body(await request.read(), ReplacementRequest)
    settings, store = request.app[SETTINGS], request.app[STORE]
    await fetch_document(request, document_id)  # the caller's, or a 404
    upload = upload_of(body, settings.max_file_size)
    await request.app[THROTTLE].check_rate("presign", request[CALLER])
    cmd = Replace(document_id, tenant(request), upload)
    async with UnitOfWork(request.app[POOL]) as uow:
        made = await replace(uow, store, request.app[THROTTLE], settings, cmd)
    return await presigned_response(store, settings.presign_expires_s, made, upload.file_size)
