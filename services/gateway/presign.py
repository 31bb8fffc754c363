"""Presigning an upload: the checks (format, size, rate, the tenant's quota), the
presigned PUT or the plan of parts, and the document's row, recorded under the
tenant's lock. The upload and replacement routes both answer with it."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
from aiohttp import web

from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import json_response
from services.gateway.parts import Planned, plan
from services.gateway.request_bodies import PresignRequest, check_presign
from services.gateway.response_bodies import PresignResponse
from services.gateway.state import POOL, SETTINGS, STORE, THROTTLE
from shared import status
from shared.service_layer.uploads import lock_tenant_admission


async def presigned_upload(
    request: web.Request, body: PresignRequest, fields: dict[str, object]
) -> web.Response:
    """Register an upload of ``body``'s file as a new document row with ``fields``
    (title, tags, metadata, ...) and answer its presigned PUT (or parts)."""
    settings, store = request.app[SETTINGS], request.app[STORE]
    fmt = check_presign(body, settings.max_file_size)
    await request.app[THROTTLE].check_rate("presign", request[CALLER])
    await request.app[THROTTLE].check_tenant_bytes(
        request.app[POOL], tenant(request), body.file_size
    )
    document_id, upload_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = store.temp_key(upload_id, fmt.value)
    content_type = body.content_type.split(";")[0].strip().lower()
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.presign_expires_s)
    in_parts = body.multipart
    if in_parts is None:
        in_parts = body.file_size >= settings.multipart_threshold_bytes
    url, parts, multipart_id = None, None, None
    if in_parts:
        multipart_id = await store.start_multipart(key, content_type)
        planned = Planned(key, multipart_id, body.file_size, settings.multipart_part_bytes)
        parts = await plan(store, planned, settings.presign_expires_s)
    else:
        url = await store.presign_put(key, content_type, settings.presign_expires_s, body.file_size)
    row = {
        "id": document_id,
        "upload_id": upload_id,
        "filename": body.filename,
        "content_type": content_type,
        "file_size": body.file_size,
        **fields,
        "object_key": key,
        "upload_expires_at": expires_at,
        "tenant": tenant(request),
        "multipart_id": multipart_id,
        "part_size": parts.part_size if parts else None,
    }
    try:
        await _admit_upload(request, row)
    except ApiError:
        await store.drop_upload(key, multipart_id)  # the quota was taken meanwhile
        raise
    return json_response(
        PresignResponse(
            document_id=document_id,
            upload_id=upload_id,
            upload_url=url,
            method="PUT",
            headers={} if parts else {"Content-Type": content_type},
            expires_in=settings.presign_expires_s,
            expires_at=expires_at.isoformat().replace("+00:00", "Z"),
            multipart=parts,
        ),
        status=201,
    )


async def _admit_upload(request: web.Request, row: dict[str, object]) -> None:
    """Record the upload if the tenant's quota still has room for it: checked and
    recorded under the tenant's lock, so concurrent presigns cannot overrun it (the
    check before S3 was asked for anything only spares refused requests that work)."""
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await lock_tenant_admission(conn, str(row["tenant"]))
        await request.app[THROTTLE].check_tenant_bytes(
            conn, str(row["tenant"]), int(str(row["file_size"]))
        )
        try:
            await status.register_upload(conn, **row)
        except asyncpg.UniqueViolationError as exc:  # two replacements presigned at once
            raise replacement_open() from exc


def replacement_open() -> ApiError:
    """The answer to a second replacement of a document while one is open."""
    return ApiError(
        409,
        "replacement_in_progress",
        "A new file for this document is already being uploaded or processed; wait for "
        "it to end (or cancel it), then replace the document again.",
    )
