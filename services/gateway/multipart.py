"""Multipart uploads: a large file goes to S3 in parts that a client sends in
parallel, retries one by one, and resumes after a reload from the parts list.

Presign opens the multipart upload and answers a URL per part; the parts list
tells what the store already holds and gives fresh URLs for the rest; complete
joins the parts; ``/process`` then verifies the object as for a single PUT.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.gateway import queries
from services.gateway.errors import ApiError
from services.gateway.http import (
    check_upload_id,
    fetch_document,
    json_response,
    path_document_id,
    status_json,
)
from services.gateway.openapi import operation
from services.gateway.parts import Planned, part_urls
from services.gateway.request_bodies import CompleteUploadRequest, decode_body
from services.gateway.response_bodies import (
    DocumentStatus,
    StoredPart,
    UploadParts,
)
from services.gateway.state import POOL, SETTINGS, STORE, STREAMS
from shared.db import Pool
from shared.service_layer import documents
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.stages import Status
from shared.storage import ObjectStore, part_length, plan_parts

routes = web.RouteTableDef()


def _planned(doc: asyncpg.Record, multipart_id: str) -> Planned:
    return Planned(doc["object_key"], multipart_id, doc["file_size"], doc["part_size"])


def _open_multipart(doc: asyncpg.Record) -> str:
    """The document's multipart upload id; a 409 when it has none open."""
    if doc["multipart_id"] is None:
        raise ApiError(409, "not_multipart", "This upload is a single PUT, not a multipart one.")
    if doc["status"] != Status.AWAITING_UPLOAD or doc["job_id"] is not None:
        raise ApiError(
            409, "upload_finished", f"The upload is over: the document is {doc['status']}."
        )
    return str(doc["multipart_id"])


@routes.get("/api/v1/documents/{document_id}/upload/parts")
@operation(
    "The parts of a multipart upload the store holds, and fresh URLs for the others.",
    returns=UploadParts,
    errors=(409, 410),
)
async def list_parts(request: web.Request) -> web.Response:
    store, settings = request.app[STORE], request.app[SETTINGS]
    doc = await fetch_document(request, path_document_id(request))
    multipart_id = _open_multipart(doc)
    size, count = plan_parts(doc["file_size"], doc["part_size"])
    stored = await store.parts(doc["object_key"], multipart_id)
    held = {p.number for p in stored}
    missing = [n for n in range(1, count + 1) if n not in held]
    expires = await _extend(request.app[POOL], settings, str(doc["id"]))
    urls = await part_urls(store, _planned(doc, multipart_id), missing, expires)
    parts = [StoredPart(p.number, p.etag, p.size) for p in stored]
    return json_response(UploadParts(parts, urls, size, count))


async def _extend(pool: Pool, settings: Settings, document_id: str) -> int:
    """Seconds the new part URLs last: the deadline moves on while the client works,
    up to the upload's whole lifetime (a 410 past it)."""
    left = await queries.extend_upload(
        pool, document_id, settings.presign_expires_s, settings.upload_lifetime_s
    )
    if left <= 0:
        raise ApiError(
            410,
            "upload_expired",
            "The upload has been open for its whole lifetime; presign and upload again.",
        )
    return min(settings.presign_expires_s, max(int(left), 1))


@routes.post("/api/v1/documents/{document_id}/upload/complete")
@operation(
    "Join the parts of a multipart upload into the file (then ask for processing).",
    returns=DocumentStatus,
    body=CompleteUploadRequest,
    errors=(409, 422),
)
async def complete(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    body = decode_body(await request.read(), CompleteUploadRequest)
    doc = await fetch_document(request, document_id)
    check_upload_id(body.upload_id, doc)
    multipart_id = _open_multipart(doc)
    _, count = plan_parts(doc["file_size"], doc["part_size"])
    etags = _every_part(body, count)
    store = request.app[STORE]
    if await store.size(doc["object_key"]) != doc["file_size"]:  # else completed before
        await _check_parts(store, _planned(doc, multipart_id), etags)
        await store.complete_multipart(doc["object_key"], multipart_id, etags)
    return web.Response(
        text=await status_json(request, document_id), content_type="application/json"
    )


def _every_part(body: CompleteUploadRequest, count: int) -> list[tuple[int, str]]:
    """The (number, ETag) of each part, in order; a 422 unless each of ``count`` is
    named once."""
    numbers = sorted(p.part_number for p in body.parts)
    if numbers != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(numbers))
        raise ApiError(
            422,
            "parts_missing",
            f"Complete needs each of the {count} parts once; missing: {missing[:20]}. "
            "GET upload/parts lists what the store holds.",
            "parts",
        )
    return sorted((p.part_number, p.etag) for p in body.parts)


async def _check_parts(store: ObjectStore, doc: Planned, etags: list[tuple[int, str]]) -> None:
    """Each part the store holds has the planned size and the ETag named: checked here,
    because the declared size is what the quota counted (a store that does not check
    signed lengths would let a 1-byte upload hold gigabytes), and because some stores
    drop the whole upload on a complete that names a wrong part."""
    stored = await store.parts(doc.key, doc.multipart_id)
    size, _ = plan_parts(doc.file_size, doc.part_bytes)
    oversized = [p.number for p in stored if p.size != part_length(doc.file_size, size, p.number)]
    if oversized:
        await store.drop_upload(doc.key, doc.multipart_id)
        raise ApiError(
            422,
            "parts_wrong_size",
            f"Parts {oversized[:20]} do not have the planned sizes (part_size bytes, the rest "
            f"for the last; {doc.file_size} in all). The upload was deleted; presign again.",
            "parts",
        )
    held = {p.number: p.etag.strip('"') for p in stored}
    wrong = [n for n, etag in etags if held.get(n) != etag.strip('"')]
    if wrong:
        raise ApiError(
            422,
            "parts_rejected",
            f"The store holds other bytes, or none, for parts {wrong[:20]}: PUT them again "
            "(GET upload/parts lists what it holds) and complete with the ETags the PUTs answered.",
            "parts",
        )


@routes.delete("/api/v1/documents/{document_id}/upload")
@operation(
    "Abort a multipart upload: its parts are deleted and the document cancelled.",
    returns=DocumentStatus,
    errors=(409,),
)
async def abort(request: web.Request) -> web.Response:
    document_id = path_document_id(request)
    doc = await fetch_document(request, document_id)
    multipart_id = _open_multipart(doc)
    await request.app[STORE].drop_upload(doc["object_key"], multipart_id)
    async with UnitOfWork(request.app[POOL], request.app[STREAMS]) as uow:
        await documents.cancel(uow, request.app[STORE], documents.Cancel(document_id))
    return web.Response(
        text=await status_json(request, document_id), content_type="application/json"
    )
