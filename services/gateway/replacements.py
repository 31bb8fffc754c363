"""Replacement: ``POST /documents/{id}/replacements`` presigns a new file for an
existing document. It keeps its id, title, tags and metadata; its current chunks
answer searches until the replacement completes (``shared.replacement``).
``/versions``, its former path, still answers."""

from __future__ import annotations

from aiohttp import web

from services.gateway import queries
from services.gateway.errors import ApiError
from services.gateway.http import fetch_document, path_document_id
from services.gateway.openapi import operation
from services.gateway.presign import presigned_upload, replacement_open
from services.gateway.request_bodies import PresignRequest, ReplacementRequest, decode_body
from services.gateway.response_bodies import PresignResponse
from services.gateway.state import POOL
from shared.stages import Status

routes = web.RouteTableDef()


@routes.post("/api/v1/documents/{document_id}/replacements")
@routes.post("/api/v1/documents/{document_id}/versions")
@operation(
    "Presign a new file for a completed document: upload it and /process it as the "
    "answer's document_id (the version); when it completes it replaces the document's "
    "content, which answers searches until then.",
    returns=PresignResponse,
    status=201,
    body=ReplacementRequest,
    errors=(409, 413, 415, 422),
)
async def new_replacement(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    body = decode_body(await request.read(), ReplacementRequest)
    doc = await fetch_document(request, document_id)
    if doc["replaces"] is not None:
        raise ApiError(
            409, "is_a_replacement", "This is a replacement of another document; replace that one."
        )
    if doc["status"] != Status.COMPLETED or doc["duplicate_of"] is not None:
        raise ApiError(
            409,
            "not_replaceable",
            f"Only a completed document that holds its own chunks can be replaced; "
            f"this one is {doc['status']}.",
        )
    if await queries.open_replacement(request.app[POOL], document_id):
        raise replacement_open()
    upload = PresignRequest(body.filename, body.file_size, body.content_type)
    upload.multipart = body.multipart
    fields = {key: doc[key] for key in ("title", "description", "tags", "metadata")}
    return await presigned_upload(request, upload, {**fields, "replaces": document_id})
